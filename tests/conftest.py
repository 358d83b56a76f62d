"""Shared fixtures: knowledge bases in temporary git repositories, and running
commands in-process the way their console scripts do; with the few helpers every
test folder uses (git, the review store's tables, raw SQL on a store file)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Timing is measured by benchmarks/, never by tests: no per-example deadline,
# which would only make a loaded CI machine flaky.
settings.register_profile(
    "commonplace", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("commonplace")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "commonplace-kb"
VENDOR_FORMATS = SHARED / "vendor-formats"
EXAMPLE_KB = REPO / "examples" / "example-kb"

# Every table of the review store.
STORE_TABLES = (
    "review_batches",
    "review_runs",
    "review_run_gates",
    "gate_reviews",
    "acceptance_events",
    "snapshots",
    "model_alias_resolutions",
    "note_relocations",
)

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def require_shared(path: Path) -> Path:
    """Skip when ../shared is absent, except in CI where that is a failure."""
    if not path.exists():
        message = f"{path} is absent (it lives in ../shared beside the checkout)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's store variable or writes to their HOME."""
    monkeypatch.delenv("COMMONPLACE_REVIEW_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def execute_sql(db: Path, *statements: str) -> None:
    """Run statements on a store file directly, behind the library's back."""
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def commit_all(root: Path, message: str = "update") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def make_git_kb(source: Path, dest: Path) -> Path:
    """A copy of `source` in a fresh git repository with everything committed."""
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    git(dest, "init", "-q")
    commit_all(dest, "initial")
    return dest


@pytest.fixture
def corpus_kb(tmp_path: Path) -> Path:
    """The real corpus, copied into a temporary git repository."""
    return make_git_kb(require_shared(CORPUS), tmp_path / "corpus-kb")


@pytest.fixture
def example_kb(tmp_path: Path) -> Path:
    """The bundled example KB, copied into a temporary git repository."""
    return make_git_kb(EXAMPLE_KB, tmp_path / "example-kb")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run `commonplace-<name> args...` in-process from `cwd`; returns code and output."""
    from commonplace.cli.app import run
    from commonplace.cli.main import COMMANDS

    def invoke(name: str, *args: str, cwd: Path, stdin: str | None = None) -> Result:
        import sys

        monkeypatch.chdir(cwd)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", _Stdin(stdin))
        capsys.readouterr()
        try:
            code = run(COMMANDS[name], list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


class _Stdin:
    """A text stdin with a binary buffer, like the real one when piped."""

    def __init__(self, text: str) -> None:
        import io

        self.buffer = io.BytesIO(text.encode("utf-8"))

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self.buffer.read().decode("utf-8")


def console_script(name: str) -> str:
    """The installed console script next to this interpreter."""
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_script(
    name: str,
    args: Sequence[str],
    *,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(name), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
