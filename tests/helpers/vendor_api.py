"""A local imitation of the two vendor APIs the harness CLIs talk to.

Test support, not a test module. :class:`VendorAPI` is a small HTTP server bound
to 127.0.0.1 that answers

- the Anthropic Messages API (``POST /v1/messages``, streamed as server-sent
  events; also ``/v1/messages/count_tokens``), which ``claude`` uses when
  ``ANTHROPIC_BASE_URL`` points at the server (see :func:`claude_env`), and
- the OpenAI Responses API (``POST /v1/responses``, streamed), which ``codex``
  uses through a ``model_providers`` entry with ``wire_api = "responses"`` (see
  :func:`codex_env`).

A prompt with a ``## Requested pairs`` section is answered with one review block
per requested pair, in the grammar of the pair protocol. Any other request gets a
short plain text; claude's title-generation side request (which quotes the whole
prompt inside ``<session>`` tags and asks for JSON) gets JSON and is never
counted as a review request. Every request is recorded in
:attr:`VendorAPI.requests`; ``CONNECT`` requests are recorded too, so a test that
also points ``HTTPS_PROXY`` at the server sees any traffic meant for the
internet.

Usage numbers (:class:`Usage`). The Anthropic stream reports uncached
``input_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``
and ``output_tokens`` separately, as the real API does (1200 / 800 / 200 / 340 by
default; claude prices that at $0.00969 for claude-sonnet-4-5). OpenAI counts
cached input inside ``input_tokens`` and reasoning inside ``output_tokens``; the
Responses numbers are their own fields whose defaults are those of the captured
run in ``vendor-formats/``: input 2000 of which 1500 cached, output 400 of which
60 reasoning, total 2400.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where scripts/install-clis.sh put the CLIs under test: .cache/clis (the pinned
# versions) unless COMMONPLACE_TEST_CLI_PREFIX names another prefix (relative to
# the repository, or absolute), e.g. .cache/clis-current for the versions the
# npm registry serves now. A prefix given that way is the only place looked at.
CLI_PREFIX_ENV = "COMMONPLACE_TEST_CLI_PREFIX"
_CLI_PREFIX = os.environ.get(CLI_PREFIX_ENV, "").strip()
CLI_BIN = (REPO_ROOT / (_CLI_PREFIX or ".cache/clis")) / "node_modules" / ".bin"

MODES = ("ok", "rate_limit", "usage_limit", "hang")
DECISIONS = ("PASS", "WARN", "FAIL")
PAIRS_HEADING = "## Requested pairs"
REVIEW_PREAMBLE = "Review complete."
PLAIN_ANSWER = "OK."
TITLE_ANSWER = "Review requested note and gate pairs"

FAKE_ANTHROPIC_KEY = "sk-ant-api03-fake-key-for-local-tests-only"
FAKE_OPENAI_KEY = "sk-fake-key-for-local-tests-only"
# The provider id written into codex's config.toml (it shows in the rollout).
CODEX_PROVIDER = "fake"
# The variable the codex provider reads its key from (its `env_key`).
CODEX_KEY_ENV = "FAKE_VENDOR_API_KEY"
# The error type codex 0.169.0 turns into "You’ve hit your usage limit. ...".
USAGE_LIMIT_TYPE = "usage_limit_reached"

_PAIR_LINE = re.compile(r"^- (?P<note>.+?) :: (?P<gate>.+?)\s*$")
_TOKEN_LINE = re.compile(r"^Boundary token: `([A-Za-z0-9_-]+)`", re.MULTILINE)


@dataclass(frozen=True)
class Usage:
    """Token counts the server reports.

    ``input_tokens`` .. ``cache_write`` are Anthropic's (input excludes cached
    input). ``responses_*`` are what the Responses API reports, where cached
    input is part of the input and ``reasoning`` part of the output.
    """

    input_tokens: int = 1200
    output_tokens: int = 340
    cache_read: int = 800
    cache_write: int = 200
    reasoning: int = 60
    responses_input_tokens: int = 2000
    responses_cached_tokens: int = 1500
    responses_output_tokens: int = 400

    def anthropic(self, *, output_tokens: int | None = None) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.responses_input_tokens,
            "input_tokens_details": {"cached_tokens": self.responses_cached_tokens},
            "output_tokens": self.responses_output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.responses_input_tokens + self.responses_output_tokens,
        }


# ---------------------------------------------------------------------------
# Reading requests


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "\n".join(parts)


def user_texts(body: Mapping[str, Any] | None) -> list[str]:
    """The texts of the user messages of a Messages (``messages``) or Responses
    (``input``) request body."""
    if not body:
        return []
    items = body.get("messages", body.get("input"))
    if isinstance(items, str):
        return [items]
    if not isinstance(items, list):
        return []
    return [
        _content_text(item.get("content"))
        for item in items
        if isinstance(item, dict) and item.get("role") == "user"
    ]


def requested_pairs(text: str) -> list[str] | None:
    """The ``"<note_path> :: <gate_id>"`` lines under the last ``## Requested pairs``
    heading of ``text`` (up to the next heading); None when there is none."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == PAIRS_HEADING]
    if not starts:
        return None
    pairs: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        if line.startswith("#"):
            break
        match = _PAIR_LINE.match(line.strip())
        if match:
            pairs.append(f"{match['note']} :: {match['gate']}")
    return pairs


def boundary_token(text: str) -> str | None:
    """The batch's boundary token a pairs-v2 prompt states under its last
    ``## Output`` heading (``Boundary token: `...```); None for a v1 prompt."""
    output = text.rpartition("\n## Output\n")[2]
    found = _TOKEN_LINE.search(output)
    return found.group(1) if found else None


def _json_schema(body: Mapping[str, Any]) -> dict | None:
    """The JSON schema of a structured-output Messages request, if any."""
    output_config = body.get("output_config")
    if not isinstance(output_config, dict):
        return None
    fmt = output_config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


def is_side_request(body: Mapping[str, Any] | None) -> bool:
    """A request the CLI makes on its own rather than for the prompt: claude's
    title generation asks for structured JSON output and quotes the prompt in
    ``<session>`` tags."""
    if not body:
        return False
    if _json_schema(body) is not None:
        return True
    return any(text.lstrip().startswith("<session>") for text in user_texts(body))


def _instance(schema: Any) -> Any:
    """A value that satisfies a simple JSON schema."""
    if not isinstance(schema, dict):
        return TITLE_ANSWER
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _instance(sub) for name, sub in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return TITLE_ANSWER


@dataclass
class Recorded:
    """One HTTP request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    # time.monotonic() at arrival, to measure retry back-off.
    at: float = field(default=0.0, compare=False)

    @property
    def api(self) -> str:
        """'messages', 'count_tokens', 'responses', 'connect' or 'other'."""
        if self.method == "CONNECT":
            return "connect"
        route = urlsplit(self.path).path.rstrip("/")
        if route.endswith("/messages/count_tokens"):
            return "count_tokens"
        if route.endswith("/messages"):
            return "messages"
        if route.endswith("/responses"):
            return "responses"
        return "other"

    @property
    def prompt(self) -> str:
        """The text of the user messages, joined by newlines."""
        return "\n".join(user_texts(self.body))

    @property
    def side_request(self) -> bool:
        return is_side_request(self.body)

    @property
    def requested_pairs(self) -> list[str] | None:
        """The pairs the prompt asks for; None when it is no review request."""
        if self.api not in ("messages", "responses") or self.side_request:
            return None
        return requested_pairs(self.prompt)

    @property
    def model(self) -> str | None:
        return (self.body or {}).get("model")

    @property
    def tool_names(self) -> list[str]:
        """The tools offered to the model: Anthropic and function tools by
        ``name``, built-in Responses tools (``web_search``...) by ``type``.
        Deferred tools (``defer_loading: true``, e.g. the placeholder claude
        2.1.337 adds with ``--model sonnet``) are not offered for use: left out."""
        tools = (self.body or {}).get("tools") or []
        return [
            str(t.get("name") or t.get("type"))
            for t in tools
            if isinstance(t, dict) and t.get("defer_loading") is not True
        ]

    @property
    def deferred_tool_names(self) -> list[str]:
        """The deferred tools of the request (see :attr:`tool_names`)."""
        tools = (self.body or {}).get("tools") or []
        return [
            str(t.get("name") or t.get("type"))
            for t in tools
            if isinstance(t, dict) and t.get("defer_loading") is True
        ]

    @property
    def effort(self) -> str | None:
        """The effort asked for: Responses ``reasoning.effort``, Anthropic
        ``output_config.effort``. (claude sends no effort for models without
        effort support, e.g. claude-sonnet-4-5: see :attr:`thinking`.)"""
        body = self.body or {}
        for key in ("reasoning", "output_config"):
            value = body.get(key)
            if isinstance(value, dict) and value.get("effort"):
                return value["effort"]
        return None

    @property
    def thinking(self) -> dict | None:
        """Anthropic ``thinking`` (``{"type": "adaptive"}``, or ``enabled`` with a
        ``budget_tokens``)."""
        return (self.body or {}).get("thinking")


# ---------------------------------------------------------------------------
# Answers


def review_block(pair: str, decision: str = "PASS", token: str | None = None) -> str:
    """The review block of ``pair`` (``"<note_path> :: <gate_id>"``), its
    sentinels carrying the batch's ``token`` (pairs-v2) or none (pairs-v1)."""
    decision = decision.upper()
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    note, gate = pair.split(" :: ", 1)
    finding = "- none" if decision == "PASS" else f"- {decision}: example finding for {gate}."
    mark = f" {token}:" if token else ":"
    return (
        f"=== PAIR REVIEW START{mark} {pair} ===\n"
        "### Summary\n"
        f"Checked {note} against {gate}.\n"
        "\n"
        "### Findings\n"
        f"{finding}\n"
        "\n"
        f"## Result: {decision}\n"
        f"=== PAIR REVIEW END{mark} {pair} ===\n"
    )


class Answerer:
    """Builds the answer texts; remembers which omitted pairs it left out."""

    def __init__(
        self,
        *,
        decisions: Mapping[str, str] | None = None,
        omit: Iterable[str] = (),
        omit_once: bool = True,
    ) -> None:
        self.decisions = {gate: value.upper() for gate, value in (decisions or {}).items()}
        bad = sorted(v for v in self.decisions.values() if v not in DECISIONS)
        if bad:
            raise ValueError(f"decisions must be among {DECISIONS}: {bad}")
        self.omit = frozenset(omit)
        self.omit_once = omit_once
        self.omitted: list[str] = []
        self._lock = threading.Lock()

    def review(self, pairs: Iterable[str], token: str | None = None) -> str:
        """The answer to a prompt requesting ``pairs`` (with that boundary ``token``)."""
        blocks = []
        with self._lock:
            for pair in pairs:
                if pair in self.omit and not (self.omit_once and pair in self.omitted):
                    self.omitted.append(pair)
                    continue
                gate = pair.split(" :: ", 1)[1]
                blocks.append(review_block(pair, self.decisions.get(gate, "PASS"), token))
        return REVIEW_PREAMBLE + "\n\n" + "\n".join(blocks)

    def answer(self, body: Mapping[str, Any] | None) -> str:
        """The answer to a Messages or Responses request body."""
        body = body or {}
        schema = _json_schema(body)
        if schema is not None:
            return json.dumps(_instance(schema))
        if is_side_request(body):
            return PLAIN_ANSWER
        prompt = "\n".join(user_texts(body))
        pairs = requested_pairs(prompt)
        return PLAIN_ANSWER if pairs is None else self.review(pairs, boundary_token(prompt))


def _chunks(text: str, size: int = 160) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


# ---------------------------------------------------------------------------
# The server


class VendorAPI:
    """The fake Messages + Responses API, as a context manager.

    ``mode``:

    - ``"ok"``: answer.
    - ``"rate_limit"``: HTTP 429 ``rate_limit_error`` to every Messages request
      (claude retries with back-off, emitting ``system/api_retry`` events) and
      429 ``rate_limit_exceeded`` to every Responses request.
    - ``"usage_limit"``: Responses requests get the 429 ``usage_limit_reached``
      error codex reports as "You’ve hit your usage limit. Try again later."
      (exit 1 at once); Messages requests get a 429 rate-limit error with
      ``x-should-retry: false`` and rejected ``anthropic-ratelimit-unified-*``
      headers, on which claude gives up at once (exit 1, a ``result`` event
      with ``is_error`` and ``api_error_status`` 429, no ``api_retry``).
    - ``"hang"``: read the request, never answer (until the server stops).

    ``served_model``: the model the answers claim (Anthropic ``message.model``;
    Responses ``response.model`` and, unless ``model_header`` is false, the
    ``openai-model`` header, which is the only thing codex looks at); None echoes
    the requested model. ``decisions``: gate id -> PASS/WARN/FAIL. ``omit``:
    ``"<note> :: <gate>"`` pairs to leave out, only the first time each is
    requested when ``omit_once``. ``retry_after``: a ``retry-after`` header (in
    seconds) on 429s; claude waits max(retry-after, its own back-off). The
    server stops by itself after ``lifetime`` seconds.
    """

    def __init__(
        self,
        *,
        served_model: str | None = None,
        mode: str = "ok",
        decisions: Mapping[str, str] | None = None,
        omit: Iterable[str] = (),
        omit_once: bool = True,
        usage: Usage | None = None,
        lifetime: float = 600,
        model_header: bool = True,
        retry_after: float | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.served_model = served_model
        self.mode = mode
        self.usage = usage or Usage()
        self.answerer = Answerer(decisions=decisions, omit=omit, omit_once=omit_once)
        self.lifetime = lifetime
        self.model_header = model_header
        self.retry_after = retry_after
        self.requests: list[Recorded] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._counter = 0

    # -- lifecycle --------------------------------------------------------

    def start(self) -> VendorAPI:
        if self._server is not None or self._stopped.is_set():
            return self
        handler = type("Handler", (_Handler,), {"api": self})
        server = _Server(("127.0.0.1", 0), handler)
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="vendor-api",
            daemon=True,
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent). Hung handlers are released and close their
        connections; handler threads are daemons, so nothing waits for them."""
        with self._lock:
            server, self._server = self._server, None
        self._stopped.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> VendorAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- what it received -------------------------------------------------

    def record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def snapshot(self) -> list[Recorded]:
        """A copy of :attr:`requests`, safe to iterate while requests arrive."""
        with self._lock:
            return list(self.requests)

    def review_requests(self) -> list[Recorded]:
        """The requests whose prompt has a ``## Requested pairs`` section (side
        requests that merely quote the prompt excluded)."""
        return [r for r in self.snapshot() if r.requested_pairs is not None]

    def api_requests(self, api: str) -> list[Recorded]:
        """The requests to one API: 'messages', 'responses', 'connect', ..."""
        return [r for r in self.snapshot() if r.api == api]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.snapshot()]

    def wait_for(self, count: int = 1, *, api: str | None = None, timeout: float = 10) -> bool:
        """Wait until ``count`` requests (to ``api``, if given) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.api_requests(api) if api else self.snapshot()
            if len(got) >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # -- for the handler --------------------------------------------------

    def next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def model_for(self, requested: Any) -> str:
        if self.served_model:
            return self.served_model
        return requested if isinstance(requested, str) and requested else "unknown-model"

    def wait_stopped(self) -> None:
        self._stopped.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop keep-alive connections at will; report only real errors.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def _request_id() -> str:
    return f"req_fake_{uuid.uuid4().hex[:24]}"


class _Handler(BaseHTTPRequestHandler):
    api: VendorAPI
    protocol_version = "HTTP/1.1"
    server_version = "fake-vendor-api/1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("VENDOR_API_DEBUG"):
            super().log_message(format, *args)

    # -- plumbing ---------------------------------------------------------

    def _read_body(self) -> dict | None:
        if self.command == "CONNECT":
            return None
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:  # e.g. a compressed body
            body = None
        return body if isinstance(body, dict) else None

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = b"" if self.command == "HEAD" else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self, headers: Mapping[str, str] | None = None) -> None:
        # No length: the stream ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True

    def _event(self, name: str, payload: Mapping[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _handle(self) -> None:
        rec = Recorded(
            method=self.command,
            path=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self._read_body(),
            at=time.monotonic(),
        )
        self.api.record(rec)
        if self.api.mode == "hang":
            self.api.wait_stopped()
            self.close_connection = True
            return
        if rec.api == "messages":
            self._messages(rec)
        elif rec.api == "responses":
            self._responses(rec)
        elif rec.api == "count_tokens":
            self._send_json(200, {"input_tokens": self.api.usage.input_tokens})
        elif rec.api == "connect":
            # Traffic meant for the internet (HTTPS_PROXY pointed here): refuse.
            self.close_connection = True
            self._send_json(403, {"error": "no network in tests"})
        elif self.command == "HEAD":
            # claude probes the base URL with `HEAD /` before its first request.
            self._send_json(200, None)
        else:
            message = f"{self.command} {self.path} is not served here"
            self._send_json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": message}}
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_CONNECT = _handle

    # -- Anthropic Messages -----------------------------------------------

    def _messages(self, rec: Recorded) -> None:
        api = self.api
        if api.mode in ("rate_limit", "usage_limit"):
            self._anthropic_429(retry=api.mode == "rate_limit")
            return
        body = rec.body or {}
        text = api.answerer.answer(body)
        model = api.model_for(body.get("model"))
        message_id = f"msg_fake_{api.next_id():06d}"
        headers = {"request-id": _request_id()}
        usage = api.usage
        if not body.get("stream"):
            message = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {**usage.anthropic(), "service_tier": "standard"},
            }
            self._send_json(200, message, headers)
            return
        self._start_sse(headers)
        start = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage.anthropic(output_tokens=1), "service_tier": "standard"},
        }
        self._event("message_start", {"type": "message_start", "message": start})
        block = {"type": "text", "text": ""}
        self._event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        self._event("ping", {"type": "ping"})
        for piece in _chunks(text):
            delta = {"type": "text_delta", "text": piece}
            self._event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": usage.anthropic(),
            },
        )
        self._event("message_stop", {"type": "message_stop"})

    def _anthropic_429(self, *, retry: bool) -> None:
        now = datetime.now(UTC)
        reset = (now + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        request_id = _request_id()
        headers = {"request-id": request_id, "x-should-retry": "true" if retry else "false"}
        for kind, limit in (
            ("requests", 50),
            ("tokens", 40000),
            ("input-tokens", 30000),
            ("output-tokens", 8000),
        ):
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = "0"
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        if not retry:
            headers["anthropic-ratelimit-unified-status"] = "rejected"
            headers["anthropic-ratelimit-unified-reset"] = str(int(now.timestamp()) + 3600)
            headers["anthropic-ratelimit-unified-representative-claim"] = "five_hour"
        if self.api.retry_after is not None:
            headers["retry-after"] = f"{self.api.retry_after:g}"
        message = (
            "This request would exceed the rate limit for your organization of 50 "
            "requests per minute. For details, refer to "
            "https://docs.claude.com/en/api/rate-limits."
        )
        payload = {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": message},
            "request_id": request_id,
        }
        self._send_json(429, payload, headers)

    # -- OpenAI Responses -------------------------------------------------

    def _responses(self, rec: Recorded) -> None:
        api = self.api
        if api.mode == "rate_limit":
            headers = {"x-request-id": _request_id()}
            if api.retry_after is not None:
                headers["retry-after"] = f"{api.retry_after:g}"
            error = {
                "type": "rate_limit_exceeded",
                "code": "rate_limit_exceeded",
                "message": "Rate limit reached. Please try again later.",
                "param": None,
            }
            self._send_json(429, {"error": error}, headers)
            return
        if api.mode == "usage_limit":
            error = {"type": USAGE_LIMIT_TYPE, "message": "The usage limit has been reached"}
            self._send_json(429, {"error": error}, {"x-request-id": _request_id()})
            return
        body = rec.body or {}
        text = api.answerer.answer(body)
        model = api.model_for(body.get("model"))
        n = api.next_id()
        item_id = f"msg_fake_{n:06d}"
        response = {
            "id": f"resp_fake_{n:06d}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": model,
            "output": [],
            "reasoning": body.get("reasoning"),
            "usage": None,
        }
        headers = {"x-request-id": _request_id()}
        if api.model_header:
            headers["openai-model"] = model
        self._start_sse(headers)
        sequence = iter(range(1_000_000))

        def emit(kind: str, **fields: Any) -> None:
            self._event(kind, {"type": kind, "sequence_number": next(sequence), **fields})

        emit("response.created", response=response)
        emit("response.in_progress", response=response)
        item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
        emit("response.output_item.added", output_index=0, item={**item, "content": []})
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        emit("response.content_part.added", **where, part=part)
        for piece in _chunks(text):
            emit("response.output_text.delta", **where, delta=piece)
        emit("response.output_text.done", **where, text=text)
        part = {**part, "text": text}
        emit("response.content_part.done", **where, part=part)
        done = {**item, "status": "completed", "content": [part]}
        emit("response.output_item.done", output_index=0, item=done)
        completed = {**response, "status": "completed", "output": [done]}
        emit("response.completed", response={**completed, "usage": api.usage.responses()})


# ---------------------------------------------------------------------------
# Running the CLIs against it


def find_cli(name: str) -> str | None:
    """The ``name`` CLI: the one in COMMONPLACE_TEST_CLI_PREFIX when that is set;
    else on PATH, else the one scripts/install-clis.sh installs under
    <repo>/.cache/clis."""
    found = None if _CLI_PREFIX else shutil.which(name)
    if found:
        return found
    local = CLI_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return None


def _base_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        # Never send the loopback traffic through a proxy of the machine.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if os.environ.get("TMPDIR"):
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def claude_env(api: VendorAPI, home: Path) -> dict[str, str]:
    """A minimal environment running ``claude`` against ``api``, with ``home`` as
    HOME and home/.claude as its config dir (settings, ``.claude.json``,
    ``projects/<cwd>/<session-id>.jsonl`` session logs).

    ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` is what keeps claude 2.1.197
    off the internet (without it: CONNECTs to api.anthropic.com for telemetry
    and a title-generation request to the API); the three DISABLE_* variables
    say the same thing one by one. No onboarding or trust prompt is shown in
    ``-p`` mode and the API key is used without approval, so nothing else is
    needed."""
    env = _base_env(home)
    config = home / ".claude"
    config.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
            "CLAUDE_CONFIG_DIR": str(config),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        }
    )
    return env


def codex_config(api: VendorAPI) -> str:
    """The config.toml pointing codex at ``api``: a provider with
    ``wire_api = "responses"``, no retries (failures are immediate), and the
    features that reach the internet on their own turned off (``plugins``:
    github.com, api.github.com, chatgpt.com; ``analytics``: ab.chatgpt.com)."""
    return (
        f'model_provider = "{CODEX_PROVIDER}"\n'
        "check_for_update_on_startup = false\n"
        "\n"
        "[features]\n"
        "plugins = false\n"
        "\n"
        "[analytics]\n"
        "enabled = false\n"
        "\n"
        f"[model_providers.{CODEX_PROVIDER}]\n"
        'name = "Fake vendor API"\n'
        f'base_url = "{api.base_url}/v1"\n'
        f'env_key = "{CODEX_KEY_ENV}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )


def codex_env(api: VendorAPI, home: Path) -> dict[str, str]:
    """A minimal environment running ``codex`` against ``api``: writes
    home/.codex/config.toml (:func:`codex_config`) and sets CODEX_HOME to
    home/.codex and the provider's key variable to a fake key."""
    env = _base_env(home)
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(api))
    env.update({"CODEX_HOME": str(codex_home), CODEX_KEY_ENV: FAKE_OPENAI_KEY})
    return env


@dataclass
class CliRun:
    """What a CLI run printed. ``killed``: stopped by :func:`run_cli` (time out
    or ``until``), not exited by itself."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float
    killed: bool

    @property
    def events(self) -> list[dict]:
        """The JSON objects printed one per line on stdout."""
        out = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def of_type(self, kind: str, subtype: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e.get("type") == kind and (subtype is None or e.get("subtype") == subtype)
        ]


def _kill_group(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """TERM the process group of ``proc``, then KILL what is left after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            try:
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


def run_cli(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: str,
    timeout: float,
    until: Callable[[list[dict]], bool] | None = None,
) -> CliRun:
    """Run a CLI in its own process group with ``stdin`` as its input. It is
    stopped (the whole group: TERM, then KILL) after ``timeout`` seconds, or as
    soon as ``until(events so far)`` is true; its group is killed in any case
    before returning, so no child outlives the call."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out_lines: list[str] = []
    err_chunks: list[bytes] = []
    events: list[dict] = []
    changed = threading.Condition()

    def feed() -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def read_out() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            with changed:
                out_lines.append(line)
                if line.lstrip().startswith("{"):
                    with contextlib.suppress(ValueError):
                        events.append(json.loads(line))
                changed.notify_all()

    def read_err() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            err_chunks.append(raw)

    threads = [threading.Thread(target=f, daemon=True) for f in (feed, read_out, read_err)]
    for thread in threads:
        thread.start()
    killed = False
    try:
        deadline = started + timeout
        while proc.poll() is None:
            with changed:
                if until is not None and until(list(events)):
                    killed = True
                    break
                changed.wait(timeout=0.05)
            if time.monotonic() >= deadline:
                killed = True
                break
    finally:
        _kill_group(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in threads[1:]:
            thread.join(timeout=5)
    return CliRun(
        argv=list(argv),
        returncode=proc.returncode,
        stdout="".join(out_lines),
        stderr=b"".join(err_chunks).decode(errors="replace"),
        elapsed=time.monotonic() - started,
        killed=killed,
    )
