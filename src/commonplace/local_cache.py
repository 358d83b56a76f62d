"""What a command remembers on this machine between runs: facts derived
from the KB and the store, kept in the repository's own git folder (never
committed, one per clone or worktree) so that the next run can skip work.

A cache is never the only copy of anything and never trusted blindly: each
entry carries what it was derived from, the caller checks that, and a file
that is missing, unreadable, malformed, or written by another version of the
program reads as empty. Writes are best effort and atomic; a full disk or a
read-only git folder costs speed, never a result.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from commonplace import __version__
from commonplace.errors import UserError
from commonplace.git import GitState

FOLDER = "commonplace"
# Far above any real cache (the note scan of 10,000 notes takes about 1 MB);
# a larger file is not read into memory at all.
MAX_BYTES = 64 << 20


def cache_folder(git: GitState) -> Path | None:
    """Where this KB's caches live, or None outside a git repository."""
    if not git.is_repo or git.git_dir is None:
        return None
    return Path(git.git_dir) / FOLDER


def load(folder: Path | None, name: str, kind: str) -> object | None:
    """The payload saved under `name` by this version for `kind`, or None:
    also when it is not a regular file or larger than MAX_BYTES."""
    if folder is None:
        return None
    max_bytes = MAX_BYTES
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            found_stat = os.fstat(handle.fileno())
            if not stat.S_ISREG(found_stat.st_mode) or found_stat.st_size > max_bytes:
                return None  # a FIFO, a device or a folder; or too big to be ours
            raw = handle.read(max_bytes + 1)
        if len(raw) > max_bytes:  # grew since the check
            return None
        found = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(found, dict):
        return None
    if found.get("kind") != kind or found.get("version") != __version__:
        return None
    return found.get("payload")


def save(folder: Path | None, name: str, kind: str, payload: object) -> None:
    """Write `payload` under `name`, whole or not at all; failures are ignored."""
    if folder is None:
        return
    from commonplace.safe_files import write_file

    data = json.dumps(
        {"kind": kind, "version": __version__, "payload": payload}, separators=(",", ":")
    ).encode("utf-8")
    with contextlib.suppress(OSError, UserError):  # only speed is lost
        write_file(folder.parent, folder / name, data, setting="the git folder")
