"""Recording into runs: the prompt that served a batch, gate reviews (the
split gate-by-gate path, and finalization), and execution data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from commonplace.clock import utc_now
from commonplace.errors import UserError
from commonplace.lifecycle.types import (
    ExecutionData,
    PendingReview,
    RecordedReview,
    Refused,
    RunNotFinalizable,
    RunStatus,
)
from commonplace.protocol.decisions import Decision
from commonplace.redaction import cap, redact, redact_json
from commonplace.store import batches, reviews, runs
from commonplace.store.connection import Connection, Store
from commonplace.store.runs import RunRow


def record_prompt(store: Store, batch_id: int, *, sha256: str, chars: int, version: str) -> None:
    """Remember which prompt served a batch."""
    with store.write() as conn:
        batches.set_prompt(conn, batch_id, sha256=sha256, chars=chars, version=version)


def record_gate_review(
    store: Store, review_run_id: int, gate_id: str, text: str, decision: Decision | None = None
) -> RecordedReview:
    """Record one gate review into a running run (the split gate-by-gate path)."""
    if not text.strip():
        raise UserError("the gate review is empty")
    review = PendingReview.from_text(gate_id, text, decision)
    try:
        with store.write(create=False) as conn:
            run = running_run(conn, review_run_id, "write into")
            gate_review_id = insert_reviews(conn, run, [review])[0]
    except Refused as refusal:
        raise UserError(f"{refusal}; nothing written") from None
    return RecordedReview(review_run_id, gate_id, gate_review_id, review.decision)


def attach_execution_data(
    store: Store,
    execution: ExecutionData,
    *,
    review_run_ids: Sequence[int] = (),
    batch_id: int | None = None,
) -> None:
    """Store telemetry, debug log and raw output on runs and their batch.
    Values already present are kept when the new value is absent. Never fails
    or rekeys a run."""
    with store.write(create=False) as conn:
        attach(conn, execution, review_run_ids, batch_id)


def attach(
    conn: Connection, execution: ExecutionData, run_ids: Iterable[int], batch_id: int | None
) -> None:
    telemetry = telemetry_json(execution.telemetry)
    debug_log = None if execution.debug_log is None else cap(redact(execution.debug_log))
    raw_output = None if execution.raw_output is None else redact(execution.raw_output)
    batch_ids = set() if batch_id is None else {batch_id}
    for run_id in run_ids:
        run_batch = runs.attach_run_data(
            conn, run_id, telemetry_json=telemetry, debug_log=debug_log
        )
        if run_batch is not None and raw_output is not None:
            batch_ids.add(run_batch)
    for batch in batch_ids:
        mine = batch == batch_id  # telemetry and log are the batch's only when it was named
        batches.attach_batch_data(
            conn,
            batch,
            telemetry_json=telemetry if mine else None,
            debug_log=debug_log if mine else None,
            raw_output=raw_output,
        )


def running_run(conn: Connection, review_run_id: int, verb: str) -> RunRow:
    run = runs.get_run(conn, review_run_id)
    if run is None:
        raise RunNotFinalizable(f"review run {review_run_id} not found")
    if run.status != RunStatus.RUNNING:
        raise RunNotFinalizable(
            f"cannot {verb} review run {review_run_id}: it is already {run.status}; nothing changed"
        )
    return run


def insert_reviews(conn: Connection, run: RunRow, pending: Sequence[PendingReview]) -> list[int]:
    if not pending:
        return []
    gate_shas = reviews.run_gate_shas(conn, run.id)
    done = reviews.reviewed_gates(conn, run.id)
    now = utc_now()
    new: list[reviews.NewGateReview] = []
    for review in pending:
        if review.gate_id not in gate_shas:
            raise Refused(
                f"gate {review.gate_id} is not part of review run {run.id}"
                f" (its gates: {', '.join(sorted(gate_shas))})"
            )
        if review.gate_id in done:
            raise Refused(f"gate {review.gate_id} already has a review in review run {run.id}")
        done.add(review.gate_id)
        findings = [{"severity": f.severity, "text": redact(f.text)} for f in review.findings]
        new.append(
            reviews.NewGateReview(
                run.id,
                run.note_path,
                review.gate_id,
                run.model_id,
                review.decision.value,
                redact(review.rationale_markdown),
                json.dumps(findings),
                gate_shas[review.gate_id],
                run.reviewed_note_sha,
                run.reviewed_note_commit,
                now,
            )
        )
    return reviews.add_gate_reviews(conn, new)


def set_bundle(conn: Connection, review_run_id: int, bundle_markdown: str | None) -> None:
    if bundle_markdown is not None:
        runs.set_document(conn, review_run_id, redact(bundle_markdown))


def telemetry_json(telemetry: Mapping[str, Any] | None) -> str | None:
    return None if telemetry is None else json.dumps(redact_json(telemetry), sort_keys=True)
