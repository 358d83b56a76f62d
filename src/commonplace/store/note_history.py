"""Read-only queries of one note's review history: its runs, acceptance
events, relocations and the model-alias resolutions of its batches (what
`commonplace show` tells)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import NamedTuple

from commonplace.store.connection import Connection


class NoteRun(NamedTuple):
    id: int
    model_id: str
    runner: str
    status: str
    started_at: str
    completed_at: str | None
    failure_reason: str | None
    rekeyed_from: str | None
    requested_model: str
    requested_effort: str | None
    gates: int


class NoteAcceptance(NamedTuple):
    id: int
    gate_id: str
    model_id: str
    acceptance_kind: str
    accepted_at: str
    accepted_note_sha: str
    review_run_id: int | None
    decision: str | None  # None: an ack, which carries no review of its own


class NoteRelocation(NamedTuple):
    old_path: str
    new_path: str
    relocated_at: str
    review_runs: int
    gate_reviews: int
    acceptance_events: int


class AliasResolution(NamedTuple):
    requested_model: str
    requested_effort: str | None
    resolved_model_id: str
    observed_at: str
    batch_id: int


def note_runs(conn: Connection, note_path: str) -> list[NoteRun]:
    """Every run of the note, oldest first, with its batch's request."""
    rows = conn.execute(
        "SELECT r.id, r.model_id, r.runner, r.status, r.started_at, r.completed_at,"
        " r.failure_reason, r.rekeyed_from, b.requested_model, b.requested_effort,"
        " (SELECT COUNT(*) FROM review_run_gates g WHERE g.review_run_id = r.id)"
        " FROM review_runs r JOIN review_batches b ON b.id = r.batch_id"
        " WHERE r.note_path = ? ORDER BY r.started_at, r.id",
        (note_path,),
    ).fetchall()
    return [NoteRun(*row) for row in rows]


def note_acceptances(conn: Connection, note_path: str) -> list[NoteAcceptance]:
    """Every acceptance event of the note, in the order they were appended."""
    rows = conn.execute(
        "SELECT e.id, e.gate_id, e.model_id, e.acceptance_kind, e.accepted_at,"
        " e.accepted_note_sha, r.review_run_id, r.decision FROM acceptance_events e"
        " LEFT JOIN gate_reviews r ON r.id = e.accepted_review_id"
        " WHERE e.note_path = ? ORDER BY e.id",
        (note_path,),
    ).fetchall()
    return [NoteAcceptance(*row) for row in rows]


def relocations_touching(conn: Connection, paths: Collection[str]) -> list[NoteRelocation]:
    """The relocations from or to any of these paths, oldest first."""
    listed = json.dumps(sorted(paths))
    rows = conn.execute(
        "SELECT old_path, new_path, relocated_at, review_runs, gate_reviews,"
        " acceptance_events FROM note_relocations"
        " WHERE old_path IN (SELECT value FROM json_each(?))"
        " OR new_path IN (SELECT value FROM json_each(?)) ORDER BY relocated_at, id",
        (listed, listed),
    ).fetchall()
    return [NoteRelocation(*row) for row in rows]


def note_alias_resolutions(conn: Connection, note_path: str) -> list[AliasResolution]:
    """What the models asked for by the note's batches resolved to, oldest first."""
    rows = conn.execute(
        "SELECT a.requested_model, a.requested_effort, a.resolved_model_id, a.observed_at,"
        " a.batch_id FROM model_alias_resolutions a WHERE a.batch_id IN"
        " (SELECT r.batch_id FROM review_runs r WHERE r.note_path = ?)"
        " ORDER BY a.observed_at, a.id",
        (note_path,),
    ).fetchall()
    return [AliasResolution(*row) for row in rows]


def note_partitions(conn: Connection, note_path: str) -> list[str]:
    """The partitions that hold runs or acceptances of the note, sorted."""
    rows = conn.execute(
        "SELECT model_id FROM review_runs WHERE note_path = ?"
        " UNION SELECT model_id FROM acceptance_events WHERE note_path = ?"
        " ORDER BY 1",
        (note_path, note_path),
    ).fetchall()
    return [str(row[0]) for row in rows]


def paths_with_history(conn: Connection) -> set[str]:
    """Every note path the store holds runs or acceptances of."""
    rows = conn.execute(
        "SELECT DISTINCT note_path FROM review_runs"
        " UNION SELECT DISTINCT note_path FROM acceptance_events"
    ).fetchall()
    return {str(row[0]) for row in rows}
