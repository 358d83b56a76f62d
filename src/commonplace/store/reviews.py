"""Queries of `gate_reviews` and `review_run_gates`: what each run was asked
and what it answered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection


class NewGateReview(NamedTuple):
    review_run_id: int
    note_path: str
    gate_id: str
    model_id: str
    decision: str
    rationale_markdown: str
    findings_json: str
    gate_sha: str
    reviewed_note_sha: str
    reviewed_note_commit: str | None
    reviewed_at: str


class GateCoverage(NamedTuple):
    gate_id: str
    gate_sha: str
    reviewed_sha: str | None  # None: the gate has no review in the run


def add_run_gates(conn: Connection, review_run_id: int, gates: Sequence[tuple[str, str]]) -> None:
    """The run's gate set: (gate id, gate SHA) in order."""
    conn.executemany(
        "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
        " VALUES (?, ?, ?, ?)",
        [(review_run_id, gate_id, sha, i) for i, (gate_id, sha) in enumerate(gates)],
    )


def run_gate_shas(conn: Connection, review_run_id: int) -> dict[str, str]:
    rows = conn.execute(
        "SELECT gate_id, gate_sha FROM review_run_gates WHERE review_run_id = ?", (review_run_id,)
    ).fetchall()
    return {str(gate_id): str(sha) for gate_id, sha in rows}


def reviewed_gates(conn: Connection, review_run_id: int) -> set[str]:
    rows = conn.execute(
        "SELECT gate_id FROM gate_reviews WHERE review_run_id = ?", (review_run_id,)
    )
    return {str(row[0]) for row in rows}


def add_gate_reviews(conn: Connection, new: Sequence[NewGateReview]) -> list[int]:
    """Insert `full-review` gate reviews of one run; their ids, in order. One
    `executemany` (a single round trip to a server) and one read of the ids."""
    if not new:
        return []
    run_ids = {review.review_run_id for review in new}
    if len(run_ids) != 1:
        raise ValueError("gate reviews of one run at a time")
    conn.executemany(
        "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
        " rationale_markdown, findings_json, gate_sha, reviewed_note_sha,"
        " reviewed_note_commit, reviewed_at, review_kind, uid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'full-review', ?)",
        [(*review, new_uid()) for review in new],
    )
    rows = conn.execute(
        "SELECT gate_id, id FROM gate_reviews WHERE review_run_id = ?", (run_ids.pop(),)
    ).fetchall()
    ids = {row[0]: row[1] for row in rows}
    return [int(ids[review.gate_id]) for review in new]


def gate_coverage(conn: Connection, review_run_id: int) -> list[GateCoverage]:
    """Each gate of the run in order, with the gate SHA its review judged."""
    rows = conn.execute(
        "SELECT g.gate_id, g.gate_sha, r.gate_sha AS reviewed_sha FROM review_run_gates g"
        " LEFT JOIN gate_reviews r ON r.review_run_id = g.review_run_id AND r.gate_id = g.gate_id"
        " WHERE g.review_run_id = ? ORDER BY g.ordinal",
        (review_run_id,),
    ).fetchall()
    return [GateCoverage(*row) for row in rows]


def review_texts(conn: Connection, review_run_id: int) -> list[tuple[str, str]]:
    """(gate id, rationale) of the run's gate reviews, in gate order."""
    rows = conn.execute(
        "SELECT r.gate_id, r.rationale_markdown FROM gate_reviews r"
        " JOIN review_run_gates g"
        " ON g.review_run_id = r.review_run_id AND g.gate_id = r.gate_id"
        " WHERE r.review_run_id = ? ORDER BY g.ordinal",
        (review_run_id,),
    ).fetchall()
    return [(gate_id, text) for gate_id, text in rows]


def unknown_decisions(
    conn: Connection, review_run_ids: Sequence[int]
) -> list[tuple[int, str, str]]:
    """(run id, note, gate) of every `unknown` decision of these runs."""
    if not review_run_ids:
        return []
    rows = conn.execute(
        "SELECT review_run_id, note_path, gate_id FROM gate_reviews"
        f" WHERE decision = 'unknown' AND review_run_id IN ({', '.join('?' * len(review_run_ids))})"
        " ORDER BY review_run_id, id",
        list(review_run_ids),
    ).fetchall()
    return [(int(run_id), str(note), str(gate)) for run_id, note, gate in rows]
