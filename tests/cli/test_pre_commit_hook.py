"""The hooks of `.pre-commit-hooks.yaml`, run by the real `pre-commit` tool
(`pre-commit run --files ...`) on a temporary git KB: a stale staged note
fails the hook, and the same note passes once reviewed (stand-in runner).

pre-commit clones the hook repository at a commit and installs it in a
virtualenv of its own, so the tests give it a commit of this working tree as
it is (uncommitted edits included), made once per session, and one
PRE_COMMIT_HOME per session so that the virtualenv is built once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers.cli import DEMO_MODEL, append
from helpers.commands import console_script, run_script
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, REPO, commit_all, git, make_git_kb

FROST = "kb/notes/frost-dates.md"
SEEDS = "kb/notes/seed-packets.md"


def _pre_commit() -> str:
    found = console_script("pre-commit")
    if shutil.which(found) is None:
        message = "pre-commit is not installed (it is in the test extras)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """(path, commit) of a repository holding this working tree's files as
    they are, and the PRE_COMMIT_HOME of the session."""
    pre_commit = _pre_commit()
    dest = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8", "surrogateescape")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    env = {**os.environ, **GIT_IDENTITY}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=dest, check=True, env=env, capture_output=True)
    rev = git(dest, "rev-parse", "HEAD").strip()
    return pre_commit, rev, dest


def _kb_with_hooks(tmp_path: Path, hook_repo: tuple[str, str, Path]) -> Path:
    _, rev, repo = hook_repo
    kb = make_git_kb(EXAMPLE_KB, tmp_path / "kb")
    config = {
        "repos": [
            {
                "repo": str(repo),
                "rev": rev,
                "hooks": [
                    {"id": "commonplace-stale", "args": ["--model", DEMO_MODEL]},
                    {"id": "commonplace-stale-system", "args": ["--model", DEMO_MODEL]},
                ],
            }
        ]
    }
    (kb / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    (kb / ".gitignore").write_text("kb/reports/\n")
    commit_all(kb, "hooks")
    return kb


def _run(hook_repo: tuple[str, str, Path], kb: Path, hook: str, *files: str):
    pre_commit, _, _ = hook_repo
    home = hook_repo[2].parent / "pre-commit-home"  # one per session: the venv is built once
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        # the system hook finds the commonplace of this interpreter
        "PATH": f"{Path(console_script('commonplace')).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(
        [pre_commit, "run", hook, "--files", *files],
        cwd=kb,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize("hook", ["commonplace-stale", "commonplace-stale-system"])
def test_hook_fails_on_a_stale_staged_note_and_passes_after_review(
    tmp_path: Path, hook_repo: tuple[str, str, Path], hook: str
) -> None:
    kb = _kb_with_hooks(tmp_path, hook_repo)
    append(kb, FROST, "\nThe lawn thermometer was moved in May.\n")
    git(kb, "add", FROST)
    failed = _run(hook_repo, kb, hook, FROST, "README.md", "commonplace.toml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert FROST in failed.stdout and "missing-review" in failed.stdout
    assert SEEDS not in failed.stdout  # only the files given
    swept = run_script(
        "commonplace-review-sweep",
        ["--runner", "stand-in", "--model", DEMO_MODEL, "--note", FROST],
        cwd=kb,
    )
    assert swept.returncode == 0, swept.stderr
    passed = _run(hook_repo, kb, hook, FROST, "README.md")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    # Files that are no notes: nothing to check, the hook passes.
    other = _run(hook_repo, kb, hook, "README.md")
    assert other.returncode == 0, other.stdout + other.stderr
    # Edited again after the review: stale again (note-changed).
    append(kb, FROST, "\nAnd again.\n")
    git(kb, "add", FROST)
    again = _run(hook_repo, kb, hook, FROST)
    assert again.returncode == 1 and "note-changed" in again.stdout, again.stdout
