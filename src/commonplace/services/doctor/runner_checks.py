"""Doctor's checks of the runners: is each runner's program (or SDK) there,
and which version. A runner this KB uses (a `[runners.<name>]` table, or
the `[defaults]` runner) that cannot start is a problem; a built-in runner
nobody configured that is not installed is only said."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import time

from commonplace import process
from commonplace.config import Config
from commonplace.errors import UsageError, UserError
from commonplace.kb.paths import shown
from commonplace.runners import API_RUNNERS, get_runner, runner_names
from commonplace.services.doctor.findings import OK, PROBLEM, Finding, suggestion

CHECK = "runners"
# `--version` must answer within this; a program that hangs must not hang doctor.
VERSION_TIMEOUT_S = 5.0
VERSION_CHARS = 120


def check_runners(config: Config, *, timeout: float = VERSION_TIMEOUT_S) -> list[Finding]:
    names = runner_names(config)
    findings = []
    default = config.defaults.runner
    if default is not None and default not in names:
        findings.append(
            Finding(
                CHECK,
                PROBLEM,
                f"[defaults] runner {default[:80]!r} is no runner{suggestion(default, names)}",
                f"name one of: {', '.join(names)}",
            )
        )
    for table in sorted(set(config.runners) - set(names)):
        findings.append(
            Finding(
                CHECK,
                PROBLEM,
                f"[runners.{shown(table)}] is no built-in runner and has no command"
                f"{suggestion(table, names)}",
                'give it command = ["program", "arg", ...], or name the built-in runner',
            )
        )
    for name in names:
        used = name in config.runners or name == default
        findings.append(_runner(config, name, used, timeout))
    return findings


def _runner(config: Config, name: str, used: bool, timeout: float) -> Finding:
    severity = PROBLEM if used else OK
    try:
        adapter = get_runner(config, name)
    except (UserError, UsageError) as exc:
        return Finding(CHECK, PROBLEM, exc.message, f"correct [runners.{name}] in commonplace.toml")
    if name in API_RUNNERS:
        return _api_runner(name, adapter.program(), getattr(adapter, "key_variable", ""), used)
    env = adapter.environment(os.environ, {})
    program = adapter.program()
    setting = "command" if name not in ("claude-code", "codex") else "binary"
    if shutil.which(program, path=env.get("PATH")) is None:
        unused = "" if used else f" (only needed for --runner {name})"
        return Finding(
            CHECK,
            severity,
            f"runner {name}: program {shown(program)} not found{unused}",
            f"install it, or set {setting} under [runners.{name}] in commonplace.toml",
        )
    argv = adapter.version_argv()
    if argv is None:
        return Finding(CHECK, OK, f"runner {name}: {shown(program)} found")
    answer, problem = version(argv, env, config, timeout)
    if problem is not None:
        return Finding(
            CHECK,
            severity,
            f"runner {name}: `{shown(' '.join(argv))}` {problem}",
            "check that the program works from a shell; reinstall it if it does not",
        )
    return Finding(CHECK, OK, f"runner {name}: {shown(program)} {answer or '(no version)'}")


def _api_runner(name: str, sdk: str, key_variable: str, used: bool) -> Finding:
    severity = PROBLEM if used else OK
    if importlib.util.find_spec(sdk) is None:
        return Finding(
            CHECK,
            severity,
            f"runner {name}: the {sdk} SDK is not installed",
            f"pip install 'commonplace-review[{sdk}]'",
        )
    try:
        sdk_version = importlib.metadata.version(sdk)
    except importlib.metadata.PackageNotFoundError:
        sdk_version = "?"
    if key_variable and not os.environ.get(key_variable, "").strip():
        return Finding(
            CHECK,
            severity,
            f"runner {name}: {sdk}-python {sdk_version}, but {key_variable} is not set",
            f"set {key_variable} to your API key",
        )
    return Finding(CHECK, OK, f"runner {name}: {sdk}-python {sdk_version}")


def version(
    argv: list[str], env: dict[str, str], config: Config, timeout: float
) -> tuple[str | None, str | None]:
    """(the first line of what `argv` printed, why it did not answer). The
    program runs in a process group of its own, stopped whole after
    `timeout`, so neither it nor a child it left behind can hang doctor."""
    try:
        child = process.spawn(argv, cwd=config.kb_root, env=env, guard=None)
    except OSError as exc:
        return None, f"cannot be run: {exc.strerror or exc}"
    try:
        with contextlib.suppress(OSError):
            child.stdin.close()
        started = time.monotonic()
        code = child.wait(timeout)
        child.stop_group(grace=0.2, poll=0.02)  # what it left running goes too
        if code is None:
            return None, f"did not answer within {timeout:g}s (stopped after {_since(started)})"
        out = _available(child.stdout.fileno())
    finally:
        for stream in (child.stdout, child.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    if code != 0:
        return None, f"exited {code}"
    lines = out.decode("utf-8", "replace").strip().splitlines()
    return (lines[0][:VERSION_CHARS] if lines else None), None


def _available(fd: int) -> bytes:
    """What the pipe holds now, never waiting for more (a grandchild that
    left the group may still hold its other end)."""
    os.set_blocking(fd, False)
    chunks = []
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 4 * VERSION_CHARS:
                break
    return b"".join(chunks)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"
