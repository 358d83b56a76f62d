"""What every runner adapter is (SPEC 8): it builds a command that reads the
prompt on stdin, decodes the CLI's stream into review text as it arrives,
collects telemetry, and says why a call failed. `Adapter` is that contract,
`BaseAdapter` its shared defaults. Adapters hold no process handling;
`launch.run_adapter` owns the child process.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Protocol

from commonplace.runners.telemetry import Session, Telemetry
from commonplace.settings import RunnerSettings

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
    # API runners: what the provider answered
    CONTEXT_LENGTH = "context-length"  # the prompt does not fit the model's context
    REFUSAL = "refusal"  # the model declined to answer
    CUT_OFF = "cut-off"  # the answer reached the output token limit
    SERVER_ERROR = "server-error"  # 5xx or overload, still after the retries
    REJECTED = "rejected"  # any other refused request (4xx)


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
    # Offsets into `prompt` where prefixes shared with other calls end
    # (`RenderedPrompt.cache_points`: the instructions, the gates every note
    # gets, all of this batch's gates): where cache breakpoints go.
    cache_points: tuple[int, ...] = ()


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


class Adapter(Protocol):
    """The contract of a runner adapter: what `launch` needs to run one call
    and `repair` needs to read a harness's session logs. `BaseAdapter` gives
    the shared defaults; each adapter writes only what differs."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> RunnerSettings: ...

    def argv(self, call: Call, session_id: str) -> list[str]: ...

    def stdin(self, call: Call) -> str: ...

    def call_environment(self, call: Call, session_id: str) -> dict[str, str]: ...

    def environment(
        self, parent: Mapping[str, str], extra: Mapping[str, str]
    ) -> dict[str, str]: ...

    def decoder(self) -> StreamDecoder: ...

    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry | None: ...

    def classify(self, decoder: StreamDecoder, outcome: Outcome) -> Failure | None: ...

    def program(self) -> str: ...

    def version_argv(self) -> list[str] | None: ...

    def session_logs(self, env: Mapping[str, str]) -> Iterator[Path]: ...

    def session_log(self, env: Mapping[str, str], session_id: str) -> Path | None: ...

    def read_session(self, path: Path) -> Session | None: ...


class BaseAdapter(ABC):
    """One harness CLI. Created per invocation; holds the settings only."""

    name: str  # set by each adapter class (a command runner sets it per instance)
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


def home_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or os.path.expanduser("~"))


def safe_session_id(value: str) -> bool:
    """A session id fit to be part of a file name pattern."""
    return bool(value) and len(value) <= 128 and all(c.isalnum() or c in "-_" for c in value)
