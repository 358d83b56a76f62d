"""Which pairs are stale for a partition, and why (SPEC 11).

Each file is read and hashed at most once (not at all when the note cache
vouches for it), each frontmatter parsed once, the store asked for the
acceptances of only the notes their summaries do not settle, and a note's
diff is computed once whatever the number of gates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from commonplace.choices import StaleReason as StaleReason  # re-exported: its home is choices
from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate, GateScan, every_gate_ids, load_found_gates, load_gate_refs
from commonplace.kb.notes import NoteFacts, NoteScan, find_notes, note_facts, resolve_note_refs
from commonplace.kb.unreviewable import Unreviewable
from commonplace.local_cache import cache_folder
from commonplace.services.accepted_index import accepted_index, gate_set
from commonplace.store import snapshots
from commonplace.store.connection import Store

if TYPE_CHECKING:
    from commonplace.services.changes import ChangedScope
    from commonplace.workspace import Workspace


class StalePair(NamedTuple):
    note_path: str
    gate_id: str
    reason: StaleReason
    diff: str | None = None


class StaleGate(NamedTuple):
    gate_id: str
    reason: StaleReason
    diff: str | None = None


class StaleNote(NamedTuple):
    """A note's stale gates; `gates` may be shared between notes, never mutate."""

    note_path: str
    gates: Sequence[StaleGate]


def flatten(stale: Iterable[StaleNote]) -> list[StalePair]:
    return [StalePair(n.note_path, *g) for n in stale for g in n.gates]


def select_stale(
    store: Store,
    git: GitState,
    *,
    notes: Sequence[KbFile],
    gates: Sequence[Gate],
    model_id: str,
    reasons: Collection[StaleReason] | None = None,
    include_diff: bool = False,
    in_progress: bool = False,
) -> list[StaleNote]:
    """Stale applicable gates per note, notes sorted by path, gates by id.
    With `in_progress`, a stale pair that a running run of a live process
    covers in this partition is reported `in-progress` instead.

    On a KB with little accepted, most notes have every applicable gate
    missing; those notes share one tuple of `StaleGate`s per set of applicable
    gates, so selecting 400,000 pairs allocates almost nothing per pair. On a
    KB with much accepted, a note whose acceptance summary (kept between runs,
    services/accepted_index.py) shows every applicable gate accepted as it is
    now is settled without its acceptances being read.
    """
    gates = sorted({g.id: g for g in gates}.values(), key=lambda g: g.id)
    dirty = {g.id for g in gates if git.is_dirty(g.key)}
    index = accepted_index(store, model_id, [n.key for n in notes], cache_folder(git))
    routed = any(g.routed for g in gates)
    applicable_for: dict[NoteFacts | None, _Routing] = {}
    wanted = set(reasons) if reasons else set(StaleReason)
    missing = StaleReason.MISSING_REVIEW
    claimed = running_pairs(store, model_id) if in_progress else {}
    # First the notes settled by their summary alone (the steady state), then
    # the others, whose accepted versions are read in one query.
    unsettled: list[tuple[KbFile, _Routing]] = []
    # Notes alike share one facts object (the note cache hands them out), so
    # most lookups go by identity; equal facts still share their routing.
    routing_of: dict[int, _Routing] = {}
    for note in sorted(notes, key=lambda n: n.key):
        facts = note_facts(note) if routed else None
        routing = routing_of.get(id(facts))
        if routing is None:
            routing = applicable_for.get(facts)
            if routing is None:
                applicable = [g for g in gates if facts is None or g.applies_to(facts)]
                all_missing = tuple(
                    StaleGate(g.id, StaleReason.GATE_DIRTY if g.id in dirty else missing)
                    for g in applicable
                )
                settled = index.set_number(gate_set((g.id, g.sha) for g in applicable))
                routing = applicable_for[facts] = _Routing(
                    applicable,
                    tuple(g for g in all_missing if g.reason in wanted),
                    # None: no note can be settled (a dirty gate, or none accepted so)
                    settled if not any(g.id in dirty for g in applicable) else None,
                )
            routing_of[id(facts)] = routing  # `notes` keeps every facts object alive
        if note.key not in claimed and index.settled(note.key, note.sha, routing.settled):
            continue
        unsettled.append((note, routing))
    accepted = index.versions(store, model_id, (n.key for n, _ in unsettled))
    old_shas: dict[tuple[str, str], None] = {}
    stale: list[StaleNote] = []
    for note, routing in unsettled:
        applicable, unreviewed = routing.gates, routing.unreviewed
        seen = accepted.get(note.key)
        busy = claimed.get(note.key, ())
        if seen is None and busy:  # a note of its own: the shared tuple stays as it is
            marked = (
                StaleGate(g.gate_id, _busy(g.reason, g.gate_id in busy))
                for g in _all_missing(applicable, dirty)
            )
            unreviewed = tuple(g for g in marked if g.reason in wanted)
        if seen is None:  # the common case on a new KB: nothing accepted yet
            if unreviewed:
                stale.append(StaleNote(note.key, unreviewed))
            continue
        found: list[StaleGate] = []
        for gate in applicable:
            if gate.id in dirty:
                reason = StaleReason.GATE_DIRTY
            elif gate.id not in seen:
                reason = missing
            else:
                accepted_note_sha, accepted_gate_sha = seen[gate.id]
                if accepted_gate_sha != gate.sha:
                    reason = StaleReason.GATE_CHANGED
                elif accepted_note_sha != note.sha:
                    reason = StaleReason.NOTE_CHANGED
                    if include_diff and reason in wanted:
                        old_shas[(note.key, accepted_note_sha)] = None
                else:
                    continue
            if gate.id in busy and reason is not StaleReason.GATE_DIRTY:
                reason = StaleReason.IN_PROGRESS
            if reason in wanted:
                found.append(StaleGate(gate.id, reason))
        if found:
            stale.append(StaleNote(note.key, found))
    if not old_shas:
        return stale
    diffs = _diffs(store, {n.key: n for n in notes}, old_shas)
    for i, entry in enumerate(stale):
        seen = accepted.get(entry.note_path)
        if seen is None:
            continue
        # a new StaleNote, not the list changed in place: `gates` is never mutated
        stale[i] = entry._replace(
            gates=[
                g._replace(diff=diffs.get((entry.note_path, seen[g.gate_id][0])))
                if g.reason is StaleReason.NOTE_CHANGED
                else g
                for g in entry.gates
            ]
        )
    return stale


class _Routing(NamedTuple):
    """What every note with the same routing facts shares."""

    gates: list[Gate]
    unreviewed: Sequence[StaleGate]  # every gate missing (or dirty), filtered by reason
    settled: int | None  # the set number of a settled note's summary (AcceptedIndex)


def _all_missing(applicable: Sequence[Gate], dirty: Collection[str]) -> list[StaleGate]:
    return [
        StaleGate(g.id, StaleReason.GATE_DIRTY if g.id in dirty else StaleReason.MISSING_REVIEW)
        for g in applicable
    ]


def _busy(reason: StaleReason, running: bool) -> StaleReason:
    """A dirty gate stays dirty; any other stale reason gives way to a run
    already under way."""
    if running and reason is not StaleReason.GATE_DIRTY:
        return StaleReason.IN_PROGRESS
    return reason


def running_pairs(store: Store, model_id: str) -> dict[str, set[str]]:
    """Pairs (note -> gate ids) that a `running` run of this partition covers
    and whose owning process is alive, in one query."""
    from commonplace.lifecycle.claims import live_running_pairs

    by_note: dict[str, set[str]] = {}
    with store.read() as conn:
        for note_path, gate_id in live_running_pairs(conn, model_id):
            by_note.setdefault(note_path, set()).add(gate_id)
    return by_note


def _diffs(
    store: Store, notes: dict[str, KbFile], wanted: dict[tuple[str, str], None]
) -> dict[tuple[str, str], str | None]:
    """A unified diff from each accepted snapshot to the current text, once per note."""
    import difflib  # only when a diff is asked for: ~5 ms of start-up otherwise

    texts = snapshot_texts(store, {sha for _, sha in wanted})
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


def snapshot_texts(store: Store, shas: Collection[str]) -> dict[str, str]:
    """The stored texts of these snapshots (those the store has), in one query."""
    if not shas:
        return {}
    with store.read() as conn:
        return snapshots.snapshot_texts(conn, shas)


class Selection(NamedTuple):
    model_id: str
    notes: int
    stale: list[StaleNote]
    # Notes and gates in scope that cannot be reviewed; never counted as stale.
    unreviewable: tuple[Unreviewable, ...] = ()

    @property
    def pairs(self) -> list[StalePair]:
        return flatten(self.stale)


def select_targets(
    ws: Workspace,
    *,
    gate_refs: Sequence[str],
    model: str,
    effort: str | None = None,
    note_refs: Sequence[str] = (),
    current_only: bool = False,
    user_verified: bool = False,
    reasons: Collection[StaleReason] | None = None,
    include_diff: bool = False,
    in_progress: bool = True,
    changed: ChangedScope | None = None,
) -> Selection:
    """The selector command: resolve scope and partition, then `select_stale`."""
    pending_git = ws.start_git_state()  # git works while the gates load
    partition = ws.partition(model, effort)
    gate_scan = gate_scope(ws, gate_refs)
    git = pending_git()
    # Read-only, and it needs only blob ids and routing facts: notes unchanged
    # since the last selector run in this clone are not read (kb/note_cache.py).
    note_scan = note_scope(
        ws, git, note_refs, current_only, user_verified=user_verified, changed=changed, cached=True
    )
    stale = select_stale(
        ws.store,
        git,
        notes=note_scan.notes,
        gates=gate_scan.gates,
        model_id=partition.model_id,
        reasons=reasons,
        include_diff=include_diff,
        in_progress=in_progress,
    )
    unreviewable = (*note_scan.unreviewable, *gate_scan.unusable)
    return Selection(partition.model_id, len(note_scan.notes), stale, unreviewable)


def scope_gates(ws: Workspace, gate_refs: Sequence[str]) -> list[Gate]:
    """The gates named (ids or lenses); none named means every gate of every
    lens, then every type and collection gate. Gates of a lens that cannot be
    used are left out."""
    return gate_scope(ws, gate_refs).gates


def gate_scope(ws: Workspace, gate_refs: Sequence[str]) -> GateScan:
    """Like `scope_gates`, with the gates that cannot be used: found in a
    lens, they are reported; named one by one, they are an error."""
    if not gate_refs:
        return load_found_gates(ws.config, every_gate_ids(ws.config))
    return load_gate_refs(ws.config, gate_refs, cwd=ws.cwd)


def scope_notes(
    ws: Workspace,
    git: GitState,
    note_refs: Sequence[str],
    current_only: bool,
    *,
    user_verified: bool = False,
) -> list[KbFile]:
    """The notes named (files or folders), else every reviewable note; with
    `current_only`, those with `status: current`; with `user_verified`, those
    with `user-verified: true`. Notes found that cannot be reviewed are left out."""
    return note_scope(ws, git, note_refs, current_only, user_verified=user_verified).notes


def note_scope(
    ws: Workspace,
    git: GitState,
    note_refs: Sequence[str],
    current_only: bool,
    *,
    user_verified: bool = False,
    changed: ChangedScope | None = None,
    cached: bool = False,
) -> NoteScan:
    """Like `scope_notes`, with the notes found that cannot be reviewed (all
    of them with `current_only`: whether they are current cannot be read).
    With `changed`, only the notes it covers (an intersection with the rest).
    `cached`: a full scan may take unchanged notes from the note cache (see
    `find_notes`); for read-only callers only."""
    scan = (
        resolve_note_refs(ws.config, git, note_refs, cwd=ws.cwd)
        if note_refs
        else find_notes(ws.config, git, cached=cached)
    )
    if current_only:
        current = [n for n in scan.notes if note_facts(n).status == "current"]
        scan = NoteScan(current, scan.unreviewable)
    if user_verified:
        verified = [n for n in scan.notes if note_facts(n).user_verified]
        scan = NoteScan(verified, scan.unreviewable)
    if changed is not None:
        kept = [u for u in scan.unreviewable if u.key in changed.paths]
        scan = NoteScan(changed.keep(scan.notes), kept)
    return scan
