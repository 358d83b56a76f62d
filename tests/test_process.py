"""The one place that runs short-lived external processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from commonplace.errors import UserError
from commonplace.process import Completed, run


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
