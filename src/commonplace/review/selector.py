"""Which pairs are stale for a partition, and why (SPEC 11).

Each file is read and hashed once, each frontmatter parsed once, the store is
asked once, and a note's diff is computed once whatever the number of gates.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate
from commonplace.kb.notes import NoteFacts, note_facts
from commonplace.review.store import Store

if TYPE_CHECKING:
    from commonplace.workspace import Workspace


class StaleReason(StrEnum):
    GATE_DIRTY = "gate-dirty"
    MISSING_REVIEW = "missing-review"
    GATE_CHANGED = "gate-changed"
    NOTE_CHANGED = "note-changed"


class StalePair(NamedTuple):
    note_path: str
    gate_id: str
    reason: StaleReason
    diff: str | None = None


def select_stale(
    store: Store,
    git: GitState,
    *,
    notes: Sequence[KbFile],
    gates: Sequence[Gate],
    model_id: str,
    reasons: Collection[StaleReason] | None = None,
    include_diff: bool = False,
) -> list[StalePair]:
    """Stale applicable pairs sorted by note then gate."""
    gates = sorted({g.id: g for g in gates}.values(), key=lambda g: g.id)
    dirty = {g.id for g in gates if git.is_dirty(g.key)}
    accepted = _accepted(store, model_id)
    routed = any(g.requires_traits is not None or g.requires_types is not None for g in gates)
    applicable_for: dict[NoteFacts | None, list[Gate]] = {}
    wanted = set(reasons) if reasons else set(StaleReason)
    old_shas: dict[tuple[str, str], None] = {}
    stale: list[StalePair] = []
    for note in sorted(notes, key=lambda n: n.key):
        facts = note_facts(note) if routed else None
        applicable = applicable_for.get(facts)
        if applicable is None:
            applicable = [g for g in gates if facts is None or g.applies_to(facts)]
            applicable_for[facts] = applicable
        seen = accepted.get(note.key)
        note_sha = note.sha
        for gate in applicable:
            if gate.id in dirty:
                reason = StaleReason.GATE_DIRTY
            elif seen is None or gate.id not in seen:
                reason = StaleReason.MISSING_REVIEW
            else:
                accepted_note_sha, accepted_gate_sha = seen[gate.id]
                if accepted_gate_sha != gate.sha:
                    reason = StaleReason.GATE_CHANGED
                elif accepted_note_sha != note_sha:
                    reason = StaleReason.NOTE_CHANGED
                    if include_diff and reason in wanted:
                        old_shas[(note.key, accepted_note_sha)] = None
                else:
                    continue
            if reason in wanted:
                stale.append(StalePair(note.key, gate.id, reason))
    if not old_shas:
        return stale
    diffs = _diffs(store, {n.key: n for n in notes}, old_shas)
    return [
        p._replace(diff=diffs.get((p.note_path, accepted[p.note_path][p.gate_id][0])))
        if p.reason is StaleReason.NOTE_CHANGED
        else p
        for p in stale
    ]


def _accepted(store: Store, model_id: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The latest acceptance per (note, gate) of one partition, in one query."""
    by_note: dict[str, dict[str, tuple[str, str]]] = {}
    with store.read() as conn:
        # SQLite takes the bare columns from the row holding MAX(id): the latest event.
        rows = conn.execute(
            "SELECT note_path, gate_id, accepted_note_sha, accepted_gate_sha, MAX(id)"
            " FROM acceptance_events WHERE model_id = ? GROUP BY note_path, gate_id",
            (model_id,),
        )
        for note_path, gate_id, note_sha, gate_sha, _ in rows:
            by_note.setdefault(note_path, {})[gate_id] = (note_sha, gate_sha)
    return by_note


def _diffs(
    store: Store, notes: dict[str, KbFile], wanted: dict[tuple[str, str], None]
) -> dict[tuple[str, str], str | None]:
    """A unified diff from each accepted snapshot to the current text, once per note."""
    shas = sorted({sha for _, sha in wanted})
    with store.read() as conn:
        texts = dict(
            conn.execute(
                f"SELECT sha, text FROM snapshots WHERE sha IN ({','.join('?' * len(shas))})",
                shas,
            ).fetchall()
        )
    out: dict[tuple[str, str], str | None] = {}
    for note_path, sha in wanted:
        before = texts.get(sha)
        if before is None:
            out[(note_path, sha)] = None
            continue
        out[(note_path, sha)] = (
            "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    notes[note_path].text.splitlines(keepends=True),
                    fromfile=f"a/{note_path}",
                    tofile=f"b/{note_path}",
                )
            )
            or None
        )
    return out


class Selection(NamedTuple):
    model_id: str
    notes: int
    pairs: list[StalePair]


def select_targets(
    ws: Workspace,
    *,
    gate_refs: Sequence[str],
    model: str,
    effort: str | None = None,
    note_refs: Sequence[str] = (),
    current_only: bool = False,
    reasons: Collection[StaleReason] | None = None,
    include_diff: bool = False,
) -> Selection:
    """The selector command: resolve scope and partition, then `select_stale`.
    No gate references means every gate of every lens."""
    from commonplace.kb.gates import all_gate_ids, load_gates, resolve_gate_ids
    from commonplace.kb.notes import resolve_notes, scan_notes
    from commonplace.review.runs import partition_for

    partition = partition_for(ws, model, effort)
    git = ws.git_state()
    gate_ids = (
        resolve_gate_ids(ws.config, gate_refs, cwd=ws.cwd) if gate_refs else all_gate_ids(ws.config)
    )
    gates = load_gates(ws.config, gate_ids)
    notes = (
        resolve_notes(ws.config, git, note_refs, cwd=ws.cwd)
        if note_refs
        else scan_notes(ws.config, git)
    )
    if current_only:
        notes = [n for n in notes if note_facts(n).status == "current"]
    pairs = select_stale(
        ws.store,
        git,
        notes=notes,
        gates=gates,
        model_id=partition.model_id,
        reasons=reasons,
        include_diff=include_diff,
    )
    return Selection(partition.model_id, len(notes), pairs)
