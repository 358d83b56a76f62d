"""Failing runs: one with a reason, and reaping those whose owner is gone or
that have run too long."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from commonplace.clock import utc_before, utc_now
from commonplace.lifecycle.create import host_name
from commonplace.lifecycle.leases import expired_reason
from commonplace.lifecycle.record import attach, running_run, set_bundle
from commonplace.lifecycle.types import (
    ABANDONED,
    ExecutionData,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
)
from commonplace.owners import owner_gone
from commonplace.redaction import redact
from commonplace.store import batches, provider_jobs, runs
from commonplace.store.connection import Connection, Store, StoreError


def fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    *,
    execution: ExecutionData | None = None,
    bundle_markdown: str | None = None,
    lease_expired: bool = False,
) -> RunOutcome:
    """Fail a running run with a reason, keeping whatever execution data and
    reviewed blocks exist; with `lease_expired` (the reaper), only while its
    lease is expired. On a full disk the store's reserve is given back
    (if there is one) and the failure is written once more, without the
    bulky execution data."""
    try:
        return _fail_run(store, review_run_id, reason, execution, bundle_markdown, lease_expired)
    except StoreError as exc:
        if not exc.full:
            raise
        store.release_reserve(part=True)  # batches failing with this one need room too
    return _fail_run(store, review_run_id, reason, None, None, lease_expired)


def _fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    execution: ExecutionData | None,
    bundle_markdown: str | None,
    lease_expired: bool = False,
) -> RunOutcome:
    with store.write(create=False) as conn:
        if lease_expired and not runs.lease_expired(conn, review_run_id, utc_now()):
            running_run(conn, review_run_id, "fail")  # a run no longer running says so first
            # another machine's clock saw it live; the owner may still finish it
            raise RunNotFinalizable(f"review run {review_run_id} is under a live lease")
        return fail_in(conn, review_run_id, reason, execution, bundle_markdown)


def fail_in(
    conn: Connection,
    review_run_id: int,
    reason: str,
    execution: ExecutionData | None,
    bundle_markdown: str | None,
) -> RunOutcome:
    """Fail a running run inside the caller's write transaction."""
    reason = redact(reason.strip()) or "failed without a reason"
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


class StaleRun(NamedTuple):
    """A running run the reaper fails, and why."""

    review_run_id: int
    reason: str
    lease_expired: bool = False


def stale_runs(store: Store, *, older_than: timedelta) -> list[StaleRun]:
    """Running runs whose lease expired, on any host; runs owned by a
    process of this host that is gone (`abandoned`: no need to wait for the
    lease); and, of those without a lease, the ones older than `older_than`.
    A run waiting on a provider job is stale only once the job can no
    longer deliver.
    A run under a live lease is never stale by age: its owner is at work,
    and its runner has its own timeout."""
    cutoff, now, host = utc_before(older_than), utc_now(), host_name()
    with store.read() as conn:
        rows = runs.running_runs(conn)
        jobs = provider_jobs.job_owned_runs(conn)
    stale = []
    for row in rows:
        if row.id in jobs:  # owned by a provider job, not by a process
            job_id, until = jobs[row.id]
            if until <= now:
                stale.append(StaleRun(row.id, job_gone_reason(job_id, until)))
        elif row.lease_expires_at is not None and row.lease_expires_at <= now:
            reason = expired_reason(row.host, row.pid, row.lease_expires_at)
            stale.append(StaleRun(row.id, reason, lease_expired=True))
        elif _abandoned(row, host, cutoff):
            stale.append(StaleRun(row.id, ABANDONED))
    return stale


def _abandoned(row: runs.RunningRow, host: str, cutoff: str) -> bool:
    if row.host == host and row.pid is not None and owner_gone(row.pid, row.owner_started_at):
        return True
    return row.lease_expires_at is None and row.started_at <= cutoff


def job_gone_reason(job_id: str, until: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in job_id)[:200]
    return f"provider job {shown} can no longer deliver (its results were due by {until})"


def reap_runs(store: Store, *, older_than: timedelta, dry_run: bool = False) -> list[StaleRun]:
    """Fail the `stale_runs`, each with its reason; those that finished (or
    were renewed) meanwhile are left alone and not listed. With `dry_run`,
    only list them."""
    stale = stale_runs(store, older_than=older_than)
    if dry_run:
        return stale
    reaped = []
    for run in stale:
        try:
            fail_run(store, run.review_run_id, run.reason, lease_expired=run.lease_expired)
        except RunNotFinalizable:
            continue  # it finished meanwhile
        reaped.append(run)
    return reaped


def reap_stale_runs(store: Store, *, older_than: timedelta, dry_run: bool = False) -> list[int]:
    """The ids of the runs `reap_runs` failed (or would fail)."""
    return [run.review_run_id for run in reap_runs(store, older_than=older_than, dry_run=dry_run)]
