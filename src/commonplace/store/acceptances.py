"""Queries of `acceptance_events` and the `current_gate_acceptances` view:
the append-only log of what was accepted, and the latest entry per pair."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from typing import NamedTuple

from commonplace.store.connection import Connection

FULL_REVIEW = "full-review"


def latest_accepted(
    conn: Connection, model_id: str, note_paths: Sequence[str] | None = None
) -> dict[tuple[str, str], tuple[str, str]]:
    """(note SHA, gate SHA) of the current acceptance of every (note, gate)
    pair of one partition; of `note_paths` only, when given.

    The events in id order, the latest of a pair kept: one scan of the
    partition, where the `current_gate_acceptances` view looks up the latest
    id once per row (twice as slow on 400,000 pairs). Equal strings are kept
    once: a note's SHA repeats for each of its gates, a gate's for each note."""
    sql = (
        "SELECT note_path, gate_id, accepted_note_sha, accepted_gate_sha"
        " FROM acceptance_events WHERE model_id = ?"
    )
    params: tuple[object, ...] = (model_id,)
    if note_paths is not None:
        # `|| ''` keeps SQLite off the partition's index: looking the notes up
        # by path reads their rows only (7 ms, not 160 ms, for 100 notes of
        # a 400,000-row partition).
        sql = sql.replace("model_id = ?", "model_id || '' = ?")
        sql += " AND note_path IN (SELECT value FROM json_each(?))"
        params += (json.dumps(list(note_paths)),)
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    same: dict[str, str] = {}
    for note_path, gate_id, note_sha, gate_sha in conn.execute(sql + " ORDER BY id", params):
        key = (same.setdefault(note_path, note_path), same.setdefault(gate_id, gate_id))
        latest[key] = (same.setdefault(note_sha, note_sha), same.setdefault(gate_sha, gate_sha))
    return latest


def latest_by_note(conn: Connection, model_id: str) -> dict[str, dict[str, tuple[str, str]]]:
    """`latest_accepted` of the whole partition grouped by note (note path ->
    gate id -> (note SHA, gate SHA)), built in the same single pass: on
    400,000 pairs, regrouping a pair-keyed answer cost a second full loop."""
    by_note: dict[str, dict[str, tuple[str, str]]] = {}
    same: dict[str, str] = {}
    rows = conn.execute(
        "SELECT note_path, gate_id, accepted_note_sha, accepted_gate_sha"
        " FROM acceptance_events WHERE model_id = ? ORDER BY id",
        (model_id,),
    )
    for note_path, gate_id, note_sha, gate_sha in rows:
        gates = by_note.get(note_path)
        if gates is None:
            gates = by_note[note_path] = {}
        # the latest event of a pair comes last and overwrites the others
        gates[same.setdefault(gate_id, gate_id)] = (
            same.setdefault(note_sha, note_sha),
            same.setdefault(gate_sha, gate_sha),
        )
    return by_note


def accepted_pair_count(conn: Connection, model_id: str) -> int:
    """How many (note, gate) pairs have an acceptance in the partition."""
    row = conn.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT note_path, gate_id FROM acceptance_events"
        " WHERE model_id = ?) AS pairs",
        (model_id,),
    ).fetchone()
    return int(row[0])


def partitions_by_current(conn: Connection) -> tuple[str, ...]:
    """Partitions by number of current acceptances, most first."""
    rows = conn.execute(
        "SELECT model_id, COUNT(*) AS n FROM current_gate_acceptances"
        " GROUP BY model_id ORDER BY n DESC, model_id"
    ).fetchall()
    return tuple(str(row[0]) for row in rows)


def add_ack(
    conn: Connection,
    *,
    note_path: str,
    gate_id: str,
    model_id: str,
    note_sha: str,
    note_commit: str | None,
    gate_sha: str,
    at: str,
    kind: str,
) -> int:
    """Append an acceptance that carries no review of its own (an ack); its id."""
    row = conn.execute(
        "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
        " accepted_note_sha, accepted_note_commit, accepted_gate_sha, accepted_at,"
        " acceptance_kind, uid) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) RETURNING id",
        (note_path, gate_id, model_id, note_sha, note_commit, gate_sha, at, kind, new_uid()),
    ).fetchone()
    return int(row[0])


def accept_run_reviews(conn: Connection, review_run_id: int, at: str) -> list[str]:
    """One `full-review` acceptance per gate review of the run with a real
    verdict, in gate order; the gates accepted."""
    rows = conn.execute(
        "SELECT r.id, r.note_path, r.gate_id, r.model_id, r.reviewed_note_sha,"
        " r.reviewed_note_commit, r.gate_sha FROM gate_reviews r"
        " JOIN review_run_gates g ON g.review_run_id = r.review_run_id AND g.gate_id = r.gate_id"
        " WHERE r.review_run_id = ? AND r.decision IN ('pass', 'warn', 'fail')"
        " ORDER BY g.ordinal",
        (review_run_id,),
    ).fetchall()
    conn.executemany(
        "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
        " accepted_note_sha, accepted_note_commit, accepted_gate_sha, accepted_at,"
        " acceptance_kind, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'full-review', ?)",
        [
            (
                r["note_path"],
                r["gate_id"],
                r["model_id"],
                r["id"],
                r["reviewed_note_sha"],
                r["reviewed_note_commit"],
                r["gate_sha"],
                at,
                new_uid(),
            )
            for r in rows
        ],
    )
    return [str(r["gate_id"]) for r in rows]


def new_uid() -> str:
    """A row's global identity, the same on every store it travels to: a
    random UUID (version 4) in hex, as `uuid.uuid4().hex`, without importing
    `uuid` (and `platform`) at every ingest's start."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return raw.hex()


class CurrentRow(NamedTuple):
    """A current acceptance joined to the full review it rests on."""

    note_path: str
    gate_id: str
    model_id: str
    acceptance_kind: str
    accepted_note_sha: str
    gate_review_id: int
    review_run_id: int
    decision: str
    rationale_markdown: str
    findings_json: str | None
    reviewed_at: str
    reviewed_note_sha: str


# The review a current acceptance rests on is the latest full review of the
# pair at or before it: an ack carries the review before it forward. A
# `manual-override` made by a label shows the label's decision and why (a
# person overruled the review), still with the ids of the review it overruled.
_CURRENT = """
SELECT c.note_path, c.gate_id, c.model_id, c.acceptance_kind, c.accepted_note_sha,
       r.id AS gate_review_id, r.review_run_id, COALESCE(l.decision, r.decision),
       CASE WHEN l.id IS NULL THEN r.rationale_markdown ELSE COALESCE(l.why, '') END,
       CASE WHEN l.id IS NULL THEN r.findings_json ELSE '[]' END,
       r.reviewed_at, r.reviewed_note_sha
FROM current_gate_acceptances AS c
LEFT JOIN labels AS l ON l.acceptance_id = c.id
JOIN acceptance_events AS source ON source.id = (
    SELECT MAX(e.id) FROM acceptance_events AS e
    WHERE e.note_path = c.note_path AND e.gate_id = c.gate_id AND e.model_id = c.model_id
      AND e.acceptance_kind = 'full-review' AND e.id <= c.id
)
JOIN gate_reviews AS r ON r.id = source.accepted_review_id
JOIN review_runs AS run ON run.id = r.review_run_id AND run.status = 'completed'
WHERE 1 = 1
"""


def current_review_rows(
    conn: Connection,
    *,
    model_id: str | None = None,
    note_paths: Sequence[str] = (),
    decisions: Collection[str] = (),
) -> list[CurrentRow]:
    """Sorted by note, gate and partition; only this partition, these notes
    and these decisions when given."""
    sql, params = _CURRENT, []
    decided = "COALESCE(l.decision, r.decision)"
    for column, values in (("c.note_path", note_paths), (decided, decisions)):
        if values:
            sql += f" AND {column} IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(values)))
    if model_id is not None:
        sql += " AND c.model_id = ?"
        params.append(model_id)
    rows = conn.execute(sql + " ORDER BY c.note_path, c.gate_id, c.model_id", params).fetchall()
    return [CurrentRow(*row) for row in rows]
