"""The selector's shortcuts (acceptances grouped by note, fully current notes
compared in one step) against a plain recomputation, pair by pair, on a KB
with every stale reason at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.kb import commit_all, git
from helpers.store import (
    ABBREV,
    COMPOST,
    DATE,
    FROST,
    OVERREACH,
    REPEATS,
    SEEDS,
    SKETCH,
    TAGS,
    create_runs,
)

from commonplace.kb.files import KbFile, read_file
from commonplace.kb.gates import Gate
from commonplace.kb.notes import note_facts
from commonplace.lifecycle import RunStatus
from commonplace.services.runs import create_review_run, finalize_review_run, write_gate_review
from commonplace.services.selector import (
    StaleReason,
    flatten,
    gate_scope,
    note_scope,
    running_pairs,
    select_stale,
)
from commonplace.store import acceptances
from commonplace.workspace import Workspace

pytestmark = pytest.mark.both_backends
MODEL_ID = "demo-reviewer-1"
RENAMED = "kb/notes/renamed-after-review.md"
UNTRACKED = "kb/notes/written-but-not-added.md"


def accept(ws: Workspace, note: str, gates: list[str]) -> None:
    """A full review of these gates, every one passing."""
    run = create_review_run(
        ws, note=note, gate_refs=gates, runner="live-agent", model="demo"
    ).batch.runs[0]
    for gate in run.gate_ids:
        write_gate_review(
            ws, review_run_id=run.review_run_id, gate=gate, text="Ok.\n## Result: PASS\n"
        )
    assert finalize_review_run(ws, review_run_id=run.review_run_id).status is RunStatus.COMPLETED


def edit(kb: Path, key: str, old: str, new: str) -> None:
    text = (kb / key).read_text(encoding="utf-8")
    assert old in text
    (kb / key).write_text(text.replace(old, new, 1), encoding="utf-8")


def plain(
    ws: Workspace, notes: list[KbFile], gates: list[Gate]
) -> list[tuple[str, str, StaleReason]]:
    """The rule of SPEC 11 applied to each pair, with nothing shared or cached."""
    state = ws.git_state()
    with ws.store.read() as conn:
        latest = acceptances.latest_accepted(conn, MODEL_ID)
    busy = running_pairs(ws.store, MODEL_ID)
    out = []
    for note in sorted(notes, key=lambda n: n.key):
        for gate in sorted(gates, key=lambda g: g.id):
            if not gate.applies_to(note_facts(note)):
                continue
            versions = latest.get((note.key, gate.id))
            if state.is_dirty(gate.key):
                reason = StaleReason.GATE_DIRTY
            elif versions is None:
                reason = StaleReason.MISSING_REVIEW
            elif versions[1] != gate.sha:
                reason = StaleReason.GATE_CHANGED
            elif versions[0] != note.sha:
                reason = StaleReason.NOTE_CHANGED
            else:
                continue
            if gate.id in busy.get(note.key, ()) and reason is not StaleReason.GATE_DIRTY:
                reason = StaleReason.IN_PROGRESS
            out.append((note.key, gate.id, reason))
    return out


def selected(
    ws: Workspace, gate_ids: list[str] | None = None
) -> tuple[list[tuple[str, str, StaleReason]], list[tuple[str, str, StaleReason]]]:
    """What the selector finds, and what the plain recomputation finds."""
    state = ws.git_state()
    gates = [g for g in gate_scope(ws, []).gates if gate_ids is None or g.id in gate_ids]
    notes = note_scope(ws, state, [], False).notes
    found = flatten(
        select_stale(ws.store, state, notes=notes, gates=gates, model_id=MODEL_ID, in_progress=True)
    )
    return [(p.note_path, p.gate_id, p.reason) for p in found], plain(ws, notes, gates)


def every_gate(ws: Workspace) -> list[str]:
    return [g.id for g in gate_scope(ws, []).gates]


def test_every_stale_reason_as_a_plain_recomputation_gives_it(
    ws: Workspace, example_kb: Path
) -> None:
    gates = every_gate(ws)
    for note in (SKETCH, DATE, FROST, COMPOST):
        accept(ws, note, gates)
    accept(ws, SEEDS, [OVERREACH, ABBREV])  # partly accepted
    shutil.copy(example_kb / SEEDS, example_kb / RENAMED)
    commit_all(example_kb, "a note to rename")
    accept(ws, RENAMED, gates)
    git(example_kb, "mv", RENAMED, "kb/notes/renamed-later.md")  # accepted under the old name
    commit_all(example_kb, "rename")
    edit(example_kb, SKETCH, "Always sketches are better", "Sketches are often better")
    commit_all(example_kb, "note edit")  # note-changed
    edit(example_kb, f"kb/instructions/review-gates/{OVERREACH}.md", "PASS", "PASS, plainly,")
    commit_all(example_kb, "gate edit")  # gate-changed everywhere it was accepted
    edit(example_kb, f"kb/instructions/review-gates/{TAGS}.md", "PASS otherwise.", "PASS else.")
    (example_kb / FROST).write_text(  # a dirty note: seen with its current content
        (example_kb / FROST).read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8"
    )
    shutil.copy(example_kb / COMPOST, example_kb / UNTRACKED)  # untracked: missing
    create_runs(ws.store, example_kb, [(SEEDS, [REPEATS])], owned=True)  # in-progress
    new, reference = selected(ws)
    assert new == reference
    assert {reason for _, _, reason in new} == set(StaleReason)
    assert (FROST, ABBREV, StaleReason.NOTE_CHANGED) in new
    assert {n for n, _, _ in new} >= {UNTRACKED, "kb/notes/renamed-later.md"}
    assert not any(n == COMPOST and g == ABBREV for n, g, _ in new)  # fully current, skipped


def test_a_fully_current_note_with_an_extra_acceptance_is_still_exact(
    ws: Workspace, example_kb: Path
) -> None:
    """An acceptance of a gate that no longer applies (or is out of scope)
    must not hide a missing one: the one-step comparison leaves such notes
    to the pair-by-pair path."""
    facts = note_facts(read_file(example_kb, COMPOST))
    gates = [g.id for g in gate_scope(ws, []).gates if g.applies_to(facts)]
    accept(ws, COMPOST, gates[1:])  # as many acceptances as gates in scope below
    new, reference = selected(ws, gates[:-1])
    assert new == reference
    assert (COMPOST, gates[0], StaleReason.MISSING_REVIEW) in new
    assert not any(n == COMPOST and g != gates[0] for n, g, _ in new)
