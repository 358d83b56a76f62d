"""Provenance from git: in-process blob ids and the KB's git state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.kb import commit_all, git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonplace.errors import UserError
from commonplace.git import GitState, blob_sha, read_state

REAL_GIT = shutil.which("git")
SPECS = ["kb/notes", "kb/reference", "kb/instructions/review-gates"]


def write(path: Path, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_parent_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stop git from finding a repository above tmp_path."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def repo(tmp_path: Path, no_parent_repo: None) -> Path:
    """A KB in a git repository with two committed notes and a committed gate."""
    root = tmp_path / "repo"
    write(root / "kb/notes/a.md", "---\ntype: x\n---\na\n")
    write(root / "kb/notes/b.md", "---\ntype: x\n---\nb\n")
    write(root / "kb/instructions/review-gates/prose/g.md", "gate\n")
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


# -- blob_sha --------------------------------------------------------------------------


def test_blob_sha_known_values() -> None:
    assert blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048))
def test_blob_sha_matches_git_hash_object_stdin(data: bytes) -> None:
    assert REAL_GIT is not None
    out = subprocess.run(
        [REAL_GIT, "hash-object", "--stdin"], input=data, capture_output=True, check=True
    ).stdout
    assert blob_sha(data) == out.decode().strip()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blobs=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.text(max_size=200).map(lambda t: t.encode("utf-8")),
            st.text(alphabet="ab\r\n", max_size=50).map(str.encode),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_blob_sha_matches_git_hash_object_stdin_paths(
    blobs: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("blobs")
    paths = []
    for index, data in enumerate(blobs):
        path = folder / f"{index}.bin"
        path.write_bytes(data)
        paths.append(str(path))
    out = subprocess.run(
        ["git", "hash-object", "--no-filters", "--stdin-paths"],
        input="\n".join(paths) + "\n",
        capture_output=True,
        text=True,
        check=True,
        cwd=folder,
    ).stdout.split()
    assert [blob_sha(b) for b in blobs] == out


# -- GitState --------------------------------------------------------------------------


def test_git_state_outside_a_repository() -> None:
    state = GitState(is_repo=False)
    assert not state.is_clean("kb/notes/a.md")
    assert not state.is_dirty("kb/notes/a.md")
    assert state.commit_for("kb/notes/a.md") is None
    assert not state.is_ignored("kb/notes/a.md")


def test_git_state_predicates() -> None:
    state = GitState(
        is_repo=True,
        head="abc",
        dirty=frozenset({"kb/notes/d.md"}),
        ignored=frozenset({"kb/notes/build/", "kb/notes/x.tmp.md"}),
    )
    assert state.is_clean("kb/notes/a.md")
    assert state.commit_for("kb/notes/a.md") == "abc"
    assert state.is_dirty("kb/notes/d.md")
    assert state.commit_for("kb/notes/d.md") is None
    assert state.is_ignored("kb/notes/build/deep/n.md")
    assert state.is_ignored("kb/notes/x.tmp.md")
    assert not state.is_ignored("kb/notes/x.tmp.md.bak")
    assert not state.is_ignored("kb/notes/buildings.md")
    assert state.is_dirty("kb/notes/build/deep/n.md")


# -- read_state ------------------------------------------------------------------------


def test_read_state_non_repository(tmp_path: Path, no_parent_repo: None) -> None:
    root = tmp_path / "plain"
    write(root / "kb/notes/a.md")
    state = read_state(root, SPECS)
    assert state == GitState(is_repo=False)
    assert state.commit_for("kb/notes/a.md") is None
    assert not state.is_dirty("kb/notes/a.md")


def test_read_state_without_git_on_path(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = repo.parent / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert read_state(repo, SPECS) == GitState(is_repo=False)


def test_read_state_empty_repository(tmp_path: Path, no_parent_repo: None) -> None:
    root = tmp_path / "fresh"
    write(root / "kb/notes/a.md")
    git(root, "init", "-q")
    state = read_state(root, SPECS)
    assert state.is_repo
    assert state.head is None
    assert "kb/notes/a.md" in state.dirty
    assert not state.is_clean("kb/notes/a.md")
    assert state.is_dirty("kb/notes/a.md")
    assert state.commit_for("kb/notes/a.md") is None


def test_read_state_clean(repo: Path) -> None:
    state = read_state(repo, SPECS)
    assert state.is_repo
    assert state.head == head(repo)
    assert state.dirty == frozenset()
    assert state.ignored == frozenset()
    assert state.commit_for("kb/notes/a.md") == head(repo)
    assert state.commit_for("kb/instructions/review-gates/prose/g.md") == head(repo)


def test_read_state_modified_staged_untracked(repo: Path) -> None:
    write(repo / "kb/notes/a.md", "---\ntype: x\n---\nchanged\n")
    write(repo / "kb/notes/b.md", "---\ntype: x\n---\nstaged\n")
    git(repo, "add", "kb/notes/b.md")
    write(repo / "kb/notes/sub dir/new note.md")
    write(repo / "kb/instructions/review-gates/prose/g.md", "edited gate\n")
    state = read_state(repo, SPECS)
    assert state.head == head(repo)
    assert state.dirty == {
        "kb/notes/a.md",
        "kb/notes/b.md",
        "kb/notes/sub dir/new note.md",
        "kb/instructions/review-gates/prose/g.md",
    }
    for key in state.dirty:
        assert state.is_dirty(key)
        assert state.commit_for(key) is None


def test_read_state_deleted_and_staged_then_reverted(repo: Path) -> None:
    (repo / "kb/notes/a.md").unlink()
    write(repo / "kb/notes/b.md", "---\ntype: x\n---\nother\n")
    git(repo, "add", "kb/notes/b.md")
    write(repo / "kb/notes/b.md", "---\ntype: x\n---\nb\n")  # worktree back to HEAD
    state = read_state(repo, SPECS)
    assert state.dirty == {"kb/notes/a.md", "kb/notes/b.md"}


def test_read_state_non_ascii_paths(repo: Path) -> None:
    write(repo / "kb/notes/café – ünïcode.md")
    state = read_state(repo, SPECS)
    assert state.dirty == {"kb/notes/café – ünïcode.md"}


def test_read_state_ignored_files_and_directories(repo: Path) -> None:
    write(repo / ".gitignore", "*.tmp.md\nkb/notes/build/\n")
    commit_all(repo, "ignore")
    write(repo / "kb/notes/scratch.tmp.md")
    write(repo / "kb/notes/build/out.md")
    write(repo / "kb/notes/build/deeper/more.md")
    state = read_state(repo, SPECS)
    assert state.ignored == {"kb/notes/scratch.tmp.md", "kb/notes/build/"}
    assert state.dirty == frozenset()
    assert state.is_ignored("kb/notes/build/deeper/more.md")
    assert not state.is_clean("kb/notes/build/out.md")
    assert state.commit_for("kb/notes/scratch.tmp.md") is None
    assert state.is_clean("kb/notes/a.md")


def test_read_state_rename(repo: Path) -> None:
    git(repo, "mv", "kb/notes/a.md", "kb/notes/renamed.md")
    state = read_state(repo, SPECS)
    assert state.dirty == {"kb/notes/a.md", "kb/notes/renamed.md"}
    assert state.is_clean("kb/notes/b.md")


def test_read_state_pathspecs_limit_the_scope(repo: Path) -> None:
    write(repo / "elsewhere/untracked.md")
    write(repo / "kb/notes/new.md")
    assert read_state(repo, ["kb/notes"]).dirty == {"kb/notes/new.md"}
    assert read_state(repo, []).dirty == {"elsewhere/untracked.md", "kb/notes/new.md"}


def test_read_state_kb_in_subdirectory(tmp_path: Path, no_parent_repo: None) -> None:
    top = tmp_path / "mono"
    kb = top / "docs" / "kb-root"
    write(kb / "kb/notes/a.md")
    write(kb / "kb/notes/b.md")
    write(top / "kb/notes/outside.md")
    git(top, "init", "-q")
    commit_all(top, "initial")
    write(kb / "kb/notes/a.md", "changed\n")
    write(kb / "kb/notes/new.md")
    write(top / "kb/notes/outside.md", "changed\n")
    write(top / ".gitignore", "docs/kb-root/kb/notes/*.tmp.md\n")
    write(kb / "kb/notes/x.tmp.md")
    state = read_state(kb, SPECS)
    assert state.head == head(top)
    assert state.dirty == {"kb/notes/a.md", "kb/notes/new.md"}
    assert state.ignored == {"kb/notes/x.tmp.md"}
    assert state.commit_for("kb/notes/b.md") == head(top)
    # Even with no pathspec, keys outside the KB never appear.
    assert read_state(kb, []).dirty == {"kb/notes/a.md", "kb/notes/new.md"}


def test_read_state_kb_inside_an_ignored_directory(tmp_path: Path, no_parent_repo: None) -> None:
    # The enclosing repository ignores the directory holding the whole KB; git then
    # reports only `! docs/`, above the KB root. Nothing in the KB is committed, so
    # no note may be reported clean with the HEAD commit.
    top = tmp_path / "mono"
    kb = top / "docs" / "kb-root"
    write(top / ".gitignore", "docs/\n")
    write(kb / "kb/notes/a.md")
    git(top, "init", "-q")
    commit_all(top, "initial")
    state = read_state(kb, SPECS)
    assert state.is_ignored("kb/notes/a.md")
    assert not state.is_clean("kb/notes/a.md")
    assert state.commit_for("kb/notes/a.md") is None


def test_read_state_git_failure_is_a_user_error(repo: Path) -> None:
    # An invalid pathspec magic makes `git status` itself fail.
    with pytest.raises(UserError, match="cannot read git state of the knowledge base"):
        read_state(repo, [":(nonsense)kb"])


def test_read_state_makes_a_constant_number_of_git_calls(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert REAL_GIT is not None
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "git-calls.log"
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{REAL_GIT}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{Path(REAL_GIT).parent}")

    def calls(files: int) -> list[str]:
        for index in range(files):
            write(repo / f"kb/notes/many/n{index}.md")
        log.unlink(missing_ok=True)
        state = read_state(repo, SPECS)
        assert len(state.dirty) == files
        return log.read_text().splitlines()

    few = calls(3)
    many = calls(200)
    assert len(few) == 2
    assert len(many) == 2
    assert any("status" in line for line in many)
