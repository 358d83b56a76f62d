"""A file of the KB read once: its bytes, its text and its git blob id."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from commonplace import frontmatter
from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.kb.paths import shown

_CHUNK = 1 << 16
ROUTING_KEYS = frozenset({"type", "traits", "status", "user-verified"})


@dataclass(frozen=True)
class KbFile:
    key: str
    data: bytes

    @cached_property
    def sha(self) -> str:
        return blob_sha(self.data)

    @cached_property
    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{shown(self.key)} is not UTF-8 text") from None

    @cached_property
    def frontmatter_block(self) -> str | None:
        """The YAML frontmatter block, or None when the file has none."""
        if not self.data.startswith((b"---", b"\xef\xbb\xbf---")):
            return None
        return frontmatter.split(self.text)[0]

    @cached_property
    def routing_fields(self) -> dict[str, object]:
        """The frontmatter fields routing reads, read once per file: checking
        a scanned note and routing it both need them. Raises FrontmatterError."""
        block = self.frontmatter_block
        return {} if block is None else frontmatter.read_fields(block, ROUTING_KEYS)


def read_file(kb_root: Path | str, key: str) -> KbFile:
    try:
        return KbFile(key, read_bytes(os.path.join(kb_root, key)))
    except OSError as exc:
        raise UserError(f"cannot read {shown(key)}: {exc.strerror or exc}") from None


def read_bytes(path: str) -> bytes:
    """A file's bytes; raises OSError."""
    # Plain descriptors: reading ten thousand small notes this way takes half
    # the time of buffered file objects.
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
            if len(chunk) < _CHUNK:  # a short read of a regular file is its end
                break
    finally:
        os.close(fd)
    return b"".join(chunks)
