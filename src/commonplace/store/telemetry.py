"""Read-side queries over batches' telemetry, for the cost report."""

from __future__ import annotations

from collections import defaultdict

from commonplace.store.connection import Connection, Row


def batches_with_telemetry(conn: Connection) -> list[Row]:
    """id, executor, requested_model_id, day, telemetry_json and model_id (its
    runs' partition) of every batch that has telemetry, by id."""
    return conn.execute(
        "SELECT b.id, b.executor, b.requested_model_id, substr(b.created_at, 1, 10) AS day,"
        " b.telemetry_json,"
        " (SELECT MIN(r.model_id) FROM review_runs r WHERE r.batch_id = b.id) AS model_id"
        " FROM review_batches b WHERE b.telemetry_json IS NOT NULL ORDER BY b.id"
    ).fetchall()


def gate_counts_by_batch(conn: Connection) -> dict[int, dict[str, int]]:
    """How many runs of each batch with telemetry reviewed each gate."""
    pairs: dict[int, dict[str, int]] = defaultdict(dict)
    for batch_id, gate_id, count in conn.execute(
        "SELECT r.batch_id, g.gate_id, COUNT(*) FROM review_run_gates g"
        " JOIN review_runs r ON r.id = g.review_run_id"
        " JOIN review_batches b ON b.id = r.batch_id AND b.telemetry_json IS NOT NULL"
        " GROUP BY r.batch_id, g.gate_id"
    ):
        pairs[batch_id][gate_id] = count
    return pairs


def measured_batches(
    conn: Connection, *, runner: str, model: str, model_id: str, limit: int
) -> list[Row]:
    """prompt_chars, telemetry_json and pairs (gates reviewed by its runs) of
    the latest `limit` batches of `runner` that asked for `model` or wrote to
    the partition `model_id`, with a prompt size and telemetry: the history
    a forecast calibrates on. Newest first."""
    return conn.execute(
        "SELECT b.prompt_chars, b.telemetry_json,"
        " (SELECT COUNT(*) FROM review_run_gates g JOIN review_runs r ON r.id = g.review_run_id"
        "  WHERE r.batch_id = b.id) AS pairs"
        " FROM review_batches b"
        " WHERE b.executor = ? AND b.telemetry_json IS NOT NULL AND b.prompt_chars > 0"
        " AND (b.requested_model = ? OR b.requested_model_id = ?)"
        " ORDER BY b.id DESC LIMIT ?",
        (runner, model, model_id, limit),
    ).fetchall()
