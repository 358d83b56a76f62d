"""The `codex` runner: `codex exec --json` in a read-only sandbox.

Review text is the `agent_message` items; usage comes from `turn.completed`
(OpenAI counts cached input inside input); `error` and `turn.failed` say why
a call failed. Model, effort and CLI version come from the session rollout,
found by the stream's thread id under `$CODEX_HOME/sessions/YYYY/MM/DD/`;
the rollout names the model codex asked for, so a "model rerouted" error item
in the stream, naming the model that served, wins over it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    safe_session_id,
)
from commonplace.runners.limits import AUTH_PATTERN, USAGE_LIMIT_PATTERN
from commonplace.runners.telemetry import (
    Session,
    Telemetry,
    Tokens,
    int_or_none,
    total,
    usable_model,
)

# The server answered with another model than asked; codex says so only as an
# error item ("model rerouted: gpt-5.5 -> gpt-5.4-mini (reason)") and goes on.
_REROUTED = re.compile(r"model rerouted:\s*(\S+)\s*->\s*([^\s(]+)")
_USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


class CodexStream(StreamDecoder):
    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.usages: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.notices: list[str] = []  # error items of a turn that went on
        self.rerouted_to: str | None = None
        self.messages = 0

    def feed(self, line: str) -> str:
        if not line.startswith("{"):
            return ""
        event = json.loads(line)
        if not isinstance(event, dict):
            return ""
        kind = event.get("type")
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            self.thread_id = event["thread_id"]
        elif kind == "turn.completed" and isinstance(event.get("usage"), dict):
            self.usages.append(event["usage"])
        elif kind == "error" and isinstance(event.get("message"), str):
            self.errors.append(event["message"])
        elif kind == "turn.failed":
            error = event.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str) and message not in self.errors:
                self.errors.append(message)
        elif kind == "item.completed":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "error":
                self._notice(item.get("message"))
            elif isinstance(item, dict) and item.get("type") == "agent_message":
                text = item.get("text")
                if isinstance(text, str) and text:
                    self.messages += 1
                    return ("\n" if self.messages > 1 else "") + text
        return ""

    def _notice(self, message: object) -> None:
        if not isinstance(message, str):
            return
        self.notices.append(message)
        rerouted = _REROUTED.search(message)
        if rerouted:
            self.rerouted_to = rerouted.group(2)


class CodexAdapter(BaseAdapter):
    name = "codex"
    default_binary = "codex"
    env_prefixes = ("OPENAI_", "CODEX_", "AZURE_OPENAI_")

    def argv(self, call: Call, session_id: str) -> list[str]:
        argv = [self.binary, "exec", "--json", "--sandbox", "read-only", "--skip-git-repo-check"]
        argv += ["-C", str(call.cwd), "--model", call.model]
        if call.effort:
            argv += ["-c", f"model_reasoning_effort={call.effort}"]
        return argv + list(self.settings.extra_args) + ["-"]

    def environment(self, parent: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
        """Also the key variables the user's Codex config names for its
        model providers (`env_key`), which can be called anything."""
        env = super().environment(parent, extra)
        for name in provider_key_names(codex_home(env) / "config.toml"):
            if name in parent and name not in env:
                env[name] = parent[name]
        return env

    def stdin(self, call: Call) -> str:
        # codex exec has no system-prompt flag; the reviewer's role goes first.
        return f"{REVIEWER_SYSTEM_PROMPT}\n\n{call.prompt}"

    def decoder(self) -> CodexStream:
        return CodexStream()

    def session_logs(self, env: Mapping[str, str]) -> Iterator[Path]:
        home = codex_home(env)
        yield from (home / "sessions").glob("*/*/*/rollout-*.jsonl")
        yield from (home / "archived_sessions").glob("rollout-*.jsonl")

    def session_log(self, env: Mapping[str, str], session_id: str) -> Path | None:
        if not safe_session_id(session_id):
            return None
        found = find_rollout(env, session_id)
        if found is None:
            archived = sorted(
                (codex_home(env) / "archived_sessions").glob(f"rollout-*{session_id}.jsonl")
            )
            found = archived[-1] if archived else None
        return found

    def read_session(self, path: Path) -> Session | None:
        return session_from_rollout(path)

    def classify(self, decoder: StreamDecoder, outcome: Outcome) -> Failure | None:
        assert isinstance(decoder, CodexStream)
        if outcome.stopped is not None:
            return outcome.stopped
        notices = [*decoder.errors, outcome.stderr]
        finished = outcome.returncode == 0 and decoder.messages > 0
        for notice in decoder.errors:
            if USAGE_LIMIT_PATTERN.search(notice) and not finished:
                return Failure(FailureKind.USAGE_LIMIT, notice.strip())
        for notice in notices:
            if outcome.returncode != 0 and AUTH_PATTERN.search(notice):
                return Failure(FailureKind.AUTH, f"codex: {notice.strip()[:300]}")
        if decoder.errors and outcome.returncode != 0:
            return Failure(FailureKind.CRASH, f"codex reported: {decoder.errors[-1].strip()}")
        return exit_failure("codex", outcome)

    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry:
        assert isinstance(decoder, CodexStream)
        sources = ["stream"]
        rollout: dict[str, Any] = {}
        path = find_rollout(env, decoder.thread_id) if decoder.thread_id else None
        if path is not None:
            rollout = read_rollout(path)
            sources.append("rollout")
        usages = decoder.usages or ([rollout["usage"]] if rollout.get("usage") else [])
        summed = {k: total(int_or_none(u.get(k)) for u in usages) for k in _USAGE_KEYS}
        asked = usable_model(rollout.get("model"))
        model = usable_model(decoder.rerouted_to) or asked
        return Telemetry(
            runner=self.name,
            cli_version=rollout.get("cli_version"),
            model=model,
            models=(model,) if model else (),
            requested_model=call.model,
            effort=rollout.get("effort") or call.effort,
            tokens=Tokens(
                input=summed["input_tokens"],
                output=summed["output_tokens"],
                cache_read=summed["cached_input_tokens"],
                cache_write=summed["cache_write_input_tokens"],
                reasoning=summed["reasoning_output_tokens"],
            ),
            input_includes_cache_read=True,
            duration_ms=rollout.get("duration_ms"),
            turns=len(decoder.usages) or None,
            session_id=decoder.thread_id,
            sources=tuple(sources),
            details={
                "errors": decoder.errors[-3:],
                "notices": decoder.notices[-3:],
                "rollout_model": asked,
                "wall_ms": outcome.duration_ms,
            },
        )


def codex_home(env: Mapping[str, str]) -> Path:
    configured = env.get("CODEX_HOME")
    return Path(configured) if configured else home_dir(env) / ".codex"


def provider_key_names(config_file: Path) -> list[str]:
    """`env_key` of every `[model_providers.<id>]` in a Codex config.toml."""
    import tomllib

    try:
        config = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    providers = config.get("model_providers")
    if not isinstance(providers, dict):
        return []
    return [
        p["env_key"]
        for p in providers.values()
        if isinstance(p, dict) and isinstance(p.get("env_key"), str)
    ]


def find_rollout(env: Mapping[str, str], thread_id: str) -> Path | None:
    """The rollout of a thread: looked for in the date folders around now
    (local and UTC dates may differ), then anywhere under `sessions/`."""
    sessions = codex_home(env) / "sessions"
    pattern = f"rollout-*{thread_id}.jsonl"
    now = datetime.now(UTC)
    days = {
        (moment + timedelta(days=delta)).strftime("%Y/%m/%d")
        for moment in (now, now.astimezone())
        for delta in (0, -1, 1)
    }
    for day in sorted(days, reverse=True):
        found = sorted((sessions / day).glob(pattern))
        if found:
            return found[-1]
    found = sorted(sessions.glob(f"*/*/*/{pattern}"))
    return found[-1] if found else None


def read_rollout(path: Path) -> dict[str, Any]:
    """Model, effort, CLI version, last cumulative usage and duration of a rollout."""
    facts: dict[str, Any] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            payload = event.get("payload") if isinstance(event, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = event.get("type")
            if kind == "session_meta":
                facts["cli_version"] = payload.get("cli_version")
                facts["session_id"] = payload.get("id") or payload.get("session_id")
                facts["cwd"] = payload.get("cwd")
            elif kind == "turn_context":
                facts["model"] = payload.get("model")
                effort = payload.get("effort")
                if not isinstance(effort, str):
                    mode = payload.get("collaboration_mode")
                    settings = mode.get("settings") if isinstance(mode, dict) else None
                    if isinstance(settings, dict):
                        effort = settings.get("reasoning_effort")
                facts["effort"] = effort.strip().lower() if isinstance(effort, str) else None
            elif kind == "event_msg" and payload.get("type") == "token_count":
                info = payload.get("info")
                if isinstance(info, dict) and isinstance(info.get("total_token_usage"), dict):
                    facts["usage"] = info["total_token_usage"]
            elif kind == "event_msg" and payload.get("type") == "task_complete":
                duration = int_or_none(payload.get("duration_ms"))
                if duration is not None:  # one per turn
                    facts["duration_ms"] = facts.get("duration_ms", 0) + duration
                facts["turns"] = facts.get("turns", 0) + 1
    return facts


def session_from_rollout(path: Path) -> Session | None:
    """A session's telemetry as its rollout alone tells it. The rollout names
    the model codex asked for; a reroute by the server is not in it."""
    try:
        facts = read_rollout(path)
    except OSError:
        return None
    session_id = facts.get("session_id") if isinstance(facts.get("session_id"), str) else None
    model = usable_model(facts.get("model"))
    if model is None and session_id is None:
        return None
    usage = facts.get("usage") or {}
    telemetry = Telemetry(
        runner=CodexAdapter.name,
        cli_version=facts.get("cli_version"),
        model=model,
        models=(model,) if model else (),
        effort=facts.get("effort"),
        tokens=Tokens(
            input=int_or_none(usage.get("input_tokens")),
            output=int_or_none(usage.get("output_tokens")),
            cache_read=int_or_none(usage.get("cached_input_tokens")),
            cache_write=int_or_none(usage.get("cache_write_input_tokens")),
            reasoning=int_or_none(usage.get("reasoning_output_tokens")),
        ),
        input_includes_cache_read=True,
        duration_ms=facts.get("duration_ms"),
        turns=facts.get("turns"),
        session_id=session_id,
        sources=("rollout",),
    )
    cwd = facts.get("cwd") if isinstance(facts.get("cwd"), str) else None
    return Session(path, session_id, cwd, telemetry)
