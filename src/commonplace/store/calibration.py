"""The reviews calibration reads: every completed review of some pairs in
one partition, with the versions it judged."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import NamedTuple

from commonplace.store.connection import Connection


class JudgedReview(NamedTuple):
    note_path: str
    gate_id: str
    note_sha: str
    gate_sha: str
    decision: str
    review_run_id: int


def completed_reviews(
    conn: Connection, model_id: str, note_paths: Collection[str]
) -> list[JudgedReview]:
    """Reviews of completed runs of these notes in this partition, oldest first."""
    if not note_paths:
        return []
    rows = conn.execute(
        "SELECT r.note_path, r.gate_id, r.reviewed_note_sha, r.gate_sha, r.decision,"
        " r.review_run_id FROM gate_reviews AS r"
        " JOIN review_runs AS run ON run.id = r.review_run_id AND run.status = 'completed'"
        " WHERE r.model_id = ? AND r.note_path IN (SELECT value FROM json_each(?))"
        " ORDER BY r.id",
        (model_id, json.dumps(sorted(note_paths))),
    ).fetchall()
    return [JudgedReview(*row) for row in rows]
