"""The unexpected-error tier (exit 3): its traceback goes to a log file under
the user's state directory, named in the one-line message; `--debug` or
COMMONPLACE_DEBUG=1 prints it instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from commonplace.cli import app, crash
from commonplace.cli.main import COMMANDS

# Loaded by the interpreter at start-up (it is on PYTHONPATH): the store
# statistics fail as a bug would, inside a real console script.
FAULT = """\
import commonplace.store.check as storecheck

def store_stats(store):
    raise RuntimeError("planted fault in store_stats")

storecheck.store_stats = store_stats
"""


def script(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def crash_stats(
    tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`commonplace-review-store stats` with the planted fault, the state
    directory in `tmp_path`; (the process, the state directory)."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(FAULT, encoding="utf-8")
    kb = tmp_path / "kb"
    kb.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=kb, check=True)
    state = tmp_path / "state"
    environment = {
        **{k: v for k, v in os.environ.items() if k != "COMMONPLACE_DEBUG"},
        "PYTHONPATH": str(hook),
        "XDG_STATE_HOME": str(state),
        "HOME": str(tmp_path / "home"),
        **(env or {}),
    }
    db = kb / "store.sqlite"
    created = subprocess.run(
        [script("commonplace-review-store"), "migrate", "--db", str(db)],
        cwd=kb,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    done = subprocess.run(
        [script("commonplace-review-store"), "stats", "--db", str(db), *extra],
        cwd=kb,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return done, state / "commonplace"


def test_the_traceback_goes_to_a_log_the_message_names(tmp_path: Path) -> None:
    done, state = crash_stats(tmp_path)
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: unexpected error: RuntimeError: planted fault in store_stats")
    assert "Traceback" not in done.stderr
    (log,) = state.iterdir()
    assert log.name.startswith("commonplace-") and log.name.endswith(".log")
    assert line.endswith(f"; traceback in {log}")
    text = log.read_text(encoding="utf-8")
    assert text.startswith("Traceback (most recent call last):")
    assert "in store_stats" in text and "RuntimeError: planted fault in store_stats" in text
    assert "cli/review_store.py" in text  # the whole stack, not only the last frame
    assert oct(log.stat().st_mode & 0o777) == oct(0o600)
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("extra", "env"), [(("--debug",), {}), ((), {"COMMONPLACE_DEBUG": "1"})], ids=["flag", "env"]
)
def test_debug_prints_the_traceback_instead(
    tmp_path: Path, extra: tuple[str, ...], env: dict[str, str]
) -> None:
    done, state = crash_stats(tmp_path, *extra, env=env)
    assert done.returncode == 3, done.stderr
    assert "Traceback (most recent call last):" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: unexpected error: RuntimeError")
    assert "traceback in" not in done.stderr
    assert not state.exists()


def test_json_mode_reports_the_log_too(tmp_path: Path) -> None:
    done, state = crash_stats(tmp_path, "--json")
    assert done.returncode == 3
    (log,) = state.iterdir()
    assert f"traceback in {log}" in done.stdout and '"exit_code": 3' in done.stdout


def fail_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    from commonplace.store import check as storecheck

    def broken(store: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(storecheck, "store_stats", broken)
    kb = tmp_path / "kb"
    kb.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=kb, check=True)
    monkeypatch.chdir(kb)
    db = str(kb / "s.sqlite")
    assert app.run(COMMANDS["review-store"], ["migrate", "--db", db]) == 0
    return app.run(COMMANDS["review-store"], ["stats", "--db", db])


def test_an_unwritable_state_directory_still_gives_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.delenv("COMMONPLACE_DEBUG", raising=False)
    assert fail_in_process(monkeypatch, tmp_path) == 3
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(
        "; the traceback could not be logged (run again with --debug to see it)"
    )
    assert "Traceback" not in err


def test_a_planted_link_at_the_log_path_is_not_followed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The log file is always new: the state directory's files are never reused."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    target = tmp_path / "victim.txt"
    target.write_text("keep me", encoding="utf-8")
    first = crash._write_log("one")
    assert first is not None and first.read_text(encoding="utf-8") == "one"
    first.unlink()
    first.symlink_to(target)
    monkeypatch.setattr(crash, "datetime", _Frozen(first))
    assert crash._write_log("two") is None
    assert target.read_text(encoding="utf-8") == "keep me"


class _Frozen:
    """A `datetime` stand-in whose `now` gives the stamp of an existing log."""

    def __init__(self, log: Path) -> None:
        self.stamp = log.name.split("-")[1]

    def now(self, tz: object) -> _Frozen:
        return self

    def strftime(self, fmt: str) -> str:
        return self.stamp


def test_the_state_directory_follows_xdg_then_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/x/state")
    assert crash.state_dir() == Path("/x/state/commonplace")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert crash.state_dir() == Path.home() / ".local/state/commonplace"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert crash.state_dir() == Path.home() / ".local/state/commonplace"
