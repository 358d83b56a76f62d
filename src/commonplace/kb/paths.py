"""Canonical keys: POSIX paths relative to the KB root, with no `.`, `..`,
empty or absolute parts. Every path that enters the system goes through here."""

from __future__ import annotations

import os
from pathlib import Path

from commonplace.errors import UserError


def is_canonical(key: str) -> bool:
    """True when `key` is already a canonical KB-relative POSIX path."""
    if not key or "\\" in key or "\0" in key:
        return False
    # an empty, `.` or `..` part (a leading or trailing `/` makes an empty one)
    wrapped = f"/{key}/"
    return "//" not in wrapped and "/./" not in wrapped and "/../" not in wrapped


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


# The pair grammar's reserved texts (review.protocol.grammar); repeated here so
# that the KB layer does not import the review layer. A test keeps them equal.
PAIR_SEPARATOR = " :: "
SENTINEL_MARK = "=== PAIR REVIEW"
# Unicode categories no name may carry: control characters (newline, tab,
# escape, NUL), line and paragraph separators, and the lone surrogates that
# stand for bytes of a file name that are not UTF-8.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def why_unreviewable_name(key: str) -> str | None:
    """Why the pair grammar cannot carry `key` (a note path or a gate id) in a
    sentinel line or a requested-pairs line, or None when it can.

    One block per pair is keyed by `<note_path> :: <gate_id>` on one line, so
    a name with the separator, a line break or other control character, or
    text that looks like a sentinel could split or forge that line."""
    import unicodedata

    if PAIR_SEPARATOR in key:
        return f"it contains the reserved {PAIR_SEPARATOR!r}"
    for char in () if key.isprintable() else key:  # printable: none of those categories
        category = unicodedata.category(char)
        if category in _UNSAFE_CATEGORIES:
            what = "bytes that are not UTF-8" if category == "Cs" else "a control character"
            return f"it contains {what} ({char!r})"
    if SENTINEL_MARK.casefold() in key.casefold():
        return f"it contains sentinel-like text ({SENTINEL_MARK!r})"
    if key != key.strip():
        return "it begins or ends with white space"
    if not is_canonical(key):
        return "it is not a plain relative path (backslash, empty or dot parts)"
    return None


def shown(name: str) -> str:
    """`name` as it may be printed: as it is when plain, else quoted with
    escapes, so that a line break or an escape sequence in a file name can
    neither forge an output line nor drive the terminal."""
    return name if name.isprintable() and name == name.strip() else repr(name)
