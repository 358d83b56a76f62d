"""What routing needs from a note's frontmatter: its type, traits, status
and folder. They depend on the routing fields and the note's folder only, so
notes alike share them (the note cache hands out one per field set and folder)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class NoteFacts:
    """What routing needs from a note's frontmatter; type paths normalized."""

    type: str | None
    traits: frozenset[str]
    status: str | None
    # `user-verified: true` (a YAML boolean): the KB's keepers checked the
    # note themselves. A quoted "true" is a string and does not count.
    user_verified: bool = False
    # The note's folder: collection conformance routes on it (path only, so
    # notes of one folder still share their routing).
    folder: str = ""


def facts_from(fields: Mapping[str, object], key: str) -> NoteFacts:
    """The facts of the note at `key` whose routing fields are `fields`."""
    raw_type = fields.get("type")
    traits = fields.get("traits")
    status = fields.get("status")
    return NoteFacts(
        type=normalize_type(raw_type, key) if isinstance(raw_type, str) else None,
        traits=frozenset(t for t in traits if isinstance(t, str))
        if isinstance(traits, list)
        else frozenset(),
        status=status if isinstance(status, str) else None,
        user_verified=fields.get("user-verified") is True,
        folder=posixpath.dirname(key),
    )


def normalize_type(value: str, owner_key: str) -> str:
    """`./types/x.md` in `kb/notes/a.md` means `kb/notes/types/x.md`; a type path
    written from the KB root stays as it is."""
    value = value.strip()
    if value.startswith(("./", "../")):
        value = posixpath.join(posixpath.dirname(owner_key), value)
    return posixpath.normpath(value)
