"""Read-only questions `commonplace doctor` asks of a store: which partitions
it holds, and which pairs were last answered with an unreadable decision."""

from __future__ import annotations

from typing import NamedTuple

from commonplace.store.connection import Connection


class PartitionCount(NamedTuple):
    model_id: str
    accepted_pairs: int


class UnknownPair(NamedTuple):
    note_path: str
    gate_id: str
    model_id: str
    review_run_id: int


def partition_counts(conn: Connection) -> list[PartitionCount]:
    """Every partition with a current acceptance, and how many pairs it has
    accepted, most first."""
    rows = conn.execute(
        "SELECT model_id, COUNT(*) AS n FROM current_gate_acceptances"
        " GROUP BY model_id ORDER BY n DESC, model_id"
    ).fetchall()
    return [PartitionCount(str(row[0]), int(row[1])) for row in rows]


def unknown_latest(conn: Connection, limit: int) -> tuple[int, list[UnknownPair]]:
    """How many pairs' latest review decided `unknown` (the reviewer's answer
    could not be read), and the first `limit` of them."""
    latest_unknown = (
        " FROM gate_reviews v WHERE v.decision = 'unknown' AND NOT EXISTS"
        " (SELECT 1 FROM gate_reviews w WHERE w.note_path = v.note_path"
        " AND w.gate_id = v.gate_id AND w.model_id = v.model_id AND w.id > v.id)"
    )
    count = conn.execute("SELECT COUNT(*)" + latest_unknown).fetchone()
    rows = conn.execute(
        "SELECT v.note_path, v.gate_id, v.model_id, v.review_run_id"
        + latest_unknown
        + " ORDER BY v.note_path, v.gate_id, v.model_id LIMIT ?",
        (limit,),
    ).fetchall()
    pairs = [UnknownPair(str(a), str(b), str(c), int(d)) for a, b, c, d in rows]
    return int(count[0]), pairs
