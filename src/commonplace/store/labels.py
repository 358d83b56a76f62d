"""Queries of the `labels` table (M008): people's verdicts on (note, gate)
pairs at the versions they judged. Append-only: rows are only inserted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection


class LabelRow(NamedTuple):
    id: int
    uid: str
    note_path: str
    gate_id: str
    note_sha: str
    gate_sha: str
    decision: str
    why: str | None
    model_id: str | None
    labeller: str
    created_at: str
    acceptance_id: int | None


_COLUMNS = (
    "id, uid, note_path, gate_id, note_sha, gate_sha, decision, why, model_id, labeller,"
    " created_at, acceptance_id"
)


def add_label(
    conn: Connection,
    *,
    note_path: str,
    gate_id: str,
    note_sha: str,
    gate_sha: str,
    decision: str,
    why: str | None,
    model_id: str | None,
    labeller: str,
    at: str,
    acceptance_id: int | None,
) -> LabelRow:
    """Append one label (its snapshots must be in the store); the row written."""
    values = (
        new_uid(),
        note_path,
        gate_id,
        note_sha,
        gate_sha,
        decision,
        why,
        model_id,
        labeller,
        at,
        acceptance_id,
    )
    row = conn.execute(
        f"INSERT INTO labels ({_COLUMNS.removeprefix('id, ')})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        values,
    ).fetchone()
    return LabelRow(int(row[0]), *values)


def labels_of(
    conn: Connection, *, note_paths: Sequence[str] = (), gate_ids: Sequence[str] = ()
) -> list[LabelRow]:
    """Labels oldest first; of these notes and gates only, when given."""
    sql, params = f"SELECT {_COLUMNS} FROM labels WHERE 1 = 1", []
    for column, values in (("note_path", note_paths), ("gate_id", gate_ids)):
        if values:
            sql += f" AND {column} IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(values))))
    return [LabelRow(*row) for row in conn.execute(sql + " ORDER BY id", params)]


class JudgedReview(NamedTuple):
    """A completed real-verdict review of the versions some label judged."""

    gate_review_id: int
    review_run_id: int
    note_path: str
    gate_id: str
    model_id: str
    note_sha: str
    gate_sha: str
    decision: str


def reviews_of_labelled_versions(conn: Connection, model_id: str | None) -> list[JudgedReview]:
    """Oldest first; of one partition when given."""
    sql = (
        "SELECT r.id, r.review_run_id, r.note_path, r.gate_id, r.model_id,"
        " r.reviewed_note_sha, r.gate_sha, r.decision FROM gate_reviews r"
        " JOIN review_runs run ON run.id = r.review_run_id AND run.status = 'completed'"
        " WHERE r.decision IN ('pass', 'warn', 'fail') AND EXISTS (SELECT 1 FROM labels l"
        " WHERE l.note_path = r.note_path AND l.gate_id = r.gate_id"
        " AND l.note_sha = r.reviewed_note_sha AND l.gate_sha = r.gate_sha)"
    )
    params: tuple[str, ...] = ()
    if model_id is not None:
        sql += " AND r.model_id = ?"
        params = (model_id,)
    return [JudgedReview(*row) for row in conn.execute(sql + " ORDER BY r.id", params)]


def label_count(conn: Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
