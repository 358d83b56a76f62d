"""A loopback imitation of the two provider APIs the API runners call
(test support, not a test module).

:class:`ApiImitation` is an HTTP server on 127.0.0.1 that answers, without
streaming, like the providers do:

- ``POST /v1/messages`` (Anthropic Messages): the prompt arrives as text
  blocks; each block with ``cache_control`` is a breakpoint. It really
  caches: a prefix up to a breakpoint that an earlier request of the same
  model also sent up to a breakpoint is read from the cache; the rest up to
  the last breakpoint is written to it. Usage reports ``input_tokens``
  (uncached), ``cache_read_input_tokens``, ``cache_creation_input_tokens``;
  the system prompt counts as input and as part of every cached prefix, as
  the real API counts it.
- ``POST /v1/responses`` and ``POST /v1/chat/completions`` (OpenAI): cached
  input is the longest prefix shared with an earlier request under the same
  ``prompt_cache_key``, counted inside ``input_tokens`` (in steps of 128
  tokens, from 1024 on, as OpenAI documents).

Tokens are counted like a tokenizer would, not as a fixed share of the
characters (:func:`tokens`: words, digits, punctuation and whitespace), so
that prompts of different make-up give different characters per token
(about 3.7 to 4.2 on corpus prompts). A prompt with "## Requested pairs"
gets one review block per pair (``vendor_api.review_block``). Faults are
scripted per request with :meth:`ApiImitation.script`: each entry answers
one request (an HTTP error, or a review cut short / refused), then normal
answers resume. Every request body is kept in :attr:`ApiImitation.requests`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.vendor_api import boundary_token, requested_pairs, review_block

FAKE_ANTHROPIC_KEY = "sk-ant-api03-imitation-key-for-local-tests"
FAKE_OPENAI_KEY = "sk-imitation-key-for-local-tests-only"
# What the imitation reports as served for a requested model (a dated name,
# as the real APIs do), for the tests that check the rekey.
SERVED = {"claude-sonnet-4-5": "claude-sonnet-4-5-20250929", "gpt-5": "gpt-5-2025-08-07"}


def point_sdks_at(api: ApiImitation, env: Any) -> None:
    """Point both SDKs at the imitation, with its keys (`env` is pytest's
    MonkeyPatch, so the variables are put back after the test)."""
    env.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)
    env.setenv("ANTHROPIC_BASE_URL", api.url)
    env.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    env.setenv("OPENAI_BASE_URL", api.url + "/v1")


OUTPUT_TOKENS_PER_PAIR = 120
BATCH_PATHS = ("/v1/messages/batches", "/v1/batches", "/v1/files")


# What a BPE tokenizer splits text into, roughly: words, short digit runs,
# whitespace runs, punctuation runs, any other character alone.
_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|\s+|[^\w\s]+|\w")


def tokens(text: str) -> int:
    """A tokenizer-like count: a word is one token, and one more per seven
    letters past the first; a single space is part of the next word, other
    whitespace a token per four characters; punctuation a token per two;
    digits per three; any other character (non-ASCII letters) one each.
    It never decreases as text is appended, so a prefix never counts more
    than the whole."""
    count = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isspace():
            count += 0 if piece == " " else 1 + (len(piece) - 1) // 4
        elif first.isascii() and first.isalpha():
            count += 1 + (len(piece) - 1) // 7
        elif first.isalnum() or first == "_":
            count += 1
        else:
            count += (len(piece) + 1) // 2
    return count


@dataclass
class Fault:
    """One scripted answer: an HTTP error (status, error type/code, message,
    headers), or for status 200 a review whose stop is `stop` ("refusal",
    "max_tokens")."""

    status: int
    kind: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stop: str | None = None


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    usage: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    fault: Fault | None = None

    @property
    def prompt(self) -> str:
        return prompt_of(self.body)


def prompt_of(body: Mapping[str, Any]) -> str:
    """The user prompt of any of the three request kinds, blocks joined as sent."""
    if isinstance(body.get("input"), str):
        return str(body["input"])
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def system_of(body: Mapping[str, Any]) -> str:
    """The Anthropic system prompt, a string or text blocks."""
    system = body.get("system") or ""
    if isinstance(system, list):
        return "".join(b.get("text", "") for b in system if isinstance(b, dict))
    return str(system)


def breakpoints(body: Mapping[str, Any]) -> list[int]:
    """Character offsets of the Anthropic blocks that carry `cache_control`."""
    points, offset = [], 0
    for message in body.get("messages", []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            offset += len(block.get("text", ""))
            if block.get("cache_control"):
                points.append(offset)
    return points


class ApiImitation:
    def __init__(self, *, served: Mapping[str, str] | None = None) -> None:
        self.served = dict(served or {})  # requested model -> the model that answers
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self._cache: set[str] = set()  # Anthropic: hashes of cached prefixes
        self._keyed: dict[str, list[str]] = {}  # OpenAI: prompts seen per cache key
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay = 0.0  # seconds each answer takes
        self.batch_jobs: dict[str, Any] = {}  # helpers/api_batch_imitation.py keeps its jobs here
        self.files: dict[str, bytes] = {}
        self.hold_jobs = False  # jobs stay in progress until `finish_jobs`
        self.job_outcomes: dict[int, str] = {}  # next job: request index -> errored / expired

    # -- control

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ApiImitation:
        imitation = self

        class Handler(_Handler):
            api = imitation

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> ApiImitation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def finish_jobs(self) -> None:
        """Let held batch jobs run to their end."""
        from helpers.api_batch_imitation import finish

        self.hold_jobs = False
        for job in list(self.batch_jobs.values()):
            finish(self, job)

    def reviews(self) -> list[Seen]:
        return [r for r in self.requests if r.status == 200]

    # -- answers

    def answer(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Seen:
        seen = Seen(path, body, headers)
        with self._lock:
            self.requests.append(seen)
            fault = self.faults.pop(0) if self.faults else None
        seen.fault = fault
        if fault is not None and fault.status != 200:
            seen.status = fault.status
            return seen
        prompt = prompt_of(body)
        pairs = requested_pairs(prompt) or []
        token = boundary_token(prompt)
        stop = fault.stop if fault is not None else None
        if stop == "refusal":
            text = "I can't help with that."
        elif stop == "max_tokens":
            text = "\n".join(review_block(p, "PASS", token) for p in pairs[:1])
            text += "=== PAIR REVIEW START" + (f" {token}:" if token else ":") + " cut"
        else:
            text = "\n".join(review_block(p, "PASS", token) for p in pairs) or "OK."
        seen.usage = {"text": text, "stop": stop, "output": OUTPUT_TOKENS_PER_PAIR * len(pairs)}
        with self._lock:
            if path == "/v1/messages":
                seen.usage.update(self._anthropic_cache(body, prompt))
            else:
                seen.usage.update(self._openai_cache(body, prompt))
        return seen

    def _anthropic_cache(self, body: Mapping[str, Any], prompt: str) -> dict[str, int]:
        model = str(body.get("model"))
        system = system_of(body)  # before the messages: in every cached prefix
        points = breakpoints(body)
        read = 0
        for point in sorted(points, reverse=True):
            if _digest(model, system + prompt[:point]) in self._cache:
                read = point
                break
        last = max(points, default=0)
        for point in points:
            self._cache.add(_digest(model, system + prompt[:point]))
        total = tokens(system + prompt)
        cache_read = tokens(system + prompt[:read]) if read else 0
        cache_write = tokens(system + prompt[:last]) - cache_read if last > read else 0
        return {
            "input": total - cache_read - cache_write,
            "cache_read": cache_read,
            "cache_write": cache_write,
        }

    def _openai_cache(self, body: Mapping[str, Any], prompt: str) -> dict[str, int]:
        key = str(body.get("prompt_cache_key") or "")
        earlier = self._keyed.setdefault(key, []) if key else []
        common = max((_common(prompt, other) for other in earlier), default=0)
        cached = tokens(prompt[:common])
        cached = (cached // 128) * 128 if cached >= 1024 else 0
        if key:
            earlier.append(prompt)
        return {"input": tokens(prompt), "cache_read": cached, "cache_write": 0}

    def served_model(self, requested: str) -> str:
        return self.served.get(requested, requested)


def _digest(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def _common(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class _Handler(BaseHTTPRequestHandler):
    api: ApiImitation
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._batches("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if self.path.startswith(BATCH_PATHS):
            return self._batches("POST", raw)
        body = json.loads(raw or b"{}")
        with self.api._lock:
            self.api.in_flight += 1
            self.api.most_in_flight = max(self.api.most_in_flight, self.api.in_flight)
        try:
            if self.api.delay:
                threading.Event().wait(self.api.delay)
            seen = self.api.answer(self.path, body, {k.lower(): v for k, v in self.headers.items()})
            self._reply(seen, body)
        finally:
            with self.api._lock:
                self.api.in_flight -= 1

    def _reply(self, seen: Seen, body: Mapping[str, Any]) -> None:
        anthropic = self.path == "/v1/messages"
        request_id = f"req_imit_{uuid.uuid4().hex[:20]}"
        if seen.status != 200:
            return self._error(seen, anthropic, request_id)
        payload = success_payload(self.api, self.path, seen, body)
        headers = {"request-id" if anthropic else "x-request-id": request_id}
        self._send(200, payload, headers)

    def _error(self, seen: Seen, anthropic: bool, request_id: str) -> None:
        fault = seen.fault
        assert fault is not None
        if anthropic:
            payload: dict[str, Any] = {
                "type": "error",
                "error": {"type": fault.kind or "api_error", "message": fault.message},
            }
        else:
            payload = {"error": {"message": fault.message, "type": fault.kind, "code": fault.kind}}
        headers = {"request-id" if anthropic else "x-request-id": request_id, **fault.headers}
        self._send(seen.status, payload, headers)

    def _batches(self, method: str, raw: bytes) -> None:
        """The batch endpoints of both APIs (helpers/api_batch_imitation.py)."""
        from helpers.api_batch_imitation import route

        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = route(self.api, method, self.path, raw, headers)
        if isinstance(payload, bytes):
            self._send_bytes(status, payload, "application/binary")
        else:
            self._send(status, payload, {})

    def _send_bytes(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def success_payload(
    api: ApiImitation, path: str, seen: Seen, body: Mapping[str, Any]
) -> dict[str, Any]:
    """The answer of a request that succeeded, as the endpoint at `path` gives it."""
    model = api.served_model(str(body.get("model")))
    usage, text, stop = seen.usage, seen.usage["text"], seen.usage["stop"]
    if path == "/v1/messages":
        return {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop or "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage["input"],
                "cache_read_input_tokens": usage["cache_read"],
                "cache_creation_input_tokens": usage["cache_write"],
                "output_tokens": usage["output"],
            },
        }
    if path == "/v1/responses":
        return _responses_payload(model, text, stop, usage, body)
    return _chat_payload(model, text, stop, usage)


def _responses_payload(
    model: str, text: str, stop: str | None, usage: Mapping[str, Any], body: Mapping[str, Any]
) -> dict[str, Any]:
    if stop == "refusal":
        content = [{"type": "refusal", "refusal": text}]
    else:
        content = [{"type": "output_text", "text": text, "annotations": []}]
    incomplete = stop == "max_tokens"
    return {
        "id": f"resp_{uuid.uuid4().hex[:20]}",
        "object": "response",
        "created_at": 0,
        "model": model,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        ],
        "parallel_tool_calls": False,
        "tool_choice": "none",
        "tools": [],
        "usage": {
            "input_tokens": usage["input"],
            "input_tokens_details": {"cached_tokens": usage["cache_read"], "cache_write_tokens": 0},
            "output_tokens": usage["output"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input"] + usage["output"],
        },
    }


def _chat_payload(
    model: str, text: str, stop: str | None, usage: Mapping[str, Any]
) -> dict[str, Any]:
    refused = stop == "refusal"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "length" if stop == "max_tokens" else "stop",
                "message": {
                    "role": "assistant",
                    "content": None if refused else text,
                    "refusal": text if refused else None,
                },
            }
        ],
        "usage": {
            "prompt_tokens": usage["input"],
            "prompt_tokens_details": {"cached_tokens": usage["cache_read"]},
            "completion_tokens": usage["output"],
            "total_tokens": usage["input"] + usage["output"],
        },
    }
