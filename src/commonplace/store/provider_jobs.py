"""Provider batch jobs and the batches they carry (issue 15 item 5). The
lifecycle writes these rows; services read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection


class JobRow(NamedTuple):
    id: int
    provider: str  # the runner: anthropic-api, openai-api
    job_id: str
    status: str
    submitted_at: str
    deliver_until: str
    ended_at: str | None
    detail: str | None


class JobBatch(NamedTuple):
    batch_id: int
    custom_id: str
    running: int  # its runs still `running`
    requested_model: str
    requested_effort: str | None


_JOB = (
    "SELECT id, provider, job_id, status, submitted_at, deliver_until, ended_at, detail"
    " FROM provider_jobs"
)


def add_job(
    conn: Connection,
    *,
    provider: str,
    job_id: str,
    status: str,
    submitted_at: str,
    deliver_until: str,
    detail: str | None,
) -> int:
    row = conn.execute(
        "INSERT INTO provider_jobs (uid, provider, job_id, status, submitted_at,"
        " deliver_until, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (new_uid(), provider, job_id, status, submitted_at, deliver_until, detail),
    ).fetchone()
    return int(row[0])


def attach_batches(conn: Connection, job: int, batches: Sequence[tuple[int, str]]) -> None:
    """Record the job and the request's custom_id on each batch."""
    for batch_id, custom_id in batches:
        conn.execute(
            "UPDATE review_batches SET provider_job_id = ?, provider_custom_id = ? WHERE id = ?",
            (job, custom_id, batch_id),
        )


def release_runs(conn: Connection, batch_ids: Sequence[int]) -> int:
    """The submitting process lets go of these batches' running runs: from
    now on the job owns them (no host, pid or lease)."""
    total = 0
    for batch_id in batch_ids:
        total += conn.execute(
            "UPDATE review_runs SET host = NULL, pid = NULL, owner_started_at = NULL,"
            " lease_expires_at = NULL WHERE batch_id = ? AND status = 'running'",
            (batch_id,),
        ).rowcount
    return total


def open_jobs(conn: Connection) -> list[JobRow]:
    """Jobs not yet collected, oldest first."""
    return [JobRow(*row) for row in conn.execute(f"{_JOB} WHERE ended_at IS NULL ORDER BY id")]


def find_job(conn: Connection, job_id: str) -> JobRow | None:
    row = conn.execute(f"{_JOB} WHERE job_id = ? ORDER BY id LIMIT 1", (job_id,)).fetchone()
    return None if row is None else JobRow(*row)


def all_jobs(conn: Connection) -> list[JobRow]:
    return [JobRow(*row) for row in conn.execute(f"{_JOB} ORDER BY id")]


def job_batches(conn: Connection, job: int) -> list[JobBatch]:
    rows = conn.execute(
        "SELECT b.id, b.provider_custom_id,"
        " (SELECT COUNT(*) FROM review_runs r WHERE r.batch_id = b.id AND r.status = 'running'),"
        " b.requested_model, b.requested_effort FROM review_batches b"
        " WHERE b.provider_job_id = ? ORDER BY b.id",
        (job,),
    ).fetchall()
    return [JobBatch(int(r[0]), str(r[1]), int(r[2]), str(r[3]), r[4]) for r in rows]


def set_status(conn: Connection, job: int, status: str, detail: str | None) -> None:
    conn.execute(
        "UPDATE provider_jobs SET status = ?, detail = COALESCE(?, detail) WHERE id = ?",
        (status, detail, job),
    )


def end_job(conn: Connection, job: int, status: str, ended_at: str) -> None:
    conn.execute(
        "UPDATE provider_jobs SET status = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL",
        (status, ended_at, job),
    )


def job_owned_runs(conn: Connection) -> dict[int, tuple[str, str]]:
    """Running runs in a job not yet collected: run id -> (job id, deliver_until)."""
    rows = conn.execute(
        "SELECT r.id, j.job_id, j.deliver_until FROM review_runs r"
        " JOIN review_batches b ON b.id = r.batch_id"
        " JOIN provider_jobs j ON j.id = b.provider_job_id"
        " WHERE r.status = 'running' AND j.ended_at IS NULL"
    ).fetchall()
    return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}
