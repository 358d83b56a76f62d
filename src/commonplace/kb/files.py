"""A file of the KB read once: its bytes, its text and its git blob id."""

from __future__ import annotations

import os
from dataclasses import FrozenInstanceError
from functools import cached_property
from pathlib import Path

from commonplace import frontmatter
from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.kb.facts import NoteFacts, facts_from
from commonplace.kb.paths import shown

_CHUNK = 1 << 16
ROUTING_KEYS = frozenset({"type", "traits", "status", "user-verified"})


class KbFile:
    """A file of the KB: its key and its bytes, immutable; its blob id, text
    and frontmatter are worked out once, on first use. `KbFile(key, data)`
    holds bytes already read; a note the note cache vouches for
    (`kb/note_cache.py`) knows its blob id and routing fields without them and
    reads its bytes only if asked."""

    def __init__(self, key: str, data: bytes) -> None:
        object.__setattr__(self, "key", key)
        self.__dict__["data"] = data  # what `data` would give: the bytes are here

    key: str

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KbFile):
            return NotImplemented
        return self.key == other.key and self.sha == other.sha

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    @cached_property
    def data(self) -> bytes:
        return self._read()

    def _read(self) -> bytes:
        """The bytes of a file built without them (never, for this class)."""
        raise AssertionError(f"{self.key}: a KbFile is built with its bytes")

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

    @cached_property
    def facts(self) -> NoteFacts:
        """What routing reads, from the routing fields. Raises FrontmatterError."""
        return facts_from(self.routing_fields, self.key)


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
