"""Turning requested (note, gates) into what a run will review: applicable
gates at their committed versions, and the pairs skipped with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate, load_gate, load_gate_refs, resolve_gate_ids
from commonplace.kb.notes import NoteFacts, note_facts, resolve_one_note
from commonplace.kb.paths import why_unreviewable_name
from commonplace.kb.unreviewable import Unreviewable


@dataclass(frozen=True)
class SkippedPair:
    note_path: str
    gate_id: str
    reason: str


@dataclass(frozen=True)
class RunTarget:
    note: KbFile
    note_commit: str | None
    gates: tuple[Gate, ...]


@dataclass(frozen=True)
class Plan:
    targets: tuple[RunTarget, ...]
    skipped: tuple[SkippedPair, ...]
    unusable: tuple[Unreviewable, ...] = ()  # gates of a lens left out (plan_note)


def plan_runs(
    config: Config,
    git: GitState,
    requests: Sequence[tuple[KbFile, Sequence[str]]],
    loaded: Sequence[Gate] = (),
) -> Plan:
    """One target per note with its applicable gates, in the order requested.

    Refuses names the pair grammar cannot carry and gates with uncommitted changes (the
    accepted baseline must be committed gate text); a note with no applicable
    gate is skipped whole, and a plan with nothing to review is an error.
    """
    gates: dict[str, Gate] = {g.id: g for g in loaded}  # read already; others read here
    targets: list[RunTarget] = []
    skipped: list[SkippedPair] = []
    used: dict[str, Gate] = {}
    facts_of: dict[str, tuple[NoteFacts, str | None]] = {}  # a sweep asks once per lens
    # Notes alike (same facts) asking for the same gates get the same answer:
    # worked out once, and the tuple of gates shared by their targets.
    routed: dict[tuple[NoteFacts, tuple[str, ...]], tuple[tuple[Gate, ...], list[Gate]]] = {}
    for note, gate_ids in requests:
        known = facts_of.get(note.key)
        if known is None:
            problem = why_unreviewable_name(note.key)
            if problem is not None:  # scans leave such notes out; a name given is refused here
                raise UserError(
                    f"note path {note.key!r} cannot be named in a pair block: {problem}"
                )
            known = facts_of[note.key] = (note_facts(note), git.commit_for(note.key))
        facts, commit = known
        key = (facts, tuple(gate_ids))
        found = routed.get(key)
        if found is None:
            applicable: list[Gate] = []
            not_applicable: list[Gate] = []
            for gate_id in dict.fromkeys(gate_ids):
                gate = gates.get(gate_id)
                if gate is None:
                    gate = gates[gate_id] = load_gate(config, gate_id)
                if gate.applies_to(facts):
                    applicable.append(gate)
                    used[gate_id] = gate
                else:
                    not_applicable.append(gate)
            found = routed[key] = (tuple(applicable), not_applicable)
        shared, not_applicable = found
        if not_applicable:
            skipped += (SkippedPair(note.key, g.id, g.skip_reason(facts)) for g in not_applicable)
        if shared:
            targets.append(RunTarget(note, commit, shared))
    refuse_dirty_gates(git, list(used.values()))
    if not targets:
        detail = "; ".join(f"{s.note_path} :: {s.gate_id}: {s.reason}" for s in skipped)
        raise UserError(f"no applicable gates to review ({detail})")
    return Plan(tuple(targets), tuple(skipped))


def plan_note(
    config: Config,
    git: GitState,
    note_ref: str,
    gate_refs: Sequence[str],
    *,
    cwd: Path,
    purpose: str,
    skip_unusable: bool = False,
) -> Plan:
    """The plan for one note and the gates or lenses named. With
    `skip_unusable`, a gate of a lens that cannot be used is left out and
    listed in `unusable` instead of refusing the plan."""
    note = resolve_one_note(config, git, note_ref, cwd=cwd, purpose=purpose)
    if not skip_unusable:
        return plan_runs(config, git, [(note, resolve_gate_ids(config, gate_refs, cwd=cwd))])
    scan = load_gate_refs(config, gate_refs, cwd=cwd)
    if not scan.gates:
        problems = "; ".join(u.describe() for u in scan.unusable)
        raise UserError(f"no gate named can be used ({problems})")
    plan = plan_runs(config, git, [(note, [g.id for g in scan.gates])], scan.gates)
    return replace(plan, unusable=tuple(scan.unusable))


def unusable_as_skipped(plan: Plan) -> Plan:
    """The plan with its unusable gates listed as skipped pairs of each note,
    for commands whose answer reports skipped pairs rather than warnings."""
    extra = tuple(
        SkippedPair(t.note.key, u.key, f"{u.reason}: {u.detail}")
        for t in plan.targets
        for u in plan.unusable
    )
    return replace(plan, skipped=(*plan.skipped, *extra), unusable=())


def refuse_dirty_gates(git: GitState, gates: Sequence[Gate], consequence: str = "") -> None:
    """Dirty gates are fatal wherever a baseline is written: accepted reviews
    must point at committed gate text."""
    dirty = sorted({g.id for g in gates if git.is_dirty(g.key)})
    if dirty:
        raise UserError(
            f"dirty gates are fatal: {', '.join(dirty)} ha{'s' if len(dirty) == 1 else 've'} "
            "uncommitted changes; commit the gate text first, because accepted reviews "
            f"must point at committed gates{consequence}"
        )
