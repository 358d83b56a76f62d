"""The `claude-code` runner: Claude Code in print mode with a JSON stream.

The served model is the assistant events' `message.model`; `system/init` and
the `modelUsage` keys only name what the CLI asked for. Usage, cost, duration
and turns come from the final `result` event, the session log
(`<config dir>/projects/<cwd slug>/<session id>.jsonl`) fills what the stream
lacked. Repeated `system/api_retry` events with status 429 mean a rate limit:
the call is stopped instead of waiting out minutes of back-off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from commonplace.clock import span_ms
from commonplace.protocol.prompt import REVIEWER_SYSTEM_PROMPT
from commonplace.runners.base import (
    BaseAdapter,
    Call,
    Failure,
    FailureKind,
    Outcome,
    StreamDecoder,
    exit_failure,
    home_dir,
    last_lines,
    safe_session_id,
)
from commonplace.runners.limits import AUTH_PATTERN, USAGE_LIMIT_PATTERN
from commonplace.runners.telemetry import (
    Session,
    Telemetry,
    Tokens,
    distinct,
    int_or_none,
    usable_model,
)

READ_ONLY_TOOLS = "Read,Glob,Grep"
RATE_LIMIT_RETRIES = 3  # 429 retries seen before the call is stopped
_SLUG = re.compile(r"[^A-Za-z0-9]")


class ClaudeStream(StreamDecoder):
    def __init__(self) -> None:
        self.init: dict[str, Any] = {}
        self.result: dict[str, Any] | None = None
        self.models: list[str] = []
        self.usage_by_message: dict[str, dict[str, Any]] = {}
        self.message_id: str | None = None
        self.last_block = ""
        self.emitted = ""  # the tail of what was emitted, to place separators
        self.retries_429 = 0
        self.synthetic: list[str] = []

    def feed(self, line: str) -> str:
        if not line.startswith("{"):
            return ""
        event = json.loads(line)
        if not isinstance(event, dict):
            return ""
        kind = event.get("type")
        if kind == "system":
            if event.get("subtype") == "init":
                self.init = event
            elif event.get("subtype") == "api_retry" and event.get("error_status") == 429:
                self.retries_429 += 1
            return ""
        if kind == "assistant":
            return self._assistant(event.get("message"))
        if kind == "result":
            self.result = event
            text = event.get("result")
            if not self.emitted and isinstance(text, str):
                return self._emit(text)
        return ""

    def _assistant(self, message: object) -> str:
        if not isinstance(message, dict):
            return ""
        model = message.get("model")
        message_id = message.get("id") if isinstance(message.get("id"), str) else None
        if usable_model(model):
            self.models.append(str(model).strip())
        if message_id and isinstance(message.get("usage"), dict):
            self.usage_by_message[message_id] = message["usage"]
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        text = "".join(
            b["text"]
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
        if not text:
            return ""
        if model == "<synthetic>":  # the CLI's own notice, e.g. a usage limit
            self.synthetic.append(text)
        separator = ""
        if message_id != self.message_id or message_id is None:
            self.message_id, self.last_block = message_id, ""
            if self.emitted and not self.emitted.endswith("\n"):
                separator = "\n"  # separate messages never run into one line
        elif text == self.last_block:
            return ""  # the same block repeated
        self.last_block = text
        return self._emit(separator + text)

    def _emit(self, text: str) -> str:
        self.emitted = (self.emitted + text)[-2:]
        return text

    def stop(self) -> Failure | None:
        if self.retries_429 >= RATE_LIMIT_RETRIES:
            return Failure(
                FailureKind.USAGE_LIMIT,
                f"rate limited: the API answered 429 to {self.retries_429} attempts in a row",
            )
        return None


class ClaudeCodeAdapter(BaseAdapter):
    name = "claude-code"
    default_binary = "claude"
    env_prefixes = ("ANTHROPIC_", "CLAUDE_", "DISABLE_", "AWS_", "GOOGLE_", "VERTEX_")
    env_names = ("CLOUD_ML_REGION", "MCP_TIMEOUT")

    def argv(self, call: Call, session_id: str) -> list[str]:
        argv = [self.binary, "-p", "--output-format", "stream-json", "--verbose"]
        argv += ["--model", call.model]
        if call.effort:
            argv += ["--effort", call.effort]
        argv += ["--session-id", session_id, "--tools", READ_ONLY_TOOLS]
        argv += ["--append-system-prompt", REVIEWER_SYSTEM_PROMPT]
        return argv + list(self.settings.extra_args)

    def decoder(self) -> ClaudeStream:
        return ClaudeStream()

    def classify(self, decoder: StreamDecoder, outcome: Outcome) -> Failure | None:
        assert isinstance(decoder, ClaudeStream)
        if outcome.stopped is not None:
            return outcome.stopped
        result = decoder.result or {}
        notices = [*decoder.synthetic, outcome.stderr]
        if result.get("is_error"):
            notices.append(str(result.get("result") or ""))
            status = result.get("api_error_status")
            if status == 429 or any(USAGE_LIMIT_PATTERN.search(n) for n in notices):
                return Failure(FailureKind.USAGE_LIMIT, _first_line(notices) or "usage limit")
            if status in (401, 403) or any(AUTH_PATTERN.search(n) for n in notices):
                return Failure(FailureKind.AUTH, f"claude: {_first_line(notices)}")
            return Failure(FailureKind.CRASH, f"claude reported an error: {_first_line(notices)}")
        failure = exit_failure("claude", outcome)
        if failure is not None and USAGE_LIMIT_PATTERN.search(outcome.stderr):
            return Failure(FailureKind.USAGE_LIMIT, last_lines(outcome.stderr))
        if failure is not None and AUTH_PATTERN.search(outcome.stderr):
            return Failure(FailureKind.AUTH, f"claude: {last_lines(outcome.stderr)}")
        return failure

    def session_logs(self, env: Mapping[str, str]) -> Iterator[Path]:
        return (_config_root(env) / "projects").glob("*/*.jsonl")

    def session_log(self, env: Mapping[str, str], session_id: str) -> Path | None:
        if not safe_session_id(session_id):
            return None
        found = sorted((_config_root(env) / "projects").glob(f"*/{session_id}.jsonl"))
        return found[-1] if found else None

    def read_session(self, path: Path) -> Session | None:
        return session_from_log(path)

    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry:
        assert isinstance(decoder, ClaudeStream)
        init, result = decoder.init, decoder.result or {}
        sources = ["stream"]
        models = list(decoder.models)
        usage = result.get("usage") if isinstance(result.get("usage"), dict) else None
        if usage is None or not models:
            logged = read_session_log(session_log_path(env, call.cwd, session_id))
            if logged is not None:
                sources.append("session-log")
                models = models or logged[0]
                usage = usage or logged[1]
        if usage is None and decoder.usage_by_message:
            usage = _sum_usage(decoder.usage_by_message.values())
        served = distinct(models)
        model_usage = result.get("modelUsage")
        return Telemetry(
            runner=self.name,
            cli_version=_str(init.get("claude_code_version")),
            model=served[0] if len(served) == 1 else None,
            models=served,
            requested_model=call.model,
            effort=call.effort,
            tokens=_tokens(usage or {}),
            cost_usd=_number(result.get("total_cost_usd")),
            duration_ms=int_or_none(result.get("duration_ms")),
            turns=int_or_none(result.get("num_turns")),
            session_id=_str(result.get("session_id")) or _str(init.get("session_id")) or session_id,
            sources=tuple(sources),
            details={
                "init_model": usable_model(init.get("model")),
                "model_usage_keys": sorted(model_usage) if isinstance(model_usage, dict) else [],
                "tools": init.get("tools") if isinstance(init.get("tools"), list) else None,
                "is_error": bool(result.get("is_error")),
                "subtype": _str(result.get("subtype")),
                "rate_limit_retries": decoder.retries_429,
                "wall_ms": outcome.duration_ms,
            },
        )


def session_log_path(env: Mapping[str, str], cwd: Path, session_id: str) -> Path:
    """Where Claude Code logs a session: the project folder is the working
    directory with every character that is not a letter or digit made `-`."""
    slug = _SLUG.sub("-", str(cwd.resolve()))
    return _config_root(env) / "projects" / slug / f"{session_id}.jsonl"


def read_session_log(path: Path) -> tuple[list[str], dict[str, int]] | None:
    """(served models, summed usage per distinct message) from a session log."""
    facts = _scan_log(path)
    return None if facts is None else (facts.models, _sum_usage(facts.usage.values()))


class _LogFacts:
    def __init__(self) -> None:
        self.models: list[str] = []
        self.usage: dict[str, dict[str, Any]] = {}
        self.version: str | None = None
        self.session_id: str | None = None
        self.cwd: str | None = None
        self.first: str | None = None
        self.last: str | None = None


def _scan_log(path: Path) -> _LogFacts | None:
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError:
        return None
    facts = _LogFacts()
    with handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if isinstance(event.get("timestamp"), str):
                facts.first = facts.first or event["timestamp"]
                facts.last = event["timestamp"]
            facts.version = _str(event.get("version")) or facts.version
            facts.session_id = facts.session_id or _str(event.get("sessionId"))
            facts.cwd = facts.cwd or _str(event.get("cwd"))
            message = event.get("message")
            if not isinstance(message, dict) or event.get("type") != "assistant":
                continue
            if usable_model(message.get("model")):
                facts.models.append(message["model"])
            if isinstance(message.get("usage"), dict):
                key = message.get("id") or event.get("requestId") or event.get("uuid")
                facts.usage[str(key)] = message["usage"]
    return facts


def session_from_log(path: Path) -> Session | None:
    """A session's telemetry as its log alone tells it (no cost, no effort)."""
    facts = _scan_log(path)
    if facts is None or not (facts.models or facts.session_id):
        return None
    served = distinct(facts.models)
    telemetry = Telemetry(
        runner=ClaudeCodeAdapter.name,
        cli_version=facts.version,
        model=served[0] if len(served) == 1 else None,
        models=served,
        tokens=_tokens(_sum_usage(facts.usage.values())),
        duration_ms=span_ms(facts.first, facts.last),
        turns=len(facts.usage) or None,
        session_id=facts.session_id,
        sources=("session-log",),
    )
    return Session(path, facts.session_id, facts.cwd, telemetry)


def _config_root(env: Mapping[str, str]) -> Path:
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    return Path(config_dir) if config_dir else home_dir(env) / ".claude"


def _sum_usage(usages: Any) -> dict[str, int]:
    keys = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    rows = [u for u in usages if isinstance(u, dict)]
    return {k: sum(int_or_none(u.get(k)) or 0 for u in rows) for k in keys}


def _tokens(usage: Mapping[str, Any]) -> Tokens:
    return Tokens(
        input=int_or_none(usage.get("input_tokens")),
        output=int_or_none(usage.get("output_tokens")),
        cache_read=int_or_none(usage.get("cache_read_input_tokens")),
        cache_write=int_or_none(usage.get("cache_creation_input_tokens")),
        reasoning=None,  # not reported separately by Claude Code
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_line(notices: list[str]) -> str:
    for notice in notices:
        line = last_lines(notice, count=1)
        if line:
            return line
    return ""
