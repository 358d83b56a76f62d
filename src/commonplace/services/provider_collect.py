"""Collecting provider batch jobs (`commonplace-collect-provider-batches`):
poll every job not yet collected and, for each that ended, ingest its
results batch by batch through the same salvage finalization the executor
uses (the output parsed with the batch's boundary token, complete runs
finalized and rekeyed to the model that served, missing pairs failed).

It is safe to kill at any point and to run anywhere that reaches the store:
every run is settled in its own transaction, only runs still `running` are
touched, and a job is closed only after all its batches are settled, so a
second collect finishes what a killed one left and otherwise changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from commonplace import lifecycle
from commonplace.errors import UserError
from commonplace.lifecycle import ExecutionData, RunStatus
from commonplace.lifecycle.partitions import actual_model_id
from commonplace.lifecycle.provider_jobs import close_job, job_status
from commonplace.protocol.parser import MalformedOutput
from commonplace.redaction import redact, redact_json
from commonplace.runners import get_runner
from commonplace.runners.api_call import ApiAdapter
from commonplace.runners.batch_jobs import BatchJobs, JobResult, batch_jobs_for
from commonplace.services import artifacts
from commonplace.services.ingest import fail_runs, parse_scope, settle_runs
from commonplace.services.scope import load_batch
from commonplace.store import provider_jobs
from commonplace.store.provider_jobs import JobBatch, JobRow
from commonplace.workspace import Workspace

POLL_S = 30.0


@dataclass
class JobReport:
    job_id: str
    provider: str
    status: str
    ended: bool
    counts: dict[str, int] = field(default_factory=dict)
    completed: int = 0  # runs
    failed: int = 0
    error: str | None = None  # the provider could not be asked


@dataclass(frozen=True)
class CollectReport:
    jobs: tuple[JobReport, ...] = ()

    @property
    def open(self) -> int:
        return sum(1 for job in self.jobs if not job.ended)

    def as_dict(self) -> dict[str, object]:
        return {"jobs": [job.__dict__ for job in self.jobs], "open": self.open}


def collect(ws: Workspace, *, only: Sequence[str] = ()) -> CollectReport:
    """Poll the jobs not yet collected (of `only`, when given) and ingest those that ended."""
    with ws.store.read() as conn:
        jobs = [j for j in provider_jobs.open_jobs(conn) if not only or j.job_id in only]
    reports = []
    clients: dict[str, BatchJobs] = {}
    try:
        for job in jobs:
            reports.append(_collect_job(ws, job, clients))
    finally:
        for client in clients.values():
            client.close()
    return CollectReport(tuple(reports))


def cancel(ws: Workspace, job_id: str) -> CollectReport:
    """Ask the provider to cancel the job, then collect it: its runs fail as
    cancelled once the provider says the job ended."""
    with ws.store.read() as conn:
        job = provider_jobs.find_job(conn, job_id)
    if job is None:
        raise UserError(f"no provider job {job_id!r} in the review store")
    if job.ended_at is not None:
        raise UserError(f"provider job {job_id} was collected already ({job.status})")
    client = _client(ws, job.provider, {})
    try:
        state = client.cancel(job_id)
    except Exception as exc:
        raise UserError(f"cannot cancel {job_id}: {_said(client, exc)}") from None
    finally:
        client.close()
    job_status(ws.store, job.id, state.status)
    return collect(ws, only=[job_id])


def wait(
    ws: Workspace,
    job_ids: Sequence[str],
    *,
    poll_s: float = POLL_S,
    progress: Callable[[CollectReport], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> CollectReport:
    """Collect these jobs until every one ended (or `stop` says so)."""
    report = collect(ws, only=job_ids)
    while report.open:
        if progress is not None:
            progress(report)
        deadline = time.monotonic() + poll_s
        while time.monotonic() < deadline:
            if stop is not None and stop():
                return report
            time.sleep(min(0.2, poll_s))
        report = collect(ws, only=job_ids)
    return report


def _client(ws: Workspace, provider: str, clients: dict[str, BatchJobs]) -> BatchJobs:
    if provider not in clients:
        adapter = get_runner(ws.config, provider)
        if not isinstance(adapter, ApiAdapter):
            raise UserError(f"provider job of unknown runner {provider!r}")
        clients[provider] = batch_jobs_for(adapter, os.environ)
    return clients[provider]


def _said(client: BatchJobs, exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}", client.secrets)[:500]


def _collect_job(ws: Workspace, job: JobRow, clients: dict[str, BatchJobs]) -> JobReport:
    client = _client(ws, job.provider, clients)
    try:
        state = client.state(job.job_id)
    except Exception as exc:  # the next collect asks again
        return JobReport(job.job_id, job.provider, job.status, False, error=_said(client, exc))
    report = JobReport(job.job_id, job.provider, state.status, state.ended, dict(state.counts))
    if not state.ended:
        if state.status != job.status:
            job_status(ws.store, job.id, state.status)
        return report
    with ws.store.read() as conn:
        waiting = {b.custom_id: b for b in provider_jobs.job_batches(conn, job.id) if b.running}
    leftover: str | None = None
    if waiting:
        try:
            for result in client.results(job.job_id, state):
                if not result.custom_id:  # said of every request that has no line
                    leftover = result.failure
                    continue
                batch = waiting.pop(result.custom_id, None)
                if batch is not None:
                    _ingest(ws, client, job, batch, result, report)
        except Exception as exc:  # results unreadable now: the next collect tries again
            report.error = _said(client, exc)
            report.ended = False
            return report
    reason = leftover or f"no result for this request in provider job {job.job_id} ({state.status})"
    for batch in waiting.values():
        outcome = fail_runs(ws.store, load_batch(ws.store, batch.batch_id), reason)
        report.failed += len(outcome.outcomes)
    close_job(ws.store, job.id, state.status)
    return report


def _ingest(
    ws: Workspace,
    client: BatchJobs,
    job: JobRow,
    batch: JobBatch,
    result: JobResult,
    report: JobReport,
) -> None:
    """One request's result on its batch's runs, as the executor settles a call."""
    store, config = ws.store, ws.config
    scope = load_batch(store, batch.batch_id)
    reply = result.reply
    if reply is None:
        outcome = fail_runs(store, scope, result.failure or "no result")
        report.failed += len(outcome.outcomes)
        return
    text = redact(reply.text, client.secrets)
    telemetry = client.telemetry(
        reply, batch.requested_model, batch.requested_effort, job.job_id, batch.custom_id
    )
    data = redact_json(dict(telemetry.as_dict()), client.secrets)
    lifecycle.attach_execution_data(
        store,
        ExecutionData(
            telemetry=data,
            debug_log=f"provider batch job {job.job_id}, request {batch.custom_id}",
            raw_output=text or None,
        ),
        batch_id=batch.batch_id,
    )
    if text:
        with contextlib.suppress(Exception):  # a convenience copy: the store has it
            artifacts.keep_raw_output(config, batch.batch_id, text)
    per_run = ExecutionData(
        telemetry={**data, "batch_id": batch.batch_id, "runs_in_batch": len(scope)}
    )
    failure = reply.stop
    try:
        bodies, untokened = parse_scope(store, scope, text) if text.strip() else ({}, 0)
    except MalformedOutput as anomaly:
        reason = f"malformed output: {anomaly.message}"
        if failure is not None:
            reason = f"{failure.reason()}; {reason}"
        outcome = fail_runs(store, scope, reason, per_run)
        report.failed += len(outcome.outcomes)
        return
    why = failure.reason() if failure is not None else None
    if why is None and not bodies and untokened:
        why = f"no sentinel line carries the batch's boundary token ({untokened} without it)"
    settled = settle_runs(
        config,
        store,
        scope,
        bodies,
        execution=per_run,
        actual_model_id=actual_model_id(data, batch.requested_effort),
        incomplete_reason=why,
    )
    report.completed += sum(1 for o in settled.outcomes if o.status is RunStatus.COMPLETED)
    report.failed += sum(1 for o in settled.outcomes if o.status is RunStatus.FAILED)
