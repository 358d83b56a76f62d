"""Finalizing a run: record its reviews, rekey it to the partition actually
used, check coverage, complete it and accept its reviews, in one
transaction; a run whose reviews are unacceptable is failed instead.
`finalize_runs` settles several runs that way in one transaction (an ingest).

Every transition is an update guarded on the run still being `running`, whose
row count is checked inside a `BEGIN IMMEDIATE` transaction, so racing
finalizers produce exactly one outcome and a clear error for the others."""

from __future__ import annotations

from collections.abc import Sequence

from commonplace.clock import utc_now
from commonplace.lifecycle.fail import fail_in, fail_run, transition
from commonplace.lifecycle.record import attach, insert_reviews, running_run, set_bundle
from commonplace.lifecycle.rekey import rekey
from commonplace.lifecycle.types import (
    ExecutionData,
    PendingReview,
    Refused,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
    Settlement,
)
from commonplace.store import acceptances, batches
from commonplace.store.connection import (
    Connection,
    Store,
    release_savepoint,
    savepoint,
    undo_to_savepoint,
)
from commonplace.store.reviews import gate_coverage


def record_and_finalize_run(
    store: Store,
    review_run_id: int,
    *,
    reviews: Sequence[PendingReview] = (),
    actual_model_id: str | None = None,
    execution: ExecutionData | None = None,
    bundle_markdown: str | None = None,
) -> RunOutcome:
    """Record reviews, rekey to the actual partition, check coverage, complete
    the run and accept its pass/warn/fail reviews, all in one transaction.
    `bundle_markdown` is the run's own canonical document of its blocks.

    When the reviews are unacceptable, nothing of that remains and the run is
    failed with the reason in a second transaction. A run that is not running
    raises `RunNotFinalizable` and is left as it was.
    """
    try:
        with store.write(create=False) as conn:
            return _complete(
                conn, review_run_id, reviews, actual_model_id, execution, bundle_markdown
            )
    except Refused as refusal:
        return fail_run(
            store,
            review_run_id,
            str(refusal),
            execution=execution,
            bundle_markdown=bundle_markdown,
        )


def finalize_runs(
    store: Store,
    settlements: Sequence[Settlement],
    *,
    actual_model_id: str | None = None,
    execution: ExecutionData | None = None,
) -> list[RunOutcome | None]:
    """Settle several running runs in ONE write transaction: each is
    finalized as `record_and_finalize_run` would (or failed, with its
    `failure`, or with the reason its reviews are unacceptable); None for a
    run that was no longer running, left as it was. The outcomes, in order.

    Each run is settled under a savepoint, so one run refused or failed
    leaves the others' work standing; the commit makes all of them final at
    once. A crash before it (SIGKILL, a full disk, a server gone) leaves
    every run of the call running with nothing of it written, and ingesting
    again settles them. One transaction instead of one per run spares the
    per-transaction cost (lock, commit, WAL pages written again; a server's
    round trips); callers bound how many runs share one, so that the store's
    write lock is never held long."""
    with store.write(create=False) as conn:
        return [_settle(conn, s, actual_model_id, execution) for s in settlements]


def _settle(
    conn: Connection,
    settlement: Settlement,
    actual_model_id: str | None,
    execution: ExecutionData | None,
) -> RunOutcome | None:
    run_id, document = settlement.review_run_id, settlement.bundle_markdown
    reason = settlement.failure
    if reason is None:
        savepoint(conn)
        try:
            outcome = _complete(
                conn, run_id, settlement.reviews, actual_model_id, execution, document
            )
        except (Refused, RunNotFinalizable) as refusal:
            undo_to_savepoint(conn)
            if isinstance(refusal, RunNotFinalizable):
                return None
            reason = str(refusal)
        else:
            release_savepoint(conn)
            return outcome
    savepoint(conn)
    try:
        outcome = fail_in(conn, run_id, reason, execution, document)
    except RunNotFinalizable:
        undo_to_savepoint(conn)
        return None
    release_savepoint(conn)
    return outcome


def _complete(
    conn: Connection,
    review_run_id: int,
    reviews: Sequence[PendingReview],
    actual_model_id: str | None,
    execution: ExecutionData | None,
    bundle_markdown: str | None,
) -> RunOutcome:
    """Finalize a run inside the caller's write transaction; `Refused` when
    its reviews are unacceptable (the caller undoes what was written)."""
    run = running_run(conn, review_run_id, "finalize")
    if execution is not None:
        attach(conn, execution, [review_run_id], None)
    set_bundle(conn, review_run_id, bundle_markdown)
    insert_reviews(conn, run, reviews)
    rekeyed_from = rekey(conn, run, actual_model_id)
    model_id = actual_model_id if rekeyed_from and actual_model_id else run.model_id
    _check_coverage(conn, review_run_id)
    finished = utc_now()
    transition(conn, review_run_id, RunStatus.COMPLETED, finished, None)
    accepted = acceptances.accept_run_reviews(conn, review_run_id, finished)
    batches.close_batch_if_done(conn, run.batch_id, finished)
    return RunOutcome(
        review_run_id,
        RunStatus.COMPLETED,
        model_id,
        rekeyed_from=rekeyed_from,
        accepted_gate_ids=tuple(accepted),
    )


def _check_coverage(conn: Connection, review_run_id: int) -> None:
    rows = gate_coverage(conn, review_run_id)
    if not rows:
        raise Refused(f"review run {review_run_id} has no gates")
    missing = [r.gate_id for r in rows if r.reviewed_sha is None]
    mismatched = [
        r.gate_id for r in rows if r.reviewed_sha is not None and r.reviewed_sha != r.gate_sha
    ]
    problems = []
    if missing:
        problems.append(f"missing gate reviews: {', '.join(missing)}")
    if mismatched:
        problems.append(f"gate provenance mismatch: {', '.join(mismatched)}")
    if problems:
        raise Refused("; ".join(problems))
