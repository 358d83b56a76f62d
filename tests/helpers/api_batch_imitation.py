"""The batch endpoints of the loopback API imitation (test support):

- Anthropic Message Batches: ``POST /v1/messages/batches`` (``requests:
  [{custom_id, params}]``), ``GET /v1/messages/batches/{id}``, ``GET
  .../{id}/results`` (JSONL), ``POST .../{id}/cancel``.
- OpenAI: ``POST /v1/files`` (multipart, purpose "batch"), ``GET
  /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``,
  ``POST /v1/batches/{id}/cancel``.

A job is in progress when created and has run to its end at the next
retrieve (unless ``ApiImitation.hold_jobs``; ``finish_jobs`` ends held
ones). Each request is answered by ``ApiImitation.answer`` (the same review
text, usage and cache accounting as a direct call), except those that
``ApiImitation.job_outcomes`` (request index -> "errored" / "expired",
taken by the next job created) say otherwise. A cancelled job is
"canceling" for two retrieves, then ended with every request it had
not run cancelled.
"""

from __future__ import annotations

import email.parser
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from helpers.api_imitation import ApiImitation, success_payload


@dataclass
class Job:
    id: str
    anthropic: bool
    requests: list[dict[str, Any]]
    endpoint: str = ""
    input_file_id: str = ""
    outcomes: dict[int, str] = field(default_factory=dict)
    status: str = "in_progress"
    cancelling: bool = False
    cancel_polls: int = 2  # retrieves that still say "canceling"
    lines: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_at: int = field(default_factory=lambda: int(time.time()))
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ("ended", "completed", "cancelled", "expired", "failed")


def route(
    api: ApiImitation, method: str, path: str, raw: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | bytes]:
    parts = path.split("?")[0].strip("/").split("/")
    if parts[:3] == ["v1", "messages", "batches"]:
        if method == "POST" and len(parts) == 3:
            return _create_anthropic(api, json.loads(raw))
        job = api.batch_jobs.get(parts[3]) if len(parts) > 3 else None
        if job is None:
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        if len(parts) == 5 and parts[4] == "cancel":
            job.cancelling = True
            return 200, _anthropic_view(api, job)
        _advance(api, job)
        if len(parts) == 5 and parts[4] == "results":
            return 200, "".join(json.dumps(line) + "\n" for line in job.lines).encode()
        return 200, _anthropic_view(api, job)
    if parts[:2] == ["v1", "files"]:
        if method == "POST":
            return _upload(api, raw, headers)
        data = api.files.get(parts[2]) if len(parts) > 2 else None
        if data is None:
            return 404, {"error": {"message": "no such file", "type": "invalid_request_error"}}
        return 200, data
    if parts[:2] == ["v1", "batches"]:
        if method == "POST" and len(parts) == 2:
            return _create_openai(api, json.loads(raw))
        job = api.batch_jobs.get(parts[2]) if len(parts) > 2 else None
        if job is None:
            return 404, {"error": {"message": "no such batch", "type": "invalid_request_error"}}
        if len(parts) == 4 and parts[3] == "cancel":
            job.cancelling = True
            job.status = "cancelling" if not job.ended else job.status
            return 200, _openai_view(job)
        _advance(api, job)
        return 200, _openai_view(job)
    return 404, {"error": {"message": f"no route {path}"}}


def _take_outcomes(api: ApiImitation) -> dict[int, str]:
    outcomes, api.job_outcomes = dict(api.job_outcomes), {}
    return outcomes


def _create_anthropic(api: ApiImitation, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    job = Job(f"msgbatch_{uuid.uuid4().hex[:24]}", True, list(body["requests"]))
    job.outcomes = _take_outcomes(api)
    api.batch_jobs[job.id] = job
    return 200, _anthropic_view(api, job)


def _upload(api: ApiImitation, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    head = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + raw)
    data = b""
    for part in message.walk():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True) or b""
    file_id = f"file-{uuid.uuid4().hex[:24]}"
    api.files[file_id] = data
    return 200, {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": "input.jsonl",
        "purpose": "batch",
        "status": "processed",
    }


def _create_openai(api: ApiImitation, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = api.files[body["input_file_id"]].decode()
    requests = [json.loads(line) for line in data.splitlines() if line.strip()]
    job = Job(f"batch_{uuid.uuid4().hex[:24]}", False, requests, body["endpoint"])
    job.input_file_id = body["input_file_id"]
    job.outcomes = _take_outcomes(api)
    api.batch_jobs[job.id] = job
    return 200, _openai_view(job)


def _advance(api: ApiImitation, job: Job) -> None:
    if job.ended:
        return
    if job.cancelling:
        job.cancel_polls -= 1
        if job.cancel_polls < 0:
            _cancel(api, job)
    elif not api.hold_jobs:
        finish(api, job)


def finish(api: ApiImitation, job: Job) -> None:
    """Run every request of the job and end it."""
    if job.ended:
        return
    for index, request in enumerate(job.requests):
        outcome = job.outcomes.get(index)
        if job.anthropic:
            job.lines.append(_anthropic_line(api, request, outcome))
        else:
            line = _openai_line(api, request, outcome)
            (job.errors if line["response"] is None or line["error"] else job.lines).append(line)
    _close(api, job, "ended" if job.anthropic else "completed")


def _cancel(api: ApiImitation, job: Job) -> None:
    for request in job.requests:
        if job.anthropic:
            job.lines.append({"custom_id": request["custom_id"], "result": {"type": "canceled"}})
    _close(api, job, "ended" if job.anthropic else "cancelled")


def _close(api: ApiImitation, job: Job, status: str) -> None:
    job.status = status
    if not job.anthropic:
        if job.lines:
            job.output_file_id = f"file-{uuid.uuid4().hex[:24]}"
            api.files[job.output_file_id] = "".join(
                json.dumps(x) + "\n" for x in job.lines
            ).encode()
        if job.errors:
            job.error_file_id = f"file-{uuid.uuid4().hex[:24]}"
            api.files[job.error_file_id] = "".join(
                json.dumps(x) + "\n" for x in job.errors
            ).encode()


def _anthropic_line(
    api: ApiImitation, request: dict[str, Any], outcome: str | None
) -> dict[str, Any]:
    custom_id = request["custom_id"]
    if outcome == "errored":
        error = {"type": "invalid_request_error", "message": "max_tokens: too large for model"}
        return {
            "custom_id": custom_id,
            "result": {"type": "errored", "error": {"type": "error", "error": error}},
        }
    if outcome == "expired":
        return {"custom_id": custom_id, "result": {"type": "expired"}}
    params = request["params"]
    seen = api.answer("/v1/messages", params, {})
    message = success_payload(api, "/v1/messages", seen, params)
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def _openai_line(api: ApiImitation, request: dict[str, Any], outcome: str | None) -> dict[str, Any]:
    custom_id = request["custom_id"]
    line: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex[:20]}", "custom_id": custom_id}
    if outcome == "expired":
        message = "This request could not be executed before the completion window expired."
        return {**line, "response": None, "error": {"code": "batch_expired", "message": message}}
    request_id = f"req_imit_{uuid.uuid4().hex[:20]}"
    if outcome == "errored":
        body: dict[str, Any] = {
            "error": {"message": "Invalid value for 'reasoning'", "type": "invalid_request_error"}
        }
        response = {"status_code": 400, "request_id": request_id, "body": body}
        return {**line, "response": response, "error": None}
    seen = api.answer(request["url"], request["body"], {})
    body = success_payload(api, request["url"], seen, request["body"])
    response = {"status_code": 200, "request_id": request_id, "body": body}
    return {**line, "response": response, "error": None}


def _counts(job: Job) -> dict[str, int]:
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if not job.ended:
        counts["processing"] = len(job.requests)
        return counts
    for line in job.lines:
        counts[line["result"]["type"]] += 1
    return counts


def _anthropic_view(api: ApiImitation, job: Job) -> dict[str, Any]:
    status = job.status if job.ended else "canceling" if job.cancelling else "in_progress"
    return {
        "id": job.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": _counts(job),
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-02T00:00:00Z",
        "ended_at": "2026-01-01T01:00:00Z" if job.ended else None,
        "archived_at": None,
        "cancel_initiated_at": "2026-01-01T00:30:00Z" if job.cancelling else None,
        "results_url": f"{api.url}/v1/messages/batches/{job.id}/results" if job.ended else None,
    }


def _openai_view(job: Job) -> dict[str, Any]:
    failed = len(job.errors)
    done = len(job.lines)
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.endpoint,
        "errors": None,
        "input_file_id": job.input_file_id,
        "completion_window": "24h",
        "status": job.status,
        "output_file_id": job.output_file_id,
        "error_file_id": job.error_file_id,
        "created_at": job.created_at,
        "request_counts": {"total": len(job.requests), "completed": done, "failed": failed},
    }
