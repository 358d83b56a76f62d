"""The one place that runs short-lived external processes."""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

import pytest

import commonplace
from commonplace.errors import UserError
from commonplace.process import CannotRun, Completed, group_alive, run, spawn


def test_success_captures_output() -> None:
    result = run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert isinstance(result, Completed)
    assert result.ok
    assert result.returncode == 0
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.argv[0] == sys.executable


def test_stdin_and_cwd(tmp_path: Path) -> None:
    script = "import os, sys; sys.stdout.write(os.getcwd() + '|' + sys.stdin.read())"
    result = run([sys.executable, "-c", script], cwd=tmp_path, stdin=b"\x00bytes\xff")
    assert result.stdout == str(tmp_path).encode() + b"|\x00bytes\xff"


def test_failure_raises_user_error_naming_the_command() -> None:
    argv = [sys.executable, "-c", "import sys; print('broken thing', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(UserError) as info:
        run(argv)
    message = info.value.message
    assert message.startswith(f"`{sys.executable} -c ")
    assert "exited 3" in message
    assert message.endswith(": broken thing")
    assert info.value.exit_code == 1


def test_failure_without_stderr_shows_stdout() -> None:
    with pytest.raises(UserError, match=r"exited 2: only stdout$"):
        run([sys.executable, "-c", "import sys; print('only stdout'); sys.exit(2)"])


def test_failure_without_check_returns_result() -> None:
    result = run([sys.executable, "-c", "import sys; sys.exit(5)"], check=False)
    assert not result.ok
    assert result.returncode == 5
    assert "exited 5" in result.describe()


def test_missing_executable(tmp_path: Path) -> None:
    missing = "commonplace-no-such-program-xyz"
    for check in (True, False):
        with pytest.raises(UserError) as info:
            run([missing, "--version"], check=check)
        assert info.value.message == f"command not found: {missing}"
    with pytest.raises(UserError, match="command not found"):
        run([str(tmp_path / "absent" / "tool")])


def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "created"
    result = run([sys.executable, "-c", "import sys; print(sys.argv[1])", f"$(touch {marker})"])
    assert result.stdout == f"$(touch {marker})\n".encode()
    assert not marker.exists()


def test_a_command_that_cannot_run_is_a_user_error_naming_it(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o644)
    with pytest.raises(CannotRun) as info:
        run([str(script)])
    assert info.value.message.startswith(f"cannot run `{script}`: ")
    assert "Permission denied" in info.value.cause


def test_a_timeout_is_a_user_error_naming_the_command() -> None:
    with pytest.raises(CannotRun, match=r"cannot run `.*sleep.*`: .*timed out"):
        run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.2)


def test_without_stdin_the_command_reads_nothing() -> None:
    result = run([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"])
    assert result.stdout == b"''\n"


def test_spawn_streams_in_a_group_of_its_own_that_stop_group_ends(tmp_path: Path) -> None:
    echo_then_sleep = "import sys, time; print(sys.stdin.read(), flush=True); time.sleep(60)"
    child = spawn(
        [sys.executable, "-c", echo_then_sleep],
        cwd=tmp_path,
        env=dict(os.environ),
        guard=None,
    )
    child.stdin.write(b"hello")
    child.stdin.close()
    assert child.stdout.readline() == b"hello\n"
    assert os.getpgid(child.pid) == child.pid  # it leads its own group
    assert child.wait(0.05) is None
    child.stop_group(grace=2.0, poll=0.05)
    assert child.returncode is not None and child.returncode < 0
    deadline = time.monotonic() + 5
    while group_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(child.pid)
    child.release()


def test_spawn_raises_what_exec_gave_through_the_guard(tmp_path: Path) -> None:
    guard = Path(commonplace.__file__).parent / "runners" / "guard.py"
    with pytest.raises(FileNotFoundError):
        spawn([str(tmp_path / "absent")], cwd=tmp_path, env=dict(os.environ), guard=guard)


def test_only_the_process_module_imports_subprocess() -> None:
    """Every external process goes through `commonplace.process`."""
    root = Path(commonplace.__file__).parent
    importers = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "subprocess" or n.startswith("subprocess.") for n in names):
                importers.append(path.relative_to(root).as_posix())
    assert importers == ["process.py"]
