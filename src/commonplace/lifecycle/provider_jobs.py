"""Handing runs to a provider batch job, and closing the job once collected.

A provider-batch sweep creates its runs owned by itself under a lease (like
any sweep), submits them, and then, in one transaction, records the job,
names it and the request's custom_id on each batch, and lets go of the runs:
from then on the job owns them (`claims`, `fail.stale_runs`). A sweep killed
before that hand-over leaves runs whose lease expires and which the reaper
fails, as for any dead owner.
"""

from __future__ import annotations

from collections.abc import Sequence

from commonplace.clock import utc_now
from commonplace.store import provider_jobs
from commonplace.store.connection import Store


def hand_to_job(
    store: Store,
    *,
    provider: str,
    job_id: str,
    status: str,
    deliver_until: str,
    batches: Sequence[tuple[int, str]],
    detail: str | None = None,
) -> int:
    """Record the job and move its batches' running runs to it; the job's row id."""
    with store.write(create=False) as conn:
        job = provider_jobs.add_job(
            conn,
            provider=provider,
            job_id=job_id,
            status=status,
            submitted_at=utc_now(),
            deliver_until=deliver_until,
            detail=detail,
        )
        provider_jobs.attach_batches(conn, job, batches)
        provider_jobs.release_runs(conn, [batch_id for batch_id, _ in batches])
    return job


def job_status(store: Store, job: int, status: str, detail: str | None = None) -> None:
    with store.write(create=False) as conn:
        provider_jobs.set_status(conn, job, status, detail)


def close_job(store: Store, job: int, status: str) -> None:
    """The job is collected: its runs are all settled, it owns nothing more."""
    with store.write(create=False) as conn:
        provider_jobs.end_job(conn, job, status, utc_now())
