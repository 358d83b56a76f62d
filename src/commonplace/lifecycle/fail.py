"""Failing runs: one with a reason, and reaping those whose owner is gone or
that have run too long."""

from __future__ import annotations

from datetime import timedelta

from commonplace.clock import utc_before, utc_now
from commonplace.lifecycle.create import host_name
from commonplace.lifecycle.record import attach, running_run, set_bundle
from commonplace.lifecycle.types import (
    ABANDONED,
    ExecutionData,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
)
from commonplace.redaction import redact
from commonplace.store import batches, runs
from commonplace.store.connection import Connection, Store, StoreError


def fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    *,
    execution: ExecutionData | None = None,
    bundle_markdown: str | None = None,
) -> RunOutcome:
    """Fail a running run with a reason, keeping whatever execution data and
    reviewed blocks exist. On a full disk the store's reserve is given back
    (if there is one) and the failure is written once more, without the
    bulky execution data."""
    try:
        return _fail_run(store, review_run_id, reason, execution, bundle_markdown)
    except StoreError as exc:
        if not exc.full:
            raise
        store.release_reserve()
    return _fail_run(store, review_run_id, reason, None, None)


def _fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    execution: ExecutionData | None,
    bundle_markdown: str | None,
) -> RunOutcome:
    reason = redact(reason.strip()) or "failed without a reason"
    with store.write(create=False) as conn:
        run = running_run(conn, review_run_id, "fail")
        if execution is not None:
            attach(conn, execution, [review_run_id], None)
        set_bundle(conn, review_run_id, bundle_markdown)
        finished = utc_now()
        transition(conn, review_run_id, RunStatus.FAILED, finished, reason)
        batches.close_batch_if_done(conn, run.batch_id, finished)
    return RunOutcome(review_run_id, RunStatus.FAILED, run.model_id, reason)


def transition(
    conn: Connection, review_run_id: int, status: RunStatus, at: str, reason: str | None
) -> None:
    """The guarded move out of `running`: refused when the run left it meanwhile."""
    if runs.finish_running(conn, review_run_id, status.value, at, reason) != 1:
        raise RunNotFinalizable(f"review run {review_run_id} is no longer running; nothing changed")


def reap_stale_runs(store: Store, *, older_than: timedelta, dry_run: bool = False) -> list[int]:
    """Fail runs left `running` longer than `older_than`, or owned by a process
    of this host that is gone, with reason `abandoned`."""
    cutoff = utc_before(older_than)
    host = host_name()
    with store.read() as conn:
        rows = runs.running_runs(conn)
    stale = [
        row.id
        for row in rows
        if row.started_at <= cutoff
        or (row.host == host and row.pid is not None and not _alive(row.pid))
    ]
    if dry_run:
        return stale
    reaped = []
    for run_id in stale:
        try:
            fail_run(store, run_id, ABANDONED)
        except RunNotFinalizable:
            continue  # it finished meanwhile
        reaped.append(run_id)
    return reaped


def _alive(pid: int) -> bool:
    from commonplace.owners import pid_alive

    return pid_alive(pid)  # a zombie owner is a dead one
