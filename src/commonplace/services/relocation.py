"""Moving a note together with its review history (SPEC 10).

The file moves (with `git mv` when git tracks it) inside the lifecycle's
transaction that rekeys the note's runs, gate reviews and acceptance events
and rewrites the note path in its runs' canonical documents; if the move
fails, the transaction rolls back, and if the commit fails, the file moves
back. Snapshots are keyed by content, so an unchanged note stays fresh.
Prompts, raw outputs and manifests of past batches keep the old path: they
record what a reviewer was shown, and `note_relocations` links the two.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from commonplace import git, lifecycle, safe_files
from commonplace.errors import UserError
from commonplace.kb.paths import key_for_path, shown
from commonplace.safe_files import LinkRefused
from commonplace.services import artifacts

if TYPE_CHECKING:
    from commonplace.workspace import Workspace


@dataclass(frozen=True)
class Relocation:
    old_path: str
    new_path: str
    moved_by: str
    """`git mv`, `rename`, `already moved`, or `nothing` in a dry run."""
    review_runs: int
    gate_reviews: int
    acceptance_events: int
    dry_run: bool = False
    warnings: tuple[str, ...] = ()


def relocate_note(
    ws: Workspace, old_ref: str, new_ref: str, *, already_moved: bool = False, dry_run: bool = False
) -> Relocation:
    """Move the note at `old_ref` to `new_ref` and rekey its whole history.
    With `already_moved`, the file is already at `new_ref` (moved by hand or
    by `git mv`) and only the history follows it."""
    from commonplace.kb.notes import why_not_reviewable

    root = ws.config.kb_root
    old = key_for_path(root, old_ref, cwd=ws.cwd)
    new = key_for_path(root, new_ref, cwd=ws.cwd, to_be_created=not already_moved)
    _refuse_linked_target(ws, new_ref, new)
    if old == new:
        raise UserError(f"{old_ref} and {new_ref} are the same path")
    _check_files(root, old, new, already_moved)
    state = ws.git_state()
    problem = why_not_reviewable(ws.config, state, new)
    if problem is None and git.would_ignore(root, new):
        problem = "it is ignored by git"
    if problem:
        raise UserError(f"cannot move the note to {shown(new)}: {problem}")
    counts = _history(ws, old, new)  # the refusals, before anything moves
    if dry_run:
        return Relocation(old, new, "nothing", *counts, dry_run=True)
    if counts[0]:  # its runs' documents are rewritten: refuse links before anything moves
        with ws.store.read() as conn:
            artifacts.refuse_links(ws.config, run_ids=lifecycle.note_run_ids(conn, old))
    if already_moved:
        return _rekey(ws, old, new, "already moved", move=None)
    tracked = state.is_repo and git.is_tracked(root, old)
    return _rekey(ws, old, new, "git mv" if tracked else "rename", move=tracked)


def _refuse_linked_target(ws: Workspace, new_ref: str, new: str) -> None:
    """The new path as typed may not reach its place through a symbolic
    link, even one that stays inside the KB: the note would land elsewhere
    than asked."""
    root = ws.config.kb_root
    typed = Path(new_ref)
    candidates = [typed] if typed.is_absolute() else [ws.cwd / typed, root / typed]
    for candidate in candidates:
        if candidate.resolve() == (root / new).resolve():
            safe_files.refuse_links(root, candidate, setting=f"the new note path {new_ref}")


def _check_files(root: Path, old: str, new: str, already_moved: bool) -> None:
    old_path, new_path = root / old, root / new
    if already_moved:
        if os.path.lexists(old_path):
            raise UserError(f"{old} still exists; without --already-moved the file is moved too")
        if not new_path.is_file():
            raise UserError(f"no note at {new} (--already-moved expects the file there)")
        return
    if not old_path.is_file():
        raise UserError(f"no note at {old}")
    if os.path.lexists(new_path):
        raise UserError(f"{new} already exists; nothing moved")
    for folder in new_path.parents:
        if folder == root:
            break
        if os.path.lexists(folder) and not folder.is_dir():
            raise UserError(f"cannot move the note to {new}: {folder.relative_to(root)} is a file")


def _history(ws: Workspace, old: str, new: str) -> tuple[int, int, int]:
    """(runs, gate reviews, acceptance events) that would move."""
    if not ws.store.exists:
        return 0, 0, 0
    with ws.store.read() as conn:
        history = lifecycle.note_history(conn, old, new)
    return history.review_runs, history.gate_reviews, history.acceptance_events


def _rekey(ws: Workspace, old: str, new: str, moved_by: str, *, move: bool | None) -> Relocation:
    root = ws.config.kb_root
    moved = False

    def move_file() -> None:
        nonlocal moved
        if move is not None:
            _move(root, old, new, tracked=move)
            moved = True

    if not ws.store.exists:
        move_file()
        return Relocation(old, new, moved_by, 0, 0, 0)
    try:
        history = lifecycle.relocate_history(ws.store, old, new, then=move_file)
    except BaseException:
        if moved:  # the commit failed after the file had moved
            _move(root, new, old, tracked=bool(move))
        raise
    warnings = []
    for run_id, document in history.documents:
        path = artifacts.run_dir(ws.config, run_id) / artifacts.OUTPUT
        if os.path.lexists(path):
            try:
                artifacts.write_text(ws.config, path, document, make_parent=False)
            except LinkRefused as exc:
                raise LinkRefused(
                    f"{exc.message}; the note moved and its history with it"
                ) from None
            except UserError as exc:
                warnings.append(exc.message)
    return Relocation(
        old,
        new,
        moved_by,
        history.review_runs,
        history.gate_reviews,
        history.acceptance_events,
        warnings=tuple(warnings),
    )


def _move(root: Path, old: str, new: str, *, tracked: bool) -> None:
    """Move the file, making the folders NEW needs; a move that fails takes
    the folders it made away again."""
    made = [f for f in (root / new).parents if f != root and root in f.parents and not f.exists()]
    setting = f"the new note path {new}"
    try:
        # the folders are made, and the file renamed, without following a link
        with safe_files.folder(root, (root / new).parent, setting=setting) as target:
            if tracked:
                git.move(root, old, new)
            else:
                with safe_files.folder(
                    root, (root / old).parent, setting=f"the note path {old}", create=False
                ) as source:
                    os.rename(
                        Path(old).name,
                        Path(new).name,
                        src_dir_fd=source.fd,
                        dst_dir_fd=target.fd,
                    )
    except BaseException as exc:
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise UserError(f"cannot move {old} to {new}: {exc.strerror or exc}") from None
        raise
