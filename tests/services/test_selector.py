"""The selector (SPEC 11): which pairs are stale for a partition, and why."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pytest
from helpers.kb import commit_all
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
    TITLE_CLAIM,
)

from commonplace.kb.files import read_file
from commonplace.kb.gates import all_gate_ids, load_gates
from commonplace.kb.notes import scan_notes
from commonplace.lifecycle import RunStatus
from commonplace.services.ack import ack_pairs
from commonplace.services.runs import create_review_run, finalize_review_run, write_gate_review
from commonplace.services.selector import (
    StalePair,
    StaleReason,
    flatten,
    select_stale,
    select_targets,
)
from commonplace.workspace import Workspace

pytestmark = pytest.mark.both_backends

NOTES = (SKETCH, DATE, FROST, SEEDS, COMPOST)
GATES = (OVERREACH, TITLE_CLAIM, REPEATS, ABBREV, TAGS)
TYPE_NOTE = "type/note"  # every example note is `type: kb/types/note.md`


def accept(ws: Workspace, note: str, gates: Sequence[str], model: str = "demo") -> None:
    """A full review through the split path, every gate passing."""
    created = create_review_run(
        ws, note=note, gate_refs=gates, runner="live-agent", model=model
    ).batch
    run = created.runs[0]
    for gate in run.gate_ids:
        write_gate_review(
            ws, review_run_id=run.review_run_id, gate=gate, text="Fine.\n\n## Result: PASS\n"
        )
    assert finalize_review_run(ws, review_run_id=run.review_run_id).status is RunStatus.COMPLETED


def stale(
    ws: Workspace,
    *,
    gate_refs: Sequence[str] = (),
    note_refs: Sequence[str] = (),
    reasons: Collection[StaleReason] | None = None,
) -> list[tuple[str, str, str]]:
    selection = select_targets(
        ws, gate_refs=gate_refs, model="demo", note_refs=note_refs, reasons=reasons
    )
    return [(p.note_path, p.gate_id, p.reason.value) for p in selection.pairs]


def note_changed_diff(ws: Workspace) -> list[str]:
    """The diff lines of the one stale pair (SKETCH, TAGS), which must be note-changed."""
    selection = select_targets(
        ws, gate_refs=[TAGS], model="demo", note_refs=[SKETCH], include_diff=True
    )
    (pair,) = selection.pairs
    assert pair.reason is StaleReason.NOTE_CHANGED
    assert pair.diff is not None
    return pair.diff.splitlines()


def edit(kb: Path, key: str, old: str, new: str) -> None:
    path = kb / key
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_nothing_accepted_means_every_applicable_pair_is_missing(ws: Workspace) -> None:
    selection = select_targets(ws, gate_refs=[], model="demo")
    assert selection.model_id == "demo-reviewer-1"
    assert selection.notes == 5
    expected = [
        (note, gate, "missing-review")
        for note in NOTES
        for gate in (*GATES, TYPE_NOTE)
        if not (note == FROST and gate == TITLE_CLAIM)
    ]
    assert [(p.note_path, p.gate_id, p.reason.value) for p in selection.pairs] == expected
    assert all(p.diff is None for p in selection.pairs)


def test_reviewed_pairs_are_fresh(ws: Workspace) -> None:
    accept(ws, SKETCH, ["claims"])
    pairs = stale(ws, note_refs=[SKETCH])
    assert pairs == [
        (SKETCH, REPEATS, "missing-review"),
        (SKETCH, ABBREV, "missing-review"),
        (SKETCH, TAGS, "missing-review"),
        (SKETCH, TYPE_NOTE, "missing-review"),
    ]


def test_error_and_unknown_reviews_do_not_make_pairs_fresh(ws: Workspace) -> None:
    created = create_review_run(
        ws, note=SKETCH, gate_refs=["clarity"], runner="x", model="demo"
    ).batch
    run_id = created.runs[0].review_run_id
    write_gate_review(ws, review_run_id=run_id, gate=REPEATS, text="Broke.\n## Result: ERROR\n")
    write_gate_review(ws, review_run_id=run_id, gate=ABBREV, text="No verdict.\n")
    finalize_review_run(ws, review_run_id=run_id)
    assert stale(ws, note_refs=[SKETCH], gate_refs=["clarity"]) == [
        (SKETCH, REPEATS, "missing-review"),
        (SKETCH, ABBREV, "missing-review"),
    ]


def test_a_committed_gate_edit_makes_its_pairs_gate_changed(
    ws: Workspace, example_kb: Path
) -> None:
    accept(ws, SKETCH, [TAGS, ABBREV])
    accept(ws, DATE, [TAGS])
    edit(example_kb, f"kb/instructions/review-gates/{TAGS}.md", "PASS otherwise.", "PASS else.")
    commit_all(example_kb, "gate edit")
    assert stale(ws, note_refs=[SKETCH, DATE], gate_refs=[TAGS, ABBREV]) == [
        (SKETCH, TAGS, "gate-changed"),
        (DATE, ABBREV, "missing-review"),
        (DATE, TAGS, "gate-changed"),
    ]


def test_an_uncommitted_gate_edit_is_gate_dirty(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SKETCH, [TAGS])
    edit(example_kb, f"kb/instructions/review-gates/{TAGS}.md", "PASS otherwise.", "PASS else.")
    assert stale(ws, note_refs=[SKETCH, FROST], gate_refs=[TAGS, ABBREV]) == [
        (SKETCH, ABBREV, "missing-review"),
        (SKETCH, TAGS, "gate-dirty"),
        (FROST, ABBREV, "missing-review"),
        (FROST, TAGS, "gate-dirty"),
    ]


def test_a_note_edit_is_note_changed_with_one_diff_per_note(
    ws: Workspace, example_kb: Path
) -> None:
    accept(ws, SKETCH, ["claims"])
    accept(ws, DATE, [TAGS])
    old_text = read_file(example_kb, SKETCH).text
    edit(example_kb, SKETCH, "Always sketches are better", "Sketches are often better")
    selection = select_targets(
        ws, gate_refs=["claims", TAGS], model="demo", note_refs=[SKETCH, DATE], include_diff=True
    )
    changed = [p for p in selection.pairs if p.reason is StaleReason.NOTE_CHANGED]
    assert [(p.note_path, p.gate_id) for p in changed] == [
        (SKETCH, OVERREACH),
        (SKETCH, TITLE_CLAIM),
    ]
    first, second = changed
    assert first.diff is not None
    assert first.diff == second.diff
    assert first.diff is second.diff, "the diff of a note is computed once"
    lines = first.diff.splitlines()
    assert lines[0] == f"--- a/{SKETCH}"
    assert lines[1] == f"+++ b/{SKETCH}"
    assert "-Always sketches are better than words, for every kind of record." in lines
    assert "+Sketches are often better than words, for every kind of record." in lines
    assert old_text.count("\n") > len([x for x in lines if x.startswith(("+", "-"))])
    assert [(p.note_path, p.gate_id, p.reason.value) for p in selection.pairs] == [
        (SKETCH, OVERREACH, "note-changed"),
        (SKETCH, TITLE_CLAIM, "note-changed"),
        (SKETCH, TAGS, "missing-review"),
        (DATE, OVERREACH, "missing-review"),
        (DATE, TITLE_CLAIM, "missing-review"),
    ]


def test_diffs_only_when_asked(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SKETCH, [TAGS])
    edit(example_kb, SKETCH, "Always sketches", "Usually sketches")
    selection = select_targets(ws, gate_refs=[TAGS], model="demo", note_refs=[SKETCH])
    assert selection.pairs == [StalePair(SKETCH, TAGS, StaleReason.NOTE_CHANGED, None)]


def test_the_diff_comes_from_the_stored_snapshot_not_from_git(
    ws: Workspace, example_kb: Path
) -> None:
    # The reviewed version was never committed: only the snapshot knows it.
    edit(example_kb, SKETCH, "Always sketches", "Uncommitted sketches")
    accept(ws, SKETCH, [TAGS])
    edit(example_kb, SKETCH, "Uncommitted sketches", "Later sketches")
    lines = note_changed_diff(ws)
    assert "-Uncommitted sketches are better than words, for every kind of record." in lines


def test_reasons_filter(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SKETCH, [TAGS, ABBREV])
    edit(example_kb, SKETCH, "Always sketches", "Usually sketches")
    notes, gates = [SKETCH, DATE], [TAGS, ABBREV]
    assert stale(ws, note_refs=notes, gate_refs=gates, reasons={StaleReason.NOTE_CHANGED}) == [
        (SKETCH, ABBREV, "note-changed"),
        (SKETCH, TAGS, "note-changed"),
    ]
    assert stale(ws, note_refs=notes, gate_refs=gates, reasons={StaleReason.MISSING_REVIEW}) == [
        (DATE, ABBREV, "missing-review"),
        (DATE, TAGS, "missing-review"),
    ]
    gate_reasons = {StaleReason.GATE_CHANGED, StaleReason.GATE_DIRTY}
    assert stale(ws, note_refs=notes, gate_refs=gates, reasons=gate_reasons) == []


def test_sorted_by_note_then_gate_whatever_the_request_order(ws: Workspace) -> None:
    pairs = stale(ws, note_refs=[COMPOST, FROST, SKETCH], gate_refs=[TAGS, "clarity", OVERREACH])
    assert pairs == sorted(pairs)
    assert [p[:2] for p in pairs] == [
        (note, gate)
        for note in (SKETCH, FROST, COMPOST)
        for gate in (OVERREACH, REPEATS, ABBREV, TAGS)
    ]


def test_partitions_do_not_satisfy_each_other(ws: Workspace) -> None:
    accept(ws, SKETCH, [TAGS], model="demo")
    assert stale(ws, gate_refs=[TAGS], note_refs=[SKETCH]) == []
    other = select_targets(ws, gate_refs=[TAGS], model="gpt-5.5", note_refs=[SKETCH])
    assert other.model_id == "gpt-5-5"
    assert [p.reason for p in other.pairs] == [StaleReason.MISSING_REVIEW]
    with_effort = select_targets(
        ws, gate_refs=[TAGS], model="demo", effort="high", note_refs=[SKETCH]
    )
    assert with_effort.model_id == "demo-reviewer-1-high"
    assert [p.reason for p in with_effort.pairs] == [StaleReason.MISSING_REVIEW]
    # The alias and the model it names are the same partition.
    literal = select_targets(ws, gate_refs=[TAGS], model="demo-reviewer-1", note_refs=[SKETCH])
    assert literal.pairs == []


def test_trivial_acks_make_pairs_fresh(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SKETCH, [TAGS, ABBREV])
    edit(example_kb, SKETCH, "Always sketches", "Usually sketches")
    git = ws.git_state()
    note = read_file(example_kb, SKETCH)
    ack_pairs(
        ws.store, git, note=note, gates=load_gates(ws.config, [TAGS]), model_id="demo-reviewer-1"
    )
    assert stale(ws, note_refs=[SKETCH], gate_refs=[TAGS, ABBREV]) == [
        (SKETCH, ABBREV, "note-changed")
    ]


def test_the_latest_acceptance_wins(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SKETCH, [TAGS])
    original = (example_kb / SKETCH).read_text(encoding="utf-8")
    edit(example_kb, SKETCH, "Always sketches", "Usually sketches")
    ack_pairs(
        ws.store,
        ws.git_state(),
        note=read_file(example_kb, SKETCH),
        gates=load_gates(ws.config, [TAGS]),
        model_id="demo-reviewer-1",
    )
    assert stale(ws, note_refs=[SKETCH], gate_refs=[TAGS]) == []
    # Back to the first accepted version: the older acceptance does not count.
    (example_kb / SKETCH).write_text(original, encoding="utf-8")
    lines = note_changed_diff(ws)
    assert "-Usually sketches are better than words, for every kind of record." in lines


def test_current_only(ws: Workspace) -> None:
    selection = select_targets(ws, gate_refs=[TAGS], model="demo", current_only=True)
    assert selection.notes == 3
    assert [p.note_path for p in selection.pairs] == [DATE, FROST, COMPOST]


def test_select_stale_directly(ws: Workspace, example_kb: Path) -> None:
    accept(ws, SEEDS, [TITLE_CLAIM])
    git = ws.git_state()
    notes = scan_notes(ws.config, git)
    gates = load_gates(ws.config, reversed(all_gate_ids(ws.config)))
    pairs = flatten(
        select_stale(ws.store, git, notes=notes, gates=gates, model_id="demo-reviewer-1")
    )
    assert len(pairs) == 23
    assert (SEEDS, TITLE_CLAIM) not in {(p.note_path, p.gate_id) for p in pairs}
    assert (FROST, TITLE_CLAIM) not in {(p.note_path, p.gate_id) for p in pairs}
    assert [(p.note_path, p.gate_id) for p in pairs] == sorted(
        (p.note_path, p.gate_id) for p in pairs
    )


def test_selecting_from_a_missing_store_creates_nothing(ws: Workspace) -> None:
    assert len(select_targets(ws, gate_refs=[], model="demo").pairs) == 29  # 24 + 5 type/note
    assert not ws.store.exists
