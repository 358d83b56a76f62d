"""Fixtures of the command-line tests that take long to make, made once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import DEMO_MODEL
from helpers.commands import run_script
from helpers.db import STORE
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, make_git_kb


@pytest.fixture(scope="session")
def swept_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example KB in git after a stand-in review sweep (15 runs, every
    pair of demo-model accepted by a full review), made once per session."""
    base = tmp_path_factory.mktemp("swept")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in GIT_IDENTITY.items():
            patch.setenv(key, value)
        patch.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        kb = make_git_kb(EXAMPLE_KB, base / "kb")
        swept = run_script(
            "commonplace-review-sweep",
            ["--runner", "stand-in", "--model", DEMO_MODEL, "--db", str(kb / STORE)],
            cwd=kb,
            env={"HOME": str(base / "home")},
        )
        assert swept.returncode == 0, swept.stderr
    yield kb


@pytest.fixture
def swept_kb(swept_template: Path, tmp_path: Path, backend: str) -> Path:
    """A fresh copy of the swept example KB for one test. On PostgreSQL the
    same sweep runs again into the test's schema (the template's store is a
    file)."""
    kb = Path(shutil.copytree(swept_template, tmp_path / "kb", symlinks=True))
    if backend != "sqlite":
        (kb / STORE).unlink()
        swept = run_script(
            "commonplace-review-sweep", ["--runner", "stand-in", "--model", DEMO_MODEL], cwd=kb
        )
        assert swept.returncode == 0, swept.stderr
    return kb
