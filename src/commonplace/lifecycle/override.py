"""A person's override: a `manual-override` acceptance of a pair's current
versions, appended when a label is recorded with `--accept`, so the selector
takes the pair as fresh in that partition until the note or gate changes."""

from __future__ import annotations

from commonplace.store.acceptances import add_ack
from commonplace.store.connection import Connection

MANUAL_OVERRIDE = "manual-override"


def append_manual_override(
    conn: Connection,
    *,
    note_path: str,
    gate_id: str,
    model_id: str,
    note_sha: str,
    note_commit: str | None,
    gate_sha: str,
    at: str,
) -> int:
    """Append the event inside the caller's transaction (the label that
    justifies it is written in the same one); its id."""
    return add_ack(
        conn,
        note_path=note_path,
        gate_id=gate_id,
        model_id=model_id,
        note_sha=note_sha,
        note_commit=note_commit,
        gate_sha=gate_sha,
        at=at,
        kind=MANUAL_OVERRIDE,
    )
