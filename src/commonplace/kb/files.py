"""A file of the KB read once: its bytes, its text and its git blob id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from commonplace.errors import UserError
from commonplace.git import blob_sha


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
            raise UserError(f"{self.key} is not UTF-8 text") from None


def read_file(kb_root: Path, key: str) -> KbFile:
    try:
        return KbFile(key, (kb_root / key).read_bytes())
    except OSError as exc:
        raise UserError(f"cannot read {key}: {exc.strerror or exc}") from None
