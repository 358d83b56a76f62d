"""Canonical keys: POSIX paths relative to the KB root, with no `.`, `..`,
empty or absolute parts. Every path that enters the system goes through here."""

from __future__ import annotations

import os
from pathlib import Path

from commonplace.errors import UserError


def is_canonical(key: str) -> bool:
    """True when `key` is already a canonical KB-relative POSIX path."""
    if not key or key.startswith("/") or "\\" in key or "\0" in key:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def key_for_path(kb_root: Path, raw: str, *, cwd: Path, to_be_created: bool = False) -> str:
    """The canonical key of a path given on the command line.

    A relative path is taken from the working directory when it exists there,
    else from the KB root (so `kb/notes/x.md` works from anywhere in the KB).
    A path `to_be_created` is taken from the KB root only when its first part
    exists there and not in the working directory.
    Symbolic links are followed, and whatever they reach must be inside the KB.
    """
    if not raw or "\0" in raw:
        raise UserError(f"not a path: {raw!r}")
    candidate = Path(raw)
    if not candidate.is_absolute():
        from_cwd = cwd / candidate
        if to_be_created:  # the path does not exist yet: where does its first part?
            first = candidate.parts[0] if candidate.parts else ""
            from_root = not os.path.lexists(cwd / first) and os.path.lexists(kb_root / first)
        else:
            from_root = not os.path.lexists(from_cwd)
        candidate = kb_root / candidate if from_root else from_cwd
    root = kb_root.resolve()
    resolved = candidate.resolve()
    try:
        key = resolved.relative_to(root).as_posix()
    except ValueError:
        raise UserError(f"{raw} is outside the knowledge base ({root})") from None
    if key != "." and not is_canonical(key):
        raise UserError(f"{raw}: paths with backslashes are not supported")
    return key


def canonical_ref(raw: str) -> str | None:
    """Tidy a gate or lens reference (`./prose/`, `prose//x`) into canonical form,
    or None when it cannot name anything inside the gates directory."""
    text = raw.strip().replace("\\", "/")
    if text.startswith("/") or "\0" in text:
        return None
    parts = [p for p in (part.strip() for part in text.split("/")) if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)
