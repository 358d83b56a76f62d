"""Provider batch jobs through the official SDKs (issue 15 item 5): the
Anthropic Message Batches API and the OpenAI Batch API. Each batch of a
sweep is one request of a job, named by a custom_id; a job holds at most
what the provider documents (Anthropic: 100,000 requests or 256 MB; OpenAI:
50,000 requests, a 200 MB input file), and `split` cuts a sweep to fit.
Requests are built by the same functions the direct runners use, so a
batch job asks exactly what a direct call would, at half the price.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from commonplace.errors import UserError
from commonplace.runners.anthropic_api import AnthropicApiAdapter, message_params, reply_of
from commonplace.runners.api_call import ApiAdapter, Reply, _error_text
from commonplace.runners.base import Call
from commonplace.runners.openai_api import (
    OpenAIApiAdapter,
    chat_reply,
    request_params,
    response_reply,
)
from commonplace.runners.pricing import Usage, cost_of, missing_note
from commonplace.runners.telemetry import Telemetry

CLIENT_TIMEOUT = 120.0


@dataclass(frozen=True)
class JobState:
    status: str  # the provider's word
    ended: bool  # no more results will come
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    """One request's outcome: a reply, or why there is none."""

    custom_id: str
    reply: Reply | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Pending:
    batch_id: int
    custom_id: str
    request: dict[str, Any]
    size: int  # bytes of the request as sent


class BatchJobs(ABC):
    max_requests: int
    max_bytes: int
    keeps: timedelta  # how long after submission the job can still deliver

    def __init__(self, adapter: ApiAdapter, env: Mapping[str, str]) -> None:
        self.adapter = adapter
        module = adapter.module()
        self.client = adapter.client(
            module, adapter.key(env), adapter.base_url(env), CLIENT_TIMEOUT
        )
        self.secrets = (adapter.key(env),)
        self.version = f"{adapter.sdk}-python {getattr(module, '__version__', '?')}"

    def pending(self, batch_id: int, custom_id: str, call: Call) -> Pending:
        request = self.request(custom_id, call)
        return Pending(batch_id, custom_id, request, len(json.dumps(request).encode()) + 1)

    def split(self, pending: Sequence[Pending]) -> list[list[Pending]]:
        """Consecutive requests in jobs within the provider's limits (a
        single request over the size limit goes alone, for the provider to refuse)."""
        jobs: list[list[Pending]] = []
        size = 0
        for item in pending:
            if not jobs or len(jobs[-1]) >= self.max_requests or size + item.size > self.max_bytes:
                jobs.append([])
                size = 0
            jobs[-1].append(item)
            size += item.size
        return [job for job in jobs if job]

    @abstractmethod
    def request(self, custom_id: str, call: Call) -> dict[str, Any]: ...

    @abstractmethod
    def submit(self, requests: Sequence[Pending]) -> tuple[str, str]:
        """Create one job; its id and status."""

    @abstractmethod
    def state(self, job_id: str) -> JobState: ...

    @abstractmethod
    def results(self, job_id: str, state: JobState) -> Iterator[JobResult]: ...

    @abstractmethod
    def cancel(self, job_id: str) -> JobState: ...

    def close(self) -> None:
        self.client.close()

    def telemetry(
        self, reply: Reply, model: str, effort: str | None, job: str, custom_id: str
    ) -> Telemetry:
        """A request's telemetry, its cost at batch prices. The request is
        known by its custom_id in the job (and the provider's id, if it gave one)."""
        adapter = self.adapter
        price = adapter.prices.find(reply.model) or adapter.prices.find(model)
        details: dict[str, Any] = {
            **reply.details,
            "request_id": reply.request_id or custom_id,
            "custom_id": custom_id,
            "provider_job": job,
            "provider_batch": True,
        }
        usage = Usage.of(reply.tokens, adapter.input_includes_cache)
        if price is None:
            details["cost_note"] = missing_note(reply.model or model)
        return Telemetry(
            runner=adapter.name,
            cli_version=self.version,
            model=reply.model,
            models=(reply.model,) if reply.model else (),
            requested_model=model,
            effort=effort,
            tokens=reply.tokens,
            input_includes_cache_read=adapter.input_includes_cache,
            cost_usd=cost_of(price, usage, batch=True) if price is not None else None,
            turns=1,
            session_id=reply.request_id or custom_id,
            sources=("provider-batch",),
            details=details,
        )


def _said(error: Any) -> str:
    """`type: message` of an error object or body of either provider."""
    body = error.model_dump() if hasattr(error, "model_dump") else error
    if isinstance(body, dict) and "error" not in body:
        body = {"error": body}
    message, code = _error_text(body, "")
    return f"{code}: {message}" if code else message or "no reason given"


class AnthropicJobs(BatchJobs):
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024
    keeps = timedelta(days=29)  # results are kept 29 days after creation

    def request(self, custom_id: str, call: Call) -> dict[str, Any]:
        params = message_params(call, max_tokens=self.adapter.settings.max_output_tokens)
        return {"custom_id": custom_id, "params": params}

    def submit(self, requests: Sequence[Pending]) -> tuple[str, str]:
        job = self.client.messages.batches.create(requests=[p.request for p in requests])
        return str(job.id), str(job.processing_status)

    def state(self, job_id: str) -> JobState:
        job = self.client.messages.batches.retrieve(job_id)
        counts = job.request_counts.model_dump() if job.request_counts else {}
        return JobState(str(job.processing_status), job.processing_status == "ended", counts)

    def results(self, job_id: str, state: JobState) -> Iterator[JobResult]:
        for line in self.client.messages.batches.results(job_id):
            result, kind = line.result, line.result.type
            if kind == "succeeded":
                yield JobResult(line.custom_id, reply=reply_of(result.message))
            elif kind == "errored":
                yield JobResult(line.custom_id, failure=f"request errored: {_said(result.error)}")
            elif kind == "expired":
                yield JobResult(
                    line.custom_id, failure=f"request expired: job {job_id} ended before it ran"
                )
            else:
                yield JobResult(
                    line.custom_id, failure=f"cancelled: provider batch job {job_id} was cancelled"
                )

    def cancel(self, job_id: str) -> JobState:
        self.client.messages.batches.cancel(job_id)
        return self.state(job_id)


_OPENAI_ENDED = {"completed", "failed", "expired", "cancelled"}


class OpenAIJobs(BatchJobs):
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    keeps = timedelta(hours=24)  # the completion window

    @property
    def api(self) -> str:
        return self.adapter.settings.api or "responses"

    @property
    def endpoint(self) -> str:
        return "/v1/chat/completions" if self.api == "chat" else "/v1/responses"

    def request(self, custom_id: str, call: Call) -> dict[str, Any]:
        body = request_params(
            call, api=self.api, max_tokens=self.adapter.settings.max_output_tokens
        )
        return {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body}

    def submit(self, requests: Sequence[Pending]) -> tuple[str, str]:
        data = "".join(json.dumps(p.request) + "\n" for p in requests).encode()
        upload = self.client.files.create(file=("commonplace-batch.jsonl", data), purpose="batch")
        job = self.client.batches.create(
            input_file_id=upload.id, endpoint=self.endpoint, completion_window="24h"
        )
        return str(job.id), str(job.status)

    def _job(self, job_id: str) -> Any:
        return self.client.batches.retrieve(job_id)

    def state(self, job_id: str) -> JobState:
        job = self._job(job_id)
        counts = job.request_counts.model_dump() if job.request_counts else {}
        return JobState(str(job.status), job.status in _OPENAI_ENDED, counts)

    def results(self, job_id: str, state: JobState) -> Iterator[JobResult]:
        job = self._job(job_id)
        for file_id in (job.output_file_id, job.error_file_id):
            if not file_id:
                continue
            for raw in self.client.files.content(file_id).text.splitlines():
                if raw.strip():
                    yield self._line(json.loads(raw))
        if job.status in ("expired", "cancelled", "failed"):
            errors = getattr(job, "errors", None)
            said = "; ".join(_said(e) for e in (getattr(errors, "data", None) or []))
            why = {
                "expired": f"request expired: job {job_id} ended before it ran",
                "cancelled": f"cancelled: provider batch job {job_id} was cancelled",
                "failed": f"provider batch job {job_id} failed: {said or 'no reason given'}",
            }[job.status]
            yield JobResult("", failure=why)  # for every request without a line

    def _line(self, line: Mapping[str, Any]) -> JobResult:
        custom_id = str(line.get("custom_id", ""))
        response = line.get("response") or {}
        body = response.get("body") or {}
        error = line.get("error")
        if isinstance(error, Mapping) and error.get("code") == "batch_expired":
            return JobResult(custom_id, failure="request expired: the completion window ended")
        if error or response.get("status_code") != 200:
            error = error or body
            return JobResult(custom_id, failure=f"request errored: {_said(error)}")
        module = self.adapter.module()
        if self.api == "chat":
            reply = chat_reply(module.types.chat.ChatCompletion.model_validate(body))
        else:
            reply = response_reply(module.types.responses.Response.model_validate(body))
        request_id = response.get("request_id") or reply.request_id
        return JobResult(custom_id, reply=Reply(**{**reply.__dict__, "request_id": request_id}))

    def cancel(self, job_id: str) -> JobState:
        self.client.batches.cancel(job_id)
        return self.state(job_id)


def batch_jobs_for(adapter: ApiAdapter, env: Mapping[str, str]) -> BatchJobs:
    if isinstance(adapter, AnthropicApiAdapter):
        return AnthropicJobs(adapter, env)
    if isinstance(adapter, OpenAIApiAdapter):
        return OpenAIJobs(adapter, env)
    raise UserError(
        f"--provider-batch needs an API runner (anthropic-api or openai-api), not {adapter.name}"
    )
