"""Provenance from git: blob ids computed in-process, and the KB's git state
read with a constant number of git calls per command (SPEC 3)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from commonplace import process
from commonplace.errors import UserError


def blob_sha(data: bytes) -> str:
    """The git blob id of `data`, as `git hash-object` computes it."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class GitState:
    """What git says about the files of one KB, keyed by KB-relative POSIX path.

    A path is *clean* when the KB is a git repository with a HEAD commit and git
    reports no change, staging, untracked or ignored state for it.
    """

    is_repo: bool
    head: str | None = None
    dirty: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    prefix: str = ""
    """The KB's folder within its repository, `""` or ending in `/`."""
    git_dir: str | None = None
    """The repository's (or worktree's) own git folder, absolute."""

    @cached_property
    def _ignored_dirs(self) -> tuple[str, ...]:
        return tuple(d for d in self.ignored if d.endswith("/") or d == "")

    def is_ignored(self, key: str) -> bool:
        return key in self.ignored or key.startswith(self._ignored_dirs)

    def is_clean(self, key: str) -> bool:
        return (
            self.is_repo
            and self.head is not None
            and key not in self.dirty
            and not self.is_ignored(key)
        )

    def is_dirty(self, key: str) -> bool:
        """Uncommitted in any way. Outside a git repository nothing is dirty."""
        return self.is_repo and not self.is_clean(key)

    def commit_for(self, key: str) -> str | None:
        return self.head if self.is_clean(key) else None


def read_state(kb_root: Path, pathspecs: Iterable[str]) -> GitState:
    """Two git calls: where the KB sits in its repository, and one status."""
    return start_state(kb_root, pathspecs)()


def start_state(kb_root: Path, pathspecs: Iterable[str]) -> Callable[[], GitState]:
    """`read_state` begun: both git calls start now, side by side, and the
    function returned waits for them. A command that has other work before it
    needs the state (loading gates) does it meanwhile, on another core."""
    if shutil.which("git") is None:
        return lambda: GitState(is_repo=False)
    where = process.start(
        ["git", "rev-parse", "--show-toplevel", "--show-prefix", "--absolute-git-dir"],
        cwd=kb_root,
    )
    specs = [s for s in pathspecs if s] or ["."]
    status = process.start(
        [
            "git",
            "-c",
            "core.quotepath=off",
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
            "--ignored=matching",
            "--",
            *specs,
        ],
        cwd=kb_root,
    )

    def finish() -> GitState:
        located, listed = where.finish(), status.finish()
        if not located.ok:  # not a repository: status failed too, and says nothing new
            return GitState(is_repo=False)
        if not listed.ok:
            raise UserError(f"cannot read git state of the knowledge base: {listed.describe()}")
        lines = located.stdout.decode("utf-8", "surrogateescape").split("\n")
        prefix = lines[1] if len(lines) > 1 else ""
        git_dir = lines[2] if len(lines) > 2 and lines[2] else None
        return _parse_status(listed.stdout, prefix, git_dir)

    return finish


def _parse_status(raw: bytes, prefix: str, git_dir: str | None = None) -> GitState:
    head: str | None = None
    dirty: set[str] = set()
    ignored: set[str] = set()
    records = raw.decode("utf-8", "surrogateescape").split("\0")
    skip_next = False
    for record in records:
        if skip_next:  # the original path of a rename or copy
            skip_next = False
            _add(dirty, record, prefix)
            continue
        if not record:
            continue
        kind = record[0]
        if record.startswith("# branch.oid "):
            oid = record[len("# branch.oid ") :]
            head = None if oid == "(initial)" else oid
        elif kind == "1":
            _add(dirty, record.split(" ", 8)[8], prefix)
        elif kind == "2":
            _add(dirty, record.split(" ", 9)[9], prefix)
            skip_next = True
        elif kind == "u":
            _add(dirty, record.split(" ", 10)[10], prefix)
        elif kind == "?":
            _add(dirty, record[2:], prefix)
        elif kind == "!":
            _add(ignored, record[2:], prefix)
    return GitState(
        is_repo=True,
        head=head,
        dirty=frozenset(dirty),
        ignored=frozenset(ignored),
        prefix=prefix,
        git_dir=git_dir,
    )


def _add(into: set[str], path: str, prefix: str) -> None:
    # git reports paths from the repository top; keys are relative to the KB root.
    if path.startswith(prefix):
        into.add(path[len(prefix) :])
    elif path.endswith("/") and prefix.startswith(path):
        into.add("")  # a directory above the KB root: everything in the KB


def is_tracked(kb_root: Path, key: str) -> bool:
    """Whether git tracks this file (it is in the index)."""
    if shutil.which("git") is None:
        return False
    found = process.run(["git", "ls-files", "--error-unmatch", "--", key], cwd=kb_root, check=False)
    return found.ok


def would_ignore(kb_root: Path, key: str) -> bool:
    """Whether git would ignore a file at this path, existing or not."""
    if shutil.which("git") is None:
        return False
    return process.run(["git", "check-ignore", "-q", "--", key], cwd=kb_root, check=False).ok


def move(kb_root: Path, old_key: str, new_key: str) -> None:
    """`git mv`: the file and its index entry."""
    process.run(["git", "mv", "--", old_key, new_key], cwd=kb_root)


def changed_since(kb_root: Path, ref: str) -> frozenset[str]:
    """KB-relative paths of the files a commit range changed: from the merge
    base of `ref` and HEAD to HEAD (`git diff REF...HEAD`, what a pull request
    shows). Renames count as the new path and the old one; paths outside the
    KB are left out. Two git calls, whatever the number of files."""
    if shutil.which("git") is None:
        raise UserError("--changed-since needs git, which is not installed")
    if not ref or ref.startswith("-") or "\0" in ref:
        # Never let a revision be read as an option of git.
        raise UserError(f"not a git revision: {ref!r}")
    found = process.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"],
        cwd=kb_root,
        check=False,
    )
    if not found.ok:
        where = process.run(["git", "rev-parse", "--git-dir"], cwd=kb_root, check=False)
        if not where.ok:
            raise UserError(f"--changed-since needs a git repository; {kb_root} is not in one")
        raise UserError(f"--changed-since {ref!r}: no such commit in this repository")
    commit = found.stdout.decode("ascii", "replace").strip()
    diff = process.run(
        # -z: names exactly as stored, whatever bytes they hold (newlines, quotes).
        # --relative: from the KB root, and only files inside it.
        ["git", "diff", "--name-only", "--no-renames", "-z", "--relative", f"{commit}...HEAD"],
        cwd=kb_root,
        check=False,
    )
    if not diff.ok:
        raise UserError(
            f"--changed-since {ref!r}: git cannot compare it with HEAD: {diff.describe()}"
        )
    names = diff.stdout.decode("utf-8", "surrogateescape").split("\0")
    return frozenset(n for n in names if n)


def user_identity(kb_root: Path) -> str | None:
    """`Name <email>` from git's config (either alone when only one is set),
    or None: who a person's record (a label) says made it."""
    if shutil.which("git") is None:
        return None
    parts = []
    for key in ("user.name", "user.email"):
        found = process.run(["git", "config", "--get", key], cwd=kb_root, check=False)
        value = found.stdout.decode("utf-8", "replace").strip() if found.ok else ""
        if value:
            parts.append(value if key == "user.name" else f"<{value}>")
    return " ".join(parts) or None
