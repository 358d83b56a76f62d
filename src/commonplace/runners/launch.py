"""Running one runner call as a child process (SPEC 8, process handling).

The child gets the prompt on stdin, an allow-listed environment and its own
process group. Its stdout is decoded line by line as it arrives; the call
ends when the child exits, or when we stop it: on timeout, on cancellation
(Ctrl-C, another batch hitting a usage limit), when the decoder sees a
failure worth stopping for, or when the output grows past a cap. Stopping
terminates the whole group: TERM, a grace period, then KILL.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from commonplace import process
from commonplace.capped import MAX_OUTPUT
from commonplace.errors import UserError
from commonplace.owners import OWNER_VARIABLE, owner_token
from commonplace.redaction import redact, redact_json, secret_values
from commonplace.runners.base import (
    Adapter,
    Call,
    Failure,
    FailureKind,
    Outcome,
    StreamDecoder,
)
from commonplace.runners.pumps import Pump
from commonplace.runners.telemetry import Telemetry

MAX_TEXT_CHARS = MAX_OUTPUT  # review text beyond this is not a review
GUARD = Path(__file__).with_name("guard.py")  # run as a script, never imported
GRACE_SECONDS = 3.0
POLL_SECONDS = 0.05


class Cancellable(Protocol):
    """Anything that says when a call should stop (a threading.Event will do)."""

    def is_set(self) -> bool: ...


@runtime_checkable
class DirectAdapter(Protocol):
    """A runner that is no child process: it sends the prompt to a provider's
    API itself (`runners.api_call`). `run_adapter` and `version_of` hand the
    call to it; the executor sees the same `RunnerResult`."""

    def preflight(self, env: Mapping[str, str]) -> str | None:
        """Check what a call needs (SDK, key) before any run exists; the SDK version."""

    def request(
        self,
        call: Call,
        *,
        timeout: float | None,
        cancel: Cancellable | None,
        echo: Callable[[str], None] | None,
        env: Mapping[str, str],
    ) -> RunnerResult:
        """One call, start to finish; never raises for the provider's answers."""


@dataclass(frozen=True)
class RunnerResult:
    runner: str
    text: str
    failure: Failure | None
    telemetry: Telemetry | None
    telemetry_error: str | None
    stdout_excerpt: str
    stderr_excerpt: str
    returncode: int | None
    wall_ms: int
    session_id: str

    def debug_log(self) -> str:
        parts = [f"$ runner {self.runner} exited {self.returncode} after {self.wall_ms} ms"]
        if self.failure is not None:
            parts.append(f"failure ({self.failure.kind}): {self.failure.message}")
        if self.telemetry_error:
            parts.append(f"telemetry not collected: {self.telemetry_error}")
        if self.stderr_excerpt.strip():
            parts.append("--- stderr ---\n" + self.stderr_excerpt.rstrip())
        if self.stdout_excerpt.strip():
            parts.append("--- stdout ---\n" + self.stdout_excerpt.rstrip())
        return "\n".join(parts) + "\n"


def version_of(adapter: Adapter, parent_env: Mapping[str, str] | None = None) -> str | None:
    """Check that the runner's program can be found and ask it for its
    version, if it has one to tell. A missing program is a `UserError`."""
    if isinstance(adapter, DirectAdapter):
        return adapter.preflight(parent_env if parent_env is not None else os.environ)
    env = adapter.environment(parent_env if parent_env is not None else os.environ, {})
    program = adapter.program()
    if shutil.which(program, path=env.get("PATH")) is None:
        raise UserError(missing_binary(adapter, program).message)
    argv = adapter.version_argv()
    if argv is None:
        return None
    try:
        done = process.run(argv, env=env, timeout=30, check=False)
    except process.CommandNotFound:
        raise UserError(missing_binary(adapter, argv[0]).message) from None
    except process.CannotRun as exc:
        raise UserError(
            f"runner {adapter.name}: cannot run `{argv[0]} --version`: {exc.cause}"
        ) from None
    text = done.stdout.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if done.returncode == 0 and text else None


def missing_binary(adapter: Adapter, binary: str) -> Failure:
    setting = "command" if adapter.settings.command else "binary"
    return Failure(
        FailureKind.MISSING_BINARY,
        f"runner {adapter.name}: `{binary}` not found (install it, or set `{setting}` under"
        f" [runners.{adapter.name}] in commonplace.toml)",
    )


def run_adapter(
    adapter: Adapter,
    call: Call,
    *,
    timeout: float | None,
    cancel: Cancellable | None = None,
    echo: Callable[[str], None] | None = None,
    parent_env: Mapping[str, str] | None = None,
) -> RunnerResult:
    """One call, start to finish. Never raises for the child's misbehaviour;
    Ctrl-C stops the child and is re-raised."""
    if isinstance(adapter, DirectAdapter):
        env = parent_env if parent_env is not None else os.environ
        return adapter.request(call, timeout=timeout, cancel=cancel, echo=echo, env=env)
    session_id = str(uuid.uuid4())
    argv = adapter.argv(call, session_id)
    env = adapter.environment(
        parent_env if parent_env is not None else os.environ,
        adapter.call_environment(call, session_id),
    )
    decoder = adapter.decoder()
    # lone surrogates (from file names git could not decode) must not stop the call
    prompt = adapter.stdin(call).encode("utf-8", "replace")
    started = time.monotonic()

    def unstarted(failure: Failure) -> RunnerResult:
        wall = int((time.monotonic() - started) * 1000)
        return RunnerResult(adapter.name, "", failure, None, None, "", "", None, wall, session_id)

    # Every process of the call carries its owner, so that `reap-stale-runs`
    # can find the groups of an owner that died (see review.owners).
    env = {**env, OWNER_VARIABLE: owner_token()}
    try:
        child = process.spawn(argv, cwd=call.cwd, env=env, guard=GUARD)
    except OSError as exc:
        return unstarted(_start_failure(adapter, argv, call, env, exc))

    secrets = secret_values(env)
    pump = Pump(child, decoder, echo, secrets, cap=MAX_TEXT_CHARS)
    stopped: Failure | None = None
    deadline = None if timeout is None else started + timeout
    try:  # from here on, whatever happens (Ctrl-C included) stops the group
        pump.start(prompt)
        while child.poll() is None:
            child.wait(POLL_SECONDS)
            if child.poll() is not None:
                break
            stopped = _why_stop(decoder, pump, cancel, deadline, timeout)
            if stopped is not None:
                break
    except BaseException:
        child.stop_group(GRACE_SECONDS, POLL_SECONDS)
        pump.join(GRACE_SECONDS)
        child.release()
        raise
    child.stop_group(GRACE_SECONDS, POLL_SECONDS)  # the child, or what it left in its group
    child.release()  # after the group is gone: the watchdog forgets its number
    pump.join(GRACE_SECONDS)
    if stopped is None and pump.overflowing():  # it wrote past the cap, then exited
        stopped = _too_large()
    outcome = Outcome(
        returncode=child.returncode,
        stderr=pump.stderr.text(),
        stopped=stopped,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    failure = adapter.classify(decoder, outcome)
    telemetry, telemetry_error = None, None
    try:
        telemetry = adapter.telemetry(call, decoder, outcome, env, session_id)
    except Exception as exc:  # telemetry is evidence, never a reason to fail
        telemetry_error = f"{type(exc).__name__}: {exc}"
    # Nothing the child said leaves this function unredacted: whatever is
    # stored or shown later starts from here. (Excerpts and live lines were
    # redacted line by line, before anything could cut a secret in two.)
    if failure is not None:
        failure = replace(failure, message=redact(failure.message, secrets))
    if telemetry is not None:
        telemetry = _redacted(telemetry, secrets)
    return RunnerResult(
        runner=adapter.name,
        text=redact("".join(pump.text), secrets),
        failure=failure,
        telemetry=telemetry,
        telemetry_error=telemetry_error and redact(telemetry_error, secrets),
        stdout_excerpt=pump.stdout.text(),
        stderr_excerpt=outcome.stderr,
        returncode=child.returncode,
        wall_ms=outcome.duration_ms,
        session_id=session_id,
    )


def _start_failure(
    adapter: Adapter, argv: list[str], call: Call, env: Mapping[str, str], exc: OSError
) -> Failure:
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        if not call.cwd.is_dir():
            return Failure(FailureKind.CRASH, f"runner {adapter.name}: no directory {call.cwd}")
        found = shutil.which(argv[0], path=env.get("PATH"))
        if found is None:
            return missing_binary(adapter, argv[0])
        if exc.filename in (None, argv[0]):  # the program is there; what it runs with is not
            return Failure(
                FailureKind.CRASH,
                f"runner {adapter.name}: cannot start {argv[0]}: the interpreter"
                f" {_interpreter(found)!r} it names was not found",
            )
    return Failure(FailureKind.CRASH, f"runner {adapter.name}: cannot start: {exc}")


def _interpreter(program: str) -> str:
    """The `#!` line of a script, or what there is of it."""
    try:
        with open(program, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return "?"
    return first[2:].decode("utf-8", "replace").strip() if first.startswith(b"#!") else "?"


def _redacted(telemetry: Telemetry, secrets: tuple[str, ...]) -> Telemetry:
    """Telemetry with its strings redacted. A model name that carries a secret
    is no model name: it is dropped, so that it never becomes a partition."""
    models = tuple(m for m in telemetry.models if redact(m, secrets) == m)
    model = telemetry.model if telemetry.model in models else None

    def text(value: str | None) -> str | None:
        return None if value is None else redact(value, secrets)

    return replace(
        telemetry,
        model=model,
        models=models,
        cli_version=text(telemetry.cli_version),
        requested_model=text(telemetry.requested_model),
        effort=text(telemetry.effort),
        session_id=text(telemetry.session_id),
        sources=tuple(redact(s, secrets) for s in telemetry.sources),
        details=redact_json(
            {
                **telemetry.details,
                **(
                    {"models_withheld": len(telemetry.models) - len(models)}
                    if len(models) < len(telemetry.models)
                    else {}
                ),
            },
            secrets,
        ),
    )


def _why_stop(
    decoder: StreamDecoder,
    pump: Pump,
    cancel: Cancellable | None,
    deadline: float | None,
    timeout: float | None,
) -> Failure | None:
    if cancel is not None and cancel.is_set():
        return Failure(FailureKind.INTERRUPTED, "interrupted")
    if deadline is not None and time.monotonic() > deadline:
        return Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g} s")
    if pump.overflowing():
        return _too_large()
    return decoder.stop()


def _too_large() -> Failure:
    return Failure(FailureKind.OUTPUT_TOO_LARGE, f"output exceeded {MAX_TEXT_CHARS} characters")
