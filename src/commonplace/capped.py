"""The one size cap on reviewer output, and reading input files within it.

A runner stops a reviewer whose text grows past `MAX_OUTPUT` characters; an
output file handed to ingest gets the same cap in bytes. Input files are
attacker-controlled names: a FIFO would block forever, `/dev/zero` never
ends, a huge file would be held whole in memory. So only regular files are
read, and never more than the cap.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from commonplace.errors import UserError

MAX_OUTPUT = 32 * 1024 * 1024  # characters from a runner, bytes from a file


def read_regular_file(path: os.PathLike[str] | str, *, name: str, cap: int = MAX_OUTPUT) -> bytes:
    """The bytes of a regular file of at most `cap` bytes; anything else is a
    `UserError` naming `name`. Opening never blocks: O_NONBLOCK makes opening
    a FIFO without a writer return at once, and the type is checked on the
    opened descriptor, so a file swapped in between cannot slip through."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"cannot read {name}: {_kind(info.st_mode)}, not a regular file")
        if info.st_size > cap:
            raise UserError(_too_large(name, cap))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _read_capped(handle, name, cap)
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_capped_stream(stream: BinaryIO, *, name: str, cap: int = MAX_OUTPUT) -> bytes:
    """Everything a stream (stdin) gives, refused once it passes `cap` bytes."""
    try:
        return _read_capped(stream, name, cap)
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None


def _read_capped(stream: BinaryIO, name: str, cap: int) -> bytes:
    # one byte more than allowed tells a file at the cap from one that grew past it
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise UserError(_too_large(name, cap))
    return data


def _too_large(name: str, cap: int) -> str:
    return f"{name} is larger than {cap // (1024 * 1024)} MiB; no reviewer output is that long"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a special file"
