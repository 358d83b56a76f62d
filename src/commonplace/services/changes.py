"""Scoping to what changed: the notes a pull request or a commit touched, and
the notes under the gates it touched (`--changed-since`, `--changed-files`).

A note is in scope when its own file changed, or when the file of a gate that
applies to it changed: a catalog gate, a type spec (`type/<name>`) or a
COLLECTION.md (`collection/<name>`). Files that are neither notes nor gates,
and paths that no longer exist (deleted notes), are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from commonplace.errors import UserError
from commonplace.git import GitState, changed_since
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate
from commonplace.kb.notes import find_notes, note_facts
from commonplace.kb.paths import key_for_path
from commonplace.workspace import Workspace


@dataclass(frozen=True)
class ChangedScope:
    """What changed, as KB-relative paths, and the gates among them."""

    source: str
    """For messages: `since main` or `among the files given`."""
    paths: frozenset[str]
    gates: tuple[Gate, ...]

    def covers(self, note: KbFile) -> bool:
        if note.key in self.paths:
            return True
        if not self.gates:
            return False
        facts = note_facts(note)
        return any(g.applies_to(facts) for g in self.gates)

    def keep(self, notes: Iterable[KbFile]) -> list[KbFile]:
        return [n for n in notes if self.covers(n)]

    def note_keys(self, ws: Workspace, git: GitState) -> frozenset[str]:
        """Every reviewable note of the KB in scope (one scan)."""
        return frozenset(n.key for n in find_notes(ws.config, git).notes if self.covers(n))

    def empty_message(self) -> str:
        return f"no notes changed {self.source}, nor any gate that applies to a note"


def since(ws: Workspace, git: GitState, ref: str, gate_refs: Sequence[str] = ()) -> ChangedScope:
    """The scope of `--changed-since REF`: the files changed from the merge
    base of REF and HEAD to HEAD (a pull request's diff), plus the files with
    uncommitted changes (staged, unstaged or untracked; none in CI), so that a
    branch being worked on sees its edits. Gates: those named, else every gate."""
    uncommitted = {k for k in git.dirty if not git.is_ignored(k)}
    paths = changed_since(ws.config.kb_root, ref) | uncommitted
    return ChangedScope(f"since {ref}", frozenset(paths), _changed_gates(ws, paths, gate_refs))


def among_files(ws: Workspace, files: Sequence[str], gate_refs: Sequence[str] = ()) -> ChangedScope:
    """The scope of `--changed-files`: the paths given (as pre-commit passes
    them, relative to the working directory). Paths outside the KB or that
    name no file are skipped: a hook gets every staged file, notes or not."""
    paths: set[str] = set()
    for raw in files:
        try:
            key = key_for_path(ws.config.kb_root, raw, cwd=ws.cwd)
        except UserError:  # outside the KB, or a name no note can have
            continue
        if (ws.config.kb_root / key).is_file():
            paths.add(key)
    return ChangedScope(
        "among the files given", frozenset(paths), _changed_gates(ws, paths, gate_refs)
    )


def _changed_gates(
    ws: Workspace, paths: Iterable[str], gate_refs: Sequence[str]
) -> tuple[Gate, ...]:
    from commonplace.services.selector import gate_scope

    changed = frozenset(paths)
    if not changed:
        return ()
    # The gates in the command's scope whose file changed; a gate that cannot
    # be loaded (deleted, broken) has no notes to bring in.
    return tuple(g for g in gate_scope(ws, gate_refs).gates if g.key in changed)
