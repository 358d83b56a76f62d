"""Running one runner call as a child process (SPEC 8, process handling): the
prompt on stdin, incremental decoding, timeout, cancellation, early stop, output
cap, and stopping the child's whole process group. Every child is a real small
Python script written into tmp_path."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commonplace.errors import UserError
from commonplace.runners import launch
from commonplace.runners.base import (
    Call,
    Failure,
    FailureKind,
    PlainText,
    RunnerSettings,
    StreamDecoder,
)
from commonplace.runners.claude_code import ClaudeCodeAdapter
from commonplace.runners.command import CommandAdapter
from commonplace.runners.launch import run_adapter, version_of
from commonplace.runners.pumps import Excerpt
from commonplace.services.execution import Cancel

# Bounds the waits for a process to disappear or a child to get ready; the tests
# never assert on how long anything took.
PATIENCE = 10.0


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM, then KILL after a short grace, to keep the tests fast."""
    monkeypatch.setattr(launch, "GRACE_SECONDS", 0.3)


def runner(tmp_path: Path, body: str, name: str = "child.py") -> CommandAdapter:
    """A command runner whose command is this interpreter running `body`."""
    script = tmp_path / name
    script.write_text(body, encoding="utf-8")
    return CommandAdapter("test", RunnerSettings(command=(sys.executable, str(script))), tmp_path)


def call(cwd: Path, prompt: str = "the prompt") -> Call:
    return Call(prompt=prompt, model="m", effort=None, cwd=cwd)


def wait_until(condition: Callable[[], bool]) -> bool:
    end = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def gone(pid: int) -> bool:
    """The process no longer runs (it may linger as a zombie until reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def when_ready(path: Path, action: Callable[[], Any]) -> threading.Thread:
    """Run `action` on another thread once the child has created `path`."""

    def wait_then_act() -> None:
        if wait_until(path.exists):
            action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def ready_marker(path: Path) -> str:
    """Child code that writes its pid to `path` atomically."""
    return (
        "import os\n"
        f"_tmp = {str(path)!r} + '.tmp'\n"
        "with open(_tmp, 'w') as _f: _f.write(str(os.getpid()))\n"
        f"os.replace(_tmp, {str(path)!r})\n"
    )


# --- stdin, stdout, exit status ---------------------------------------------------


def test_the_prompt_arrives_on_stdin(tmp_path: Path) -> None:
    adapter = runner(tmp_path, "import sys\nsys.stdout.write(sys.stdin.read())\n")
    prompt = "first line\nsecond line — ünïcödé\n=== PAIR REVIEW START: a.md :: g ==="

    result = run_adapter(adapter, call(tmp_path, prompt), timeout=20)

    assert result.failure is None, result.debug_log()
    assert result.text == prompt + "\n"
    assert result.returncode == 0
    assert result.runner == "test"
    assert "second line" in result.stdout_excerpt


def test_a_one_megabyte_prompt_goes_through_stdin(tmp_path: Path) -> None:
    adapter = runner(
        tmp_path,
        "import hashlib, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n",
    )
    prompt = ("x" * 99 + "\n") * 10_500  # over 1 MB, far beyond one argument's limit

    result = run_adapter(adapter, call(tmp_path, prompt), timeout=20)

    assert result.failure is None, result.debug_log()
    expected = hashlib.sha256(prompt.encode()).hexdigest()
    assert result.text == f"{len(prompt)} {expected}\n"


def test_a_child_that_does_not_read_its_prompt_does_not_hang(tmp_path: Path) -> None:
    adapter = runner(tmp_path, "print('answered without reading')\n")

    result = run_adapter(adapter, call(tmp_path, "y" * 2_000_000), timeout=20)

    assert result.failure is None, result.debug_log()
    assert result.text == "answered without reading\n"


def test_the_child_runs_in_the_call_directory_and_its_own_process_group(tmp_path: Path) -> None:
    workdir = tmp_path / "kb"
    workdir.mkdir()
    adapter = runner(
        tmp_path,
        "import os\n"
        "print(os.getcwd())\n"
        "print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())\n",
    )

    result = run_adapter(adapter, call(workdir), timeout=20)

    assert result.text == f"{workdir.resolve()}\nTrue True\n"


def test_the_child_gets_the_allow_listed_environment(tmp_path: Path) -> None:
    adapter = runner(
        tmp_path,
        "import os\n"
        "for name in ('PATH', 'SECRET_THING', 'OPENAI_API_KEY', 'COMMONPLACE_MODEL'):\n"
        "    print(name, os.environ.get(name))\n",
    )
    parent = {"PATH": "/usr/bin:/bin", "SECRET_THING": "s", "OPENAI_API_KEY": "k"}

    result = run_adapter(adapter, call(tmp_path), timeout=20, parent_env=parent)

    assert result.text.splitlines() == [
        "PATH /usr/bin:/bin",
        "SECRET_THING None",
        "OPENAI_API_KEY None",
        "COMMONPLACE_MODEL m",
    ]


def test_a_missing_binary_is_reported_by_name(tmp_path: Path) -> None:
    adapter = CommandAdapter(
        "ghost", RunnerSettings(command=("no-such-program-3f9a", "--x")), tmp_path
    )

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.MISSING_BINARY
    assert "`no-such-program-3f9a` not found" in result.failure.message
    assert "[runners.ghost]" in result.failure.message
    assert result.returncode is None
    assert result.text == ""
    assert result.telemetry is None


def test_a_missing_relative_program_is_named_by_its_kb_path(tmp_path: Path) -> None:
    adapter = CommandAdapter("ghost", RunnerSettings(command=("bin/review",)), tmp_path)

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.MISSING_BINARY
    assert str(tmp_path / "bin/review") in result.failure.message


def test_a_program_that_cannot_be_executed_is_a_crash(tmp_path: Path) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\necho hi\n")
    adapter = CommandAdapter("x", RunnerSettings(command=("./not-executable",)), tmp_path)

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.CRASH
    assert "cannot start" in result.failure.message


def test_a_missing_working_directory_is_not_reported_as_a_missing_binary(tmp_path: Path) -> None:
    adapter = runner(tmp_path, "print('hello')\n")

    result = run_adapter(adapter, call(tmp_path / "absent-kb"), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is not FailureKind.MISSING_BINARY


def test_a_prompt_that_is_not_valid_unicode_does_not_escape_as_an_exception(
    tmp_path: Path,
) -> None:
    adapter = runner(tmp_path, "print('started')\n")  # exits at once: nothing left behind

    result = run_adapter(adapter, call(tmp_path, "- kb/notes/caf\udce9.md :: g"), timeout=20)

    assert result.returncode is not None


def test_a_non_zero_exit_keeps_the_text_and_is_a_crash(tmp_path: Path) -> None:
    adapter = runner(
        tmp_path,
        "import sys\n"
        "print('a complete review')\n"
        "print('warning: something odd', file=sys.stderr)\n"
        "sys.exit(3)\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.text == "a complete review\n"
    assert result.returncode == 3
    assert result.failure is not None
    assert result.failure.kind is FailureKind.CRASH
    assert "exited 3" in result.failure.message
    assert "warning: something odd" in result.failure.message
    assert "warning: something odd" in result.stderr_excerpt


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_child_killed_by_a_signal_is_a_crash_naming_it(
    tmp_path: Path, signum: signal.Signals
) -> None:
    adapter = runner(
        tmp_path,
        f"import os, signal, sys\nprint('partial', flush=True)\nos.kill(os.getpid(), {signum})\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.returncode == -signum
    assert result.failure is not None
    assert result.failure.kind is FailureKind.CRASH
    assert result.failure.message.endswith(f"was killed by {signum.name}")
    assert result.text == "partial\n"


def test_non_utf8_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    adapter = runner(
        tmp_path,
        "import sys\n"
        "sys.stdout.buffer.write(b'caf\\xe9 ok\\n\\xff\\xfe\\nafter\\n')\n"
        "sys.stderr.buffer.write(b'err \\xc3\\x28\\n')\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is None
    assert result.text == "caf\ufffd ok\n\ufffd\ufffd\nafter\n"
    assert "\ufffd" in result.stderr_excerpt


# --- stopping the child ----------------------------------------------------------


def test_a_timeout_stops_the_child_and_everything_it_started(
    tmp_path: Path, short_grace: None
) -> None:
    child_pid, grandchild_pid = tmp_path / "child.pid", tmp_path / "grandchild.pid"
    adapter = runner(
        tmp_path,
        "import subprocess, sys, time\n"
        "sys.stdin.read()\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(grandchild_pid)!r}, 'w').write(str(grandchild.pid))\n"
        + ready_marker(child_pid)
        + "print('working', flush=True)\ntime.sleep(60)\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=1)

    assert result.failure == Failure(FailureKind.TIMEOUT, "timed out after 1 s")
    assert result.text == "working\n"
    child, grandchild = int(child_pid.read_text()), int(grandchild_pid.read_text())
    assert wait_until(lambda: gone(child))
    assert wait_until(lambda: gone(grandchild))


def test_what_a_finished_child_left_behind_in_its_group_is_stopped(
    tmp_path: Path, short_grace: None
) -> None:
    pids = tmp_path / "pids"
    adapter = runner(
        tmp_path,
        "import subprocess, sys\n"
        "leftover = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pids)!r}, 'w').write(str(leftover.pid))\n"
        "print('done')\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is None, result.debug_log()
    assert result.text == "done\n"
    assert wait_until(lambda: gone(int(pids.read_text())))


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, short_grace: None
) -> None:
    ready = tmp_path / "ready"
    adapter = runner(
        tmp_path,
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        + ready_marker(ready)
        + "time.sleep(60)\n",
    )
    cancel = threading.Event()
    when_ready(ready, cancel.set)

    result = run_adapter(adapter, call(tmp_path), timeout=30, cancel=cancel)

    assert result.failure == Failure(FailureKind.INTERRUPTED, "interrupted")
    assert result.returncode == -signal.SIGKILL
    assert wait_until(lambda: gone(int(ready.read_text())))


def test_cancel_from_another_thread_interrupts_the_call(tmp_path: Path, short_grace: None) -> None:
    ready = tmp_path / "ready"
    adapter = runner(tmp_path, ready_marker(ready) + "import time\ntime.sleep(60)\n")
    cancel = Cancel()
    when_ready(ready, lambda: cancel.set(Failure(FailureKind.USAGE_LIMIT, "batch 2 hit a limit")))

    result = run_adapter(adapter, call(tmp_path), timeout=30, cancel=cancel)  # type: ignore[arg-type]

    assert result.failure is not None
    assert result.failure.kind is FailureKind.INTERRUPTED
    assert result.returncode is not None and result.returncode < 0
    assert wait_until(lambda: gone(int(ready.read_text())))


def test_a_cancel_set_before_the_start_stops_the_call_at_once(
    tmp_path: Path, short_grace: None
) -> None:
    adapter = runner(tmp_path, "import time\ntime.sleep(60)\n")
    cancel = threading.Event()
    cancel.set()

    result = run_adapter(adapter, call(tmp_path), timeout=30, cancel=cancel)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.INTERRUPTED


def test_ctrl_c_stops_the_child_and_is_reraised(tmp_path: Path, short_grace: None) -> None:
    ready = tmp_path / "ready"
    adapter = runner(tmp_path, ready_marker(ready) + "import time\ntime.sleep(60)\n")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sender = when_ready(ready, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            run_adapter(adapter, call(tmp_path), timeout=30)
        sender.join(PATIENCE)
    finally:
        signal.signal(signal.SIGINT, previous)

    assert wait_until(lambda: gone(int(ready.read_text())))


class _StopsOnMarker(PlainText):
    """Asks to stop the call once it has seen a marker line."""

    def __init__(self) -> None:
        self.seen = False

    def feed(self, line: str) -> str:
        self.seen = self.seen or line == "429 429 429"
        return super().feed(line)

    def stop(self) -> Failure | None:
        if self.seen:
            return Failure(FailureKind.USAGE_LIMIT, "the decoder saw enough")
        return None


class _EarlyStopRunner(CommandAdapter):
    def decoder(self) -> StreamDecoder:
        return _StopsOnMarker()


def test_the_decoder_can_stop_the_call_early(tmp_path: Path, short_grace: None) -> None:
    script = tmp_path / "child.py"
    script.write_text("import time\nprint('429 429 429', flush=True)\ntime.sleep(60)\n")
    adapter = _EarlyStopRunner(
        "test", RunnerSettings(command=(sys.executable, str(script))), tmp_path
    )

    result = run_adapter(adapter, call(tmp_path), timeout=30)

    assert result.failure == Failure(FailureKind.USAGE_LIMIT, "the decoder saw enough")
    assert result.returncode is not None and result.returncode < 0


def test_enormous_output_stops_the_child(
    tmp_path: Path, short_grace: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "MAX_TEXT_CHARS", 10_000)
    adapter = runner(tmp_path, "import sys\nwhile True:\n    sys.stdout.write('x' * 99 + '\\n')\n")

    result = run_adapter(adapter, call(tmp_path), timeout=30)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.OUTPUT_TOO_LARGE
    assert "10000" in result.failure.message
    assert result.returncode is not None and result.returncode < 0
    assert len(result.text) <= 10_000 + 100  # the cap and at most one more line


def test_output_over_the_cap_from_a_child_that_exits_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "MAX_TEXT_CHARS", 10_000)
    # The child exits before the next poll: with the default poll that is a race
    # the child usually wins; a long poll makes it certain.
    monkeypatch.setattr(launch, "POLL_SECONDS", 60.0)
    adapter = runner(tmp_path, "for _ in range(400):\n    print('x' * 99)\n")

    result = run_adapter(adapter, call(tmp_path), timeout=30)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.OUTPUT_TOO_LARGE


def test_output_without_newlines_is_capped_too(
    tmp_path: Path, short_grace: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "MAX_TEXT_CHARS", 10_000)
    adapter = runner(
        tmp_path,
        "import sys, time\nsys.stdout.write('x' * 200_000)\nsys.stdout.flush()\ntime.sleep(60)\n",
    )

    result = run_adapter(adapter, call(tmp_path), timeout=1)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.OUTPUT_TOO_LARGE


# --- decoder, telemetry and echo misbehaving ------------------------------------


class _Fussy(PlainText):
    def feed(self, line: str) -> str:
        if "BOOM" in line:
            raise ValueError(f"cannot read {line!r}")
        return super().feed(line)


class _FussyRunner(CommandAdapter):
    def decoder(self) -> StreamDecoder:
        return _Fussy()


class _BrokenTelemetryRunner(CommandAdapter):
    def telemetry(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("session log unreadable")


def test_a_decoder_raising_on_a_line_does_not_stop_the_reader(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text("print('before')\nprint('BOOM')\nprint('after')\n")
    adapter = _FussyRunner("test", RunnerSettings(command=(sys.executable, str(script))), tmp_path)

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is None
    assert result.text == "before\nafter\n"
    assert "BOOM" in result.stdout_excerpt  # the raw line is kept for debugging


def test_telemetry_raising_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text("print('the review')\n")
    settings = RunnerSettings(command=(sys.executable, str(script)))
    adapter = _BrokenTelemetryRunner("test", settings, tmp_path)

    result = run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is None
    assert result.text == "the review\n"
    assert result.telemetry is None
    assert result.telemetry_error == "RuntimeError: session log unreadable"


def test_echo_receives_the_text_and_a_failing_echo_is_dropped(tmp_path: Path) -> None:
    adapter = runner(tmp_path, "print('one')\nprint('two')\nprint('three')\n")
    echoed: list[str] = []

    def flaky_echo(piece: str) -> None:
        echoed.append(piece)
        if piece == "two\n":
            raise BrokenPipeError("stderr closed")

    result = run_adapter(adapter, call(tmp_path), timeout=20, echo=flaky_echo)

    assert result.failure is None
    assert result.text == "one\ntwo\nthree\n"
    assert echoed == ["one\n", "two\n"]


# --- results, excerpts, versions --------------------------------------------------


def test_each_call_gets_its_own_session_id(tmp_path: Path) -> None:
    adapter = runner(tmp_path, "print('x')\n")

    first = run_adapter(adapter, call(tmp_path), timeout=20)
    second = run_adapter(adapter, call(tmp_path), timeout=20)

    assert first.session_id != second.session_id
    assert len(first.session_id) == 36


def test_debug_log_mentions_exit_code_failure_and_stderr(tmp_path: Path) -> None:
    adapter = runner(
        tmp_path,
        "import sys\nprint('partial review')\nprint('ERR-7731 backend gone', file=sys.stderr)\n"
        "sys.exit(3)\n",
    )

    log = run_adapter(adapter, call(tmp_path), timeout=20).debug_log()

    assert "exited 3" in log
    assert "failure (crash): " in log
    assert "--- stderr ---\nERR-7731 backend gone" in log
    assert "--- stdout ---\npartial review" in log


def test_excerpt_keeps_head_and_tail_within_its_budget() -> None:
    excerpt = Excerpt(budget=100)
    for i in range(1000):
        excerpt.add(f"{i:04d}\n")

    text = excerpt.text()

    assert text.startswith("0000\n0001\n")
    assert text.endswith("0998\n0999\n")
    marker = "\n[... 4900 characters left out ...]\n"
    assert marker in text
    assert len(text.replace(marker, "")) <= 100


def test_a_short_excerpt_is_the_whole_text() -> None:
    excerpt = Excerpt(budget=100)
    excerpt.add("short\n")
    excerpt.add("text\n")

    assert excerpt.text() == "short\ntext\n"


def test_an_excerpt_of_one_long_piece_stays_within_its_budget() -> None:
    excerpt = Excerpt(budget=100)
    excerpt.add("y" * 10_000)

    assert len(excerpt.text()) <= 200


def fake_cli(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-cli"
    script.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    script.chmod(0o755)
    return script


def test_version_of_returns_the_first_line(tmp_path: Path) -> None:
    binary = fake_cli(
        tmp_path,
        "import sys\nassert sys.argv[1:] == ['--version']\n"
        "print('1.2.3 (Fake)')\nprint('more details')\n",
    )

    version = version_of(ClaudeCodeAdapter(RunnerSettings(binary=str(binary))))

    assert version == "1.2.3 (Fake)"


def test_version_of_a_failing_cli_is_none(tmp_path: Path) -> None:
    binary = fake_cli(tmp_path, "import sys\nprint('1.0')\nsys.exit(1)\n")

    assert version_of(ClaudeCodeAdapter(RunnerSettings(binary=str(binary)))) is None


def test_version_of_a_missing_binary_is_a_user_error_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-claude-here")

    with pytest.raises(UserError) as caught:
        version_of(ClaudeCodeAdapter(RunnerSettings(binary=missing)))

    assert f"`{missing}` not found" in caught.value.message
    assert "[runners.claude-code]" in caught.value.message


def test_version_of_a_runner_without_a_version_command_is_none(tmp_path: Path) -> None:
    adapter = CommandAdapter("x", RunnerSettings(command=(sys.executable, "-c", "")), tmp_path)

    assert version_of(adapter) is None


def test_version_of_a_command_runner_whose_program_is_missing_names_it(tmp_path: Path) -> None:
    adapter = CommandAdapter("x", RunnerSettings(command=("no-such-program",)), tmp_path)

    with pytest.raises(UserError, match=r"`no-such-program` not found .*set `command` under"):
        version_of(adapter)
