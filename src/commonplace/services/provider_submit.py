"""Submitting a sweep as provider batch jobs (`--provider-batch`, issue 15
item 5): each planned batch gets its runs (owned by this process under a
lease, as in any sweep), its prompt is rendered and saved as the executor
does, and becomes one request; the requests go out in as few jobs as the
provider's limits allow, and each job, once accepted, takes over its runs.
A job the provider refuses fails its runs with the provider's reason.
Nothing here prints; `commonplace-collect-provider-batches` ingests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from commonplace import lifecycle
from commonplace.clock import utc_after
from commonplace.errors import UsageError
from commonplace.lifecycle import AllClaimed, Packing
from commonplace.lifecycle.provider_jobs import hand_to_job
from commonplace.lifecycle.targets import Plan, SkippedPair
from commonplace.redaction import redact
from commonplace.runners.api_call import ApiAdapter
from commonplace.runners.base import Call
from commonplace.runners.batch_jobs import BatchJobs, Pending, batch_jobs_for
from commonplace.safe_files import LinkRefused
from commonplace.services import artifacts
from commonplace.services.batch import render_batch_prompt
from commonplace.services.execution import RunnerCall
from commonplace.services.executor import create_owned_batch
from commonplace.services.ingest import fail_runs
from commonplace.services.leases import LeaseRenewer
from commonplace.services.manifest import Requested, batch_manifest
from commonplace.services.scope import load_batch
from commonplace.workspace import Workspace


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    status: str
    batch_ids: tuple[int, ...]


@dataclass(frozen=True)
class Submission:
    jobs: tuple[SubmittedJob, ...] = ()
    refused: tuple[tuple[tuple[int, ...], str], ...] = ()  # (batch ids, why)
    claimed: tuple[SkippedPair, ...] = ()

    @property
    def requests(self) -> int:
        return sum(len(job.batch_ids) for job in self.jobs)

    @property
    def batches_refused(self) -> int:
        return sum(len(ids) for ids, _ in self.refused)


def require_batch_runner(adapter: object) -> ApiAdapter:
    """The adapter, when it can submit provider batch jobs (a UsageError otherwise)."""
    if not isinstance(adapter, ApiAdapter):
        name = getattr(adapter, "name", "?")
        raise UsageError(
            f"--provider-batch needs an API runner (anthropic-api or openai-api), not {name}"
        )
    return adapter


def provider_jobs_of(runner: RunnerCall) -> BatchJobs:
    """The runner's batch-job client (a UserError for a CLI runner or a missing key)."""
    return batch_jobs_for(require_batch_runner(runner.adapter), os.environ)


def submit_plans(
    ws: Workspace,
    runner: RunnerCall,
    plans: Sequence[Plan],
    packing: Packing,
    *,
    claim: bool = False,
) -> Submission:
    jobs = provider_jobs_of(runner)
    try:
        with LeaseRenewer(ws.store, ws.config.lease_seconds):
            pending, claimed = _prepare(ws, runner, plans, packing, jobs, claim)
            submitted, refused = _send(ws, jobs, pending)
    finally:
        jobs.close()
    return Submission(tuple(submitted), tuple(refused), tuple(claimed))


def _prepare(
    ws: Workspace,
    runner: RunnerCall,
    plans: Sequence[Plan],
    packing: Packing,
    jobs: BatchJobs,
    claim: bool,
) -> tuple[list[Pending], list[SkippedPair]]:
    """Create each batch's runs, render and save its prompt, build its request."""
    config, store = ws.config, ws.store
    pending: list[Pending] = []
    claimed: list[SkippedPair] = []
    for plan in plans:
        try:
            created, plan = create_owned_batch(
                config, store, plan, runner, packing=packing, claim=claim
            )
        except AllClaimed as taken:
            claimed += taken.skipped
            continue
        claimed += created.claimed
        try:
            run_ids = [run.review_run_id for run in created.runs]
            prompt = render_batch_prompt(config, plan, run_ids, token=created.boundary_token)
            lifecycle.record_prompt(
                store,
                created.batch_id,
                sha256=prompt.sha256,
                chars=prompt.chars,
                version=prompt.version,
            )
            requested = Requested(runner.model, runner.partition.effort)
            manifest = batch_manifest(config, plan, created, prompt, requested=requested)
            try:
                artifacts.write_batch_files(
                    config, created.batch_id, prompt=prompt.text, manifest=manifest
                )
            except LinkRefused:
                raise
            except Exception:  # a convenience copy; the store has the prompt's hash
                pass
            call = Call(
                prompt.text,
                runner.model,
                runner.partition.effort,
                config.kb_root,
                prompt.cache_points,
            )
            custom_id = f"commonplace-{created.batch_id}-{secrets.token_hex(8)}"
            pending.append(jobs.pending(created.batch_id, custom_id, call))
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc}"
            fail_runs(store, load_batch(store, created.batch_id), reason)
            raise
    return pending, claimed


def _send(
    ws: Workspace, jobs: BatchJobs, pending: Sequence[Pending]
) -> tuple[list[SubmittedJob], list[tuple[tuple[int, ...], str]]]:
    submitted: list[SubmittedJob] = []
    refused: list[tuple[tuple[int, ...], str]] = []
    chunks = jobs.split(pending)
    for index, chunk in enumerate(chunks):
        ids = tuple(p.batch_id for p in chunk)
        try:
            job_id, status = jobs.submit(chunk)
        except BaseException as exc:
            said = redact(f"{type(exc).__name__}: {exc}", jobs.secrets)[:500]
            reason = f"provider batch job not submitted: {said}"
            if isinstance(exc, KeyboardInterrupt):
                reason = "interrupted"
            for later in chunks[index:] if isinstance(exc, KeyboardInterrupt) else [chunk]:
                for item in later:
                    fail_runs(ws.store, load_batch(ws.store, item.batch_id), reason)
            if isinstance(exc, KeyboardInterrupt):
                raise
            refused.append((ids, reason))
            continue
        hand_to_job(
            ws.store,
            provider=jobs.adapter.name,
            job_id=job_id,
            status=status,
            deliver_until=utc_after(jobs.keeps),
            batches=[(p.batch_id, p.custom_id) for p in chunk],
        )
        submitted.append(SubmittedJob(job_id, status, ids))
    return submitted, refused
