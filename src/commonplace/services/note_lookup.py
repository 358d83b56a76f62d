"""A note path named on the command line that names nothing: the error, with
the close note paths of the KB and of the store's history as suggestions."""

from __future__ import annotations

import difflib
import os
import posixpath
import stat
from collections.abc import Iterable

from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.kb.paths import shown
from commonplace.store.note_history import paths_with_history

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.workspace import Workspace


def known_note_paths(ws: Workspace) -> set[str]:
    """The notes of the KB's scan roots and every path the store has history of."""
    from commonplace.kb.notes import find_notes

    with ws.store.read() as conn:
        known = paths_with_history(conn)
    try:
        scan = find_notes(ws.config, ws.git_state())
    except UserError:  # no notes under the scan roots: the store's paths still count
        return known
    return known | {n.key for n in scan.notes} | {u.key for u in scan.unreviewable}


def close_matches(key: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Candidates that look like `key`, by whole path or by file name."""
    pool = sorted(set(candidates))
    # A shared folder inflates the whole-path ratio: the bar is high there.
    found = difflib.get_close_matches(key, pool, n=n, cutoff=0.85)
    by_name: dict[str, list[str]] = {}
    for path in pool:
        by_name.setdefault(posixpath.basename(path), []).append(path)
    for name in difflib.get_close_matches(posixpath.basename(key), list(by_name), n=n, cutoff=0.75):
        found += [p for p in by_name[name] if p not in found]
    return found[:n]


def no_such_note(raw: str, key: str, known: Iterable[str]) -> UserError:
    """`note not found: RAW`, with "did you mean" when a close path is known."""
    matches = close_matches(key, known)
    hint = f" (did you mean {' or '.join(shown(m) for m in matches)}?)" if matches else ""
    return UserError(f"note not found: {shown(raw)}{hint}")


def current_sha(kb_root: os.PathLike[str] | str, key: str) -> str | None:
    """The git blob id of the regular file at `key` now; None when there is
    none (deleted, or replaced by a link, a folder or a device: opened without
    following links or blocking, and checked before it is read)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(os.path.join(kb_root, key), flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return blob_sha(b"".join(chunks))
    except OSError:
        return None
    finally:
        os.close(fd)
