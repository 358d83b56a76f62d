"""Knowledge bases in temporary git repositories: where the example KB and the
corpus live, git as the tests drive it, and the copy of a KB committed in a
fresh repository, made once per session and copied for each test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "commonplace-kb"
VENDOR_FORMATS = SHARED / "vendor-formats"
EXAMPLE_KB = REPO / "examples" / "example-kb"

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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def commit_all(root: Path, message: str = "update") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def _build_git_kb(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    git(dest, "init", "-q")
    commit_all(dest, "initial")
    return dest


class _Templates:
    """Committed copies of the read-only source KBs, built on first use in a
    folder of the session (per xdist worker); None until the session sets it."""

    root: Path | None = None
    built: dict[Path, Path] = {}  # noqa: RUF012 - one cache per process, by design

    # Only these sources: they never change during a run, so a copy of their
    # first commit is what building them again would give.
    SOURCES = (EXAMPLE_KB.resolve(), CORPUS.resolve())


def use_template_root(root: Path) -> None:
    """Where this session keeps its KB templates (a tmp_path_factory folder)."""
    _Templates.root = root
    _Templates.built = {}


def make_git_kb(source: Path, dest: Path) -> Path:
    """A copy of `source` in a fresh git repository with everything committed.

    The example KB and the corpus are built once per session and copied (the
    working tree with its .git), which is about ten times cheaper than the
    init, add and commit each test would pay; other sources are built afresh."""
    key = source.resolve()
    if _Templates.root is None or key not in _Templates.SOURCES:
        return _build_git_kb(source, dest)
    template = _Templates.built.get(key)
    if template is None:
        template = _build_git_kb(source, _Templates.root / f"{len(_Templates.built)}-{key.name}")
        _Templates.built[key] = template
    shutil.copytree(template, dest, symlinks=True)
    # The copy has new inodes and ctimes: refresh the index so that git sees a
    # clean tree without re-hashing, exactly as after a commit of its own.
    git(dest, "update-index", "-q", "--refresh")
    return dest
