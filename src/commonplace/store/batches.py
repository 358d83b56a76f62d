"""Queries of `review_batches`: one prepared prompt and its output."""

from __future__ import annotations

from collections.abc import Iterable

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection
from commonplace.store.packing import pack, unpack


def add_batch(
    conn: Connection,
    *,
    packing: str,
    executor: str,
    requested_model: str,
    requested_effort: str | None,
    requested_model_id: str,
    created_at: str,
    boundary_token: str,
) -> int:
    row = conn.execute(
        "INSERT INTO review_batches (packing, executor, requested_model, requested_effort,"
        " requested_model_id, created_at, boundary_token, uid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            packing,
            executor,
            requested_model,
            requested_effort,
            requested_model_id,
            created_at,
            boundary_token,
            new_uid(),
        ),
    ).fetchone()
    return int(row[0])


def boundary_tokens(conn: Connection, batch_ids: Iterable[int]) -> dict[int, str | None]:
    """Each batch's boundary token; None for a batch prepared before tokens."""
    ids = list(dict.fromkeys(batch_ids))
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT id, boundary_token FROM review_batches WHERE id IN ({', '.join('?' * len(ids))})",
        ids,
    ).fetchall()
    return {int(row[0]): row[1] for row in rows}


def run_boundary_token(conn: Connection, review_run_id: int) -> tuple[str, str | None] | None:
    """(note path, its batch's boundary token) of a run; None when there is no such run."""
    row = conn.execute(
        "SELECT r.note_path, b.boundary_token FROM review_runs r"
        " JOIN review_batches b ON b.id = r.batch_id WHERE r.id = ?",
        (review_run_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])


def set_prompt(conn: Connection, batch_id: int, *, sha256: str, chars: int, version: str) -> None:
    conn.execute(
        "UPDATE review_batches SET prompt_sha256 = ?, prompt_chars = ?,"
        " prompt_format_version = ? WHERE id = ?",
        (sha256, chars, version, batch_id),
    )


def attach_batch_data(
    conn: Connection,
    batch_id: int,
    *,
    telemetry_json: str | None,
    debug_log: str | None,
    raw_output: str | None,
) -> None:
    """Fill the batch's execution data; a value already there is kept when
    the new one is None. Long texts are stored packed (store/packing.py)."""
    sets = ["telemetry_json = COALESCE(?, telemetry_json)"]
    values: list[str | bytes | None] = [telemetry_json]
    for column, text in (("debug_log", debug_log), ("raw_output", raw_output)):
        if text is not None:
            sets.append(f"{column} = ?, {column}_z = ?")
            values.extend(pack(text))
    conn.execute(f"UPDATE review_batches SET {', '.join(sets)} WHERE id = ?", (*values, batch_id))


def batch_prompt_sha(conn: Connection, batch_id: int) -> str | None:
    row = conn.execute(
        "SELECT prompt_sha256 FROM review_batches WHERE id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else row[0]


def batch_output(conn: Connection, batch_id: int) -> str | None:
    """The batch's raw output as stored; None when it has none (or no such batch)."""
    row = conn.execute(
        "SELECT raw_output, raw_output_z FROM review_batches WHERE id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else unpack(row[0], row[1])


def fill_batch_telemetry(conn: Connection, batch_id: int, telemetry_json: str) -> None:
    """Give the batch this telemetry only if it has none."""
    conn.execute(
        "UPDATE review_batches SET telemetry_json = ? WHERE id = ? AND telemetry_json IS NULL",
        (telemetry_json, batch_id),
    )


def close_batch_if_done(conn: Connection, batch_id: int, at: str) -> None:
    """Mark the batch finished once none of its runs is running."""
    conn.execute(
        "UPDATE review_batches SET finished_at = ? WHERE id = ? AND finished_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM review_runs WHERE batch_id = ? AND status = 'running')",
        (at, batch_id, batch_id),
    )
