"""Rekeys: a run moved to the partition actually used (at finalization or by
a telemetry repair), and a note's whole history moved to its new path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from commonplace.clock import utc_now
from commonplace.errors import UserError
from commonplace.lifecycle.record import attach, telemetry_json
from commonplace.lifecycle.types import (
    ExecutionData,
    MovedHistory,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
)
from commonplace.protocol.grammar import relocate_document
from commonplace.store import batches, relocations, runs
from commonplace.store.connection import Connection, Store
from commonplace.store.runs import RunRow


def rekey(conn: Connection, run: RunRow, actual_model_id: str | None) -> str | None:
    """Move a run, its gate reviews and the acceptances of those reviews to the
    partition actually used; the one rekey of the store. The run keeps the
    partition it was created under in `rekeyed_from`. Guarded on the status
    and partition that were read, so a concurrent change makes it refuse."""
    if not actual_model_id or actual_model_id == run.model_id:
        return None
    moved = runs.rekey_run(
        conn, run.id, status=run.status, model_id=run.model_id, actual_model_id=actual_model_id
    )
    if moved != 1:
        raise RunNotFinalizable(f"review run {run.id} changed while it was being rekeyed")
    return str(run.model_id)


def repair_run(
    store: Store,
    review_run_id: int,
    *,
    telemetry: Mapping[str, Any],
    batch_telemetry: Mapping[str, Any] | None = None,
    actual_model_id: str | None = None,
) -> RunOutcome:
    """Give a finished run the telemetry rebuilt from its session log and, when
    that shows another partition, rekey the run, its reviews and their
    acceptances, in one transaction. The batch gets `batch_telemetry` only if
    it has none. A run still running is refused: finalizing it rekeys it."""
    with store.write(create=False) as conn:
        run = runs.get_run(conn, review_run_id)
        if run is None:
            raise RunNotFinalizable(f"review run {review_run_id} not found")
        if run.status == RunStatus.RUNNING:
            raise RunNotFinalizable(
                f"review run {review_run_id} is still running; finalizing it rekeys it"
            )
        attach(conn, ExecutionData(telemetry=telemetry), [review_run_id], None)
        batch_json = telemetry_json(batch_telemetry)
        if batch_json is not None:
            batches.fill_batch_telemetry(conn, run.batch_id, batch_json)
        rekeyed_from = rekey(conn, run, actual_model_id)
    return RunOutcome(
        review_run_id,
        RunStatus(run.status),
        actual_model_id if rekeyed_from and actual_model_id else run.model_id,
        run.failure_reason,
        rekeyed_from=rekeyed_from,
    )


def note_history(conn: Connection, old_path: str, new_path: str) -> MovedHistory:
    """The history `old_path` would move; refuses when `new_path` has history
    of its own or a run of `old_path` is still running."""
    there = relocations.history_counts(conn, new_path)
    if there.review_runs or there.acceptance_events:
        raise UserError(
            f"{new_path} already has review history ({there.review_runs} run(s),"
            f" {there.acceptance_events} acceptance event(s)); moving {old_path}"
            " there would mix two notes' histories; nothing moved"
        )
    here = relocations.history_counts(conn, old_path)
    if here.running:
        raise UserError(
            f"{old_path} has {here.running} review run(s) still running; finalize or reap them"
            " first; nothing moved"
        )
    return MovedHistory(here.review_runs, here.gate_reviews, here.acceptance_events)


def note_run_ids(conn: Connection, note_path: str) -> list[int]:
    """The ids of every run of `note_path` (whose files a relocation rewrites)."""
    return relocations.note_run_ids(conn, note_path)


def relocate_history(
    store: Store, old_path: str, new_path: str, *, then: Callable[[], None] | None = None
) -> MovedHistory:
    """Rekey a note's whole history to a new path in one transaction: its
    runs, their gate reviews, its acceptance events and the path in its runs'
    documents, with a `note_relocations` row. `then` runs last, inside the
    transaction (the file move): when it fails, nothing has changed."""
    with store.write(create=False) as conn:
        note_history(conn, old_path, new_path)  # again: a run may have started since
        counts = relocations.move_history(conn, old_path, new_path)
        documents = tuple(
            (run_id, relocate_document(document, old_path, new_path, token=token))
            for run_id, document, token in relocations.run_documents(conn, new_path)
        )
        relocations.set_documents(conn, documents)
        relocations.add_relocation(conn, old_path, new_path, utc_now(), counts)
        if then is not None:
            then()
    return MovedHistory(*counts, documents)
