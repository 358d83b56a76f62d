"""What every runner adapter is (SPEC 8): it builds a command that reads the
prompt on stdin, decodes the CLI's stream into review text as it arrives,
collects telemetry, and says why a call failed. Adapters hold no process
handling; `launch.run_adapter` owns the child process.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from commonplace.review.runners import plausible
from commonplace.settings import RunnerSettings as RunnerSettings  # its home is the config

TELEMETRY_SCHEMA = "commonplace.telemetry/1"

# What any harness needs to start: where it lives, who runs it, locale, temp
# dirs and proxies. Everything else stays out unless an adapter asks for it.
BASE_ENVIRONMENT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TMP",
    "TEMP",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
)
BASE_PREFIXES = ("LC_",)


class FailureKind(StrEnum):
    USAGE_LIMIT = "usage-limit"  # usage or rate limit: try later
    AUTH = "auth"
    TIMEOUT = "timeout"
    MISSING_BINARY = "missing-binary"
    INTERRUPTED = "interrupted"
    CRASH = "crash"  # killed by a signal, or exited non-zero
    OUTPUT_TOO_LARGE = "output-too-large"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str

    def reason(self) -> str:
        """The failure reason stored on runs."""
        if self.kind is FailureKind.USAGE_LIMIT:
            return f"usage exhausted: {self.message}"
        return self.message


@dataclass(frozen=True)
class Call:
    """One call of a runner: the prompt and the model flags as the user gave them."""

    prompt: str
    model: str
    effort: str | None
    cwd: Path


@dataclass(frozen=True)
class Tokens:
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None

    def __post_init__(self) -> None:
        # negative or non-numeric counts are dropped, whoever built the record
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, plausible.count(getattr(self, name)))

    def as_dict(self) -> dict[str, int | None]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True)
class Telemetry:
    """Normalized telemetry of one call. `model` is the one main model that
    served it, or None when there were several or none (then nothing is rekeyed)."""

    runner: str
    cli_version: str | None = None
    model: str | None = None
    models: tuple[str, ...] = ()
    requested_model: str | None = None
    effort: str | None = None
    tokens: Tokens = field(default_factory=Tokens)
    input_includes_cache_read: bool = False  # OpenAI counts cached input inside input
    cost_usd: float | None = None
    duration_ms: int | None = None
    turns: int | None = None
    session_id: str | None = None
    sources: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Validated here so that no adapter (nor repair) can store what is not
        # a model id or a count: a model that is not plausible is dropped, and
        # `model` only stands when it is one of the kept `models`.
        models = distinct([m for m in map(plausible.model_id, self.models) if m])
        model = plausible.model_id(self.model)
        if self.models and model not in models:
            model = None
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "cost_usd", plausible.amount(self.cost_usd))
        object.__setattr__(self, "duration_ms", plausible.count(self.duration_ms))
        object.__setattr__(self, "turns", plausible.count(self.turns))

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": TELEMETRY_SCHEMA,
            "runner": self.runner,
            "cli_version": self.cli_version,
            "model": self.model,
            "models": list(self.models),
            "requested_model": self.requested_model,
            "effort": self.effort,
            "tokens": self.tokens.as_dict(),
            "input_includes_cache_read": self.input_includes_cache_read,
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
            "turns": self.turns,
            "session_id": self.session_id,
            "sources": list(self.sources),
            **({"details": dict(self.details)} if self.details else {}),
        }


@dataclass(frozen=True)
class Session:
    """What a CLI's own log says about one of its sessions: the repair path's
    evidence when a run's telemetry was lost or never taken."""

    path: Path
    session_id: str | None
    cwd: str | None
    telemetry: Telemetry


class StreamDecoder(ABC):
    """Turns the CLI's stdout, line by line, into review text, and watches it
    for signs that the call should stop early (a rate limit it would otherwise
    wait out for minutes)."""

    @abstractmethod
    def feed(self, line: str) -> str:
        """Take one stdout line (without its newline); return review text to append."""

    def stop(self) -> Failure | None:
        """A failure that should end the call now, if any."""
        return None


class PlainText(StreamDecoder):
    """stdout is the review text itself."""

    def feed(self, line: str) -> str:
        return line + "\n"


@dataclass(frozen=True)
class Outcome:
    """What a finished child left: exit code (negative: killed by that signal),
    stderr, and whether we stopped it."""

    returncode: int | None
    stderr: str
    stopped: Failure | None  # timeout, interrupt, early stop
    duration_ms: int


class Adapter(ABC):
    """One harness CLI. Created per invocation; holds the settings only."""

    name: ClassVar[str]
    default_binary: ClassVar[str | None] = None  # a harness CLI, found on PATH
    env_names: ClassVar[tuple[str, ...]] = ()
    env_prefixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: RunnerSettings | None = None) -> None:
        self.settings = settings or RunnerSettings()

    @abstractmethod
    def argv(self, call: Call, session_id: str) -> list[str]:
        """The command line; the prompt is never on it."""

    def stdin(self, call: Call) -> str:
        return call.prompt

    def call_environment(self, call: Call, session_id: str) -> dict[str, str]:
        """Variables set for this call only."""
        return {}

    @abstractmethod
    def decoder(self) -> StreamDecoder: ...

    @abstractmethod
    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry | None:
        """Best effort; the caller catches anything this raises."""

    def classify(self, decoder: StreamDecoder, outcome: Outcome) -> Failure | None:
        """Why the call failed, if it did (`outcome.stopped` is already a reason)."""
        if outcome.stopped is not None:
            return outcome.stopped
        return exit_failure(self.display_name(), outcome)

    def display_name(self) -> str:
        return self.name

    def session_logs(self, env: Mapping[str, str]) -> Iterator[Path]:
        """Every session log the CLI keeps (none for runners without logs)."""
        return iter(())

    def session_log(self, env: Mapping[str, str], session_id: str) -> Path | None:
        """The log of one session, found by its id."""
        return None

    def read_session(self, path: Path) -> Session | None:
        """Telemetry rebuilt from one session log, or None when unreadable."""
        return None

    @property
    def binary(self) -> str:
        return self.settings.binary or self.default_binary or self.name

    def version_argv(self) -> list[str] | None:
        """How to ask the CLI for its version, or None."""
        return [self.binary, "--version"] if self.default_binary else None

    def program(self) -> str:
        """The executable a call starts (checked before any run is created)."""
        return self.argv(Call("", "", None, Path(".")), "")[0]

    def environment(self, parent: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
        """The child's environment: the allow-list, the adapter's own, the
        configured names, then `extra` (set by us)."""
        names = {*BASE_ENVIRONMENT, *self.env_names, *self.settings.env}
        prefixes = (*BASE_PREFIXES, *self.env_prefixes)
        env = {k: v for k, v in parent.items() if k in names or k.startswith(prefixes)}
        env.update(extra)
        return env


def merge_telemetry(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One telemetry document for several calls or sessions of the same runs
    (a re-ask for missing pairs, a repair finding two logs): sums, the models
    of all, and each document kept under `calls`."""
    if not documents:
        return {}
    if len(documents) == 1:
        return dict(documents[0])
    merged = dict(documents[0])
    models = list(dict.fromkeys(m for d in documents for m in d.get("models") or ()))
    merged["models"] = models
    merged["model"] = models[0] if len(models) == 1 else None
    merged["tokens"] = {
        key: total([(d.get("tokens") or {}).get(key) for d in documents])
        for key in documents[0].get("tokens") or {}
    }
    for key in ("cost_usd", "duration_ms", "turns"):
        merged[key] = _sum([d.get(key) for d in documents])
    merged["calls"] = [dict(d) for d in documents]
    return merged


def _sum(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def exit_failure(what: str, outcome: Outcome) -> Failure | None:
    code = outcome.returncode
    if code == 0:
        return None
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Failure(FailureKind.CRASH, f"{what} was killed by {name}")
    tail = last_lines(outcome.stderr)
    return Failure(FailureKind.CRASH, f"{what} exited {code}" + (f": {tail}" if tail else ""))


def last_lines(text: str, count: int = 3, width: int = 300) -> str:
    """The last lines of a text on one line, at most `width` characters, cut
    between words: half a credential would not be recognised as one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines[-count:])
    if len(joined) <= width:
        return joined
    cut = joined[-width:]
    space = cut.find(" ")
    return cut[space + 1 :] if space >= 0 else ""


def int_or_none(value: object) -> int | None:
    """A count, duration or number of turns: a non-negative whole number."""
    return plausible.count(value)


def total(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def home_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or os.path.expanduser("~"))


def usable_model(value: object) -> str | None:
    """A model name, unless absent or synthetic (`<synthetic>` marks messages
    the CLI wrote itself, like a usage-limit notice) or not a plausible id."""
    return plausible.model_id(value)


def distinct(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def safe_session_id(value: str) -> bool:
    """A session id fit to be part of a file name pattern."""
    return bool(value) and len(value) <= 128 and all(c.isalnum() or c in "-_" for c in value)


def span_ms(first: object, last: object) -> int | None:
    """Milliseconds between two ISO-8601 timestamps, or None."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(str(first).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
        return max(0, round((end - start).total_seconds() * 1000))
    except (ValueError, TypeError):  # unreadable, or one with a zone and one without
        return None
