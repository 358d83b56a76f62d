"""Notes and gates found by scanning that cannot be reviewed, with the reason.

A scan reports them instead of raising, so one bad file never stops the
review of everything else; a note or gate named explicitly is refused with a
`UserError` instead.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from commonplace.choices import UNREADABLE_NOTE, UNREVIEWABLE_NAME, UNUSABLE_GATE
from commonplace.choices import UNREVIEWABLE_REASONS as REASONS

__all__ = ["REASONS", "UNREADABLE_NOTE", "UNREVIEWABLE_NAME", "UNUSABLE_GATE", "Unreviewable"]


class Unreviewable(NamedTuple):
    kind: Literal["note", "gate"]
    key: str  # the note path or the gate id, exactly as found (print it with paths.shown)
    reason: str  # one of REASONS
    detail: str  # why, for people

    def describe(self) -> str:
        """One line for people, the name quoted and escaped (these names are odd
        by definition): `note 'kb/notes/a\\nb.md': unreviewable-name (...)`."""
        from commonplace.kb.paths import shown

        return f"{self.kind} {self.key!r}: {self.reason} ({shown(self.detail)})"

    def as_json(self) -> dict[str, str | None]:
        """The selector's JSON entry: a note or a gate in place of a pair."""
        return {
            "note_path": self.key if self.kind == "note" else None,
            "gate_id": self.key if self.kind == "gate" else None,
            "reason": self.reason,
            "detail": self.detail,
        }
