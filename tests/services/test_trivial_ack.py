"""`ack_trivial_note_changes` (SPEC 11): note-changed pairs whose change since
the accepted version touches none of the watched parts are acked, in one
transaction, for the requested partition only."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers.kb import git, head
from helpers.store import ABBREV, FROST, OVERREACH, REPEATS, SEEDS, SKETCH, TAGS, TITLE_CLAIM

from commonplace.kb.files import read_file
from commonplace.services import ack as ack_module
from commonplace.services.ack import (
    TRIVIAL_CHANGE_ACK,
    AckedPair,
    TrivialAckReport,
    TrivialCheck,
    ack_gate_review,
    ack_trivial_note_changes,
)
from commonplace.services.selector import StaleReason, select_targets
from commonplace.store.check import check_store
from commonplace.workspace import Workspace

TYPE_NOTE = "type/note"  # every example note is `type: kb/types/note.md`; watches everything
FROST_GATES = (OVERREACH, REPEATS, ABBREV, TAGS, TYPE_NOTE)
CLAIM_GATES = (OVERREACH, TITLE_CLAIM, REPEATS, ABBREV, TAGS, TYPE_NOTE)
PARTITION = "demo-reviewer-1"  # what `demo` names in the example KB's config


def accept_all(ws: Workspace, *notes: str) -> None:
    """Accept the current version of every applicable pair of `notes`."""
    for note in notes:
        ack_gate_review(
            ws, note_ref=note, gate_refs=["claims", "clarity", "metadata", "type"], model="demo"
        )


def edit(kb: Path, note: str, old: str, new: str) -> None:
    path = kb / note
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def store_rows(ws: Workspace, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws.store.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def dump(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: store_rows(ws, f"SELECT * FROM {t} ORDER BY 1")
        for t in ("acceptance_events", "snapshots", "review_runs", "review_batches")
    }


def stale(ws: Workspace, *notes: str) -> list[tuple[str, str, str]]:
    """Stale pairs of `notes` for `demo`."""
    selection = select_targets(ws, gate_refs=[], model="demo", note_refs=notes)
    return [(p.note_path, p.gate_id, str(p.reason)) for p in selection.pairs]


def test_the_report_and_the_events(ws: Workspace, example_kb: Path) -> None:
    accept_all(ws, FROST, SKETCH)
    edit(example_kb, FROST, "front of the notebook", "front of the\nnotebook")
    edit(example_kb, SKETCH, "shows in one glance", "shows at one glance")
    git(example_kb, "commit", "-q", "-am", "edit")
    frost, sketch = read_file(example_kb, FROST), read_file(example_kb, SKETCH)

    report = ack_trivial_note_changes(ws, gate_refs=[], model="demo")

    assert isinstance(report, TrivialAckReport)
    assert (report.model_id, report.dry_run) == (PARTITION, False)
    # Notes by path (SKETCH sorts first), gates by id.
    assert report.checked == (
        TrivialCheck(SKETCH, OVERREACH, sketch.sha, ("body",)),
        TrivialCheck(SKETCH, TITLE_CLAIM, sketch.sha, ()),
        TrivialCheck(SKETCH, REPEATS, sketch.sha, ()),
        TrivialCheck(SKETCH, ABBREV, sketch.sha, ("body",)),
        TrivialCheck(SKETCH, TAGS, sketch.sha, ()),
        TrivialCheck(SKETCH, TYPE_NOTE, sketch.sha, ("body",)),
        *(TrivialCheck(FROST, g, frost.sha, ()) for g in FROST_GATES),
    )
    assert [c.trivial for c in report.checked] == [False, True, True, False, True, False] + [
        True
    ] * 5
    gates = {
        g: read_file(example_kb, f"kb/instructions/review-gates/{g}.md").sha
        for g in CLAIM_GATES
        if g != TYPE_NOTE
    }
    gates[TYPE_NOTE] = read_file(example_kb, "kb/types/note.md").sha
    acked = [(SKETCH, g, sketch.sha) for g in (TITLE_CLAIM, REPEATS, TAGS)] + [
        (FROST, g, frost.sha) for g in FROST_GATES
    ]
    assert [(a.note_path, a.gate_id, a.note_sha) for a in report.acked] == acked
    assert all(isinstance(a, AckedPair) and a.model_id == PARTITION for a in report.acked)
    assert all(a.gate_sha == gates[a.gate_id] for a in report.acked)
    stored = store_rows(
        ws,
        "SELECT id, note_path, gate_id, model_id, accepted_review_id, accepted_note_sha,"
        " accepted_note_commit, accepted_gate_sha, acceptance_kind FROM acceptance_events"
        " ORDER BY id DESC LIMIT ?",
        (len(acked),),
    )[::-1]
    commit = head(example_kb)
    assert stored == [
        (
            a.acceptance_event_id,
            a.note_path,
            a.gate_id,
            PARTITION,
            None,
            a.note_sha,
            commit,
            a.gate_sha,
            TRIVIAL_CHANGE_ACK,
        )
        for a in report.acked
    ]
    # Both notes' new texts are snapshotted for the next comparison.
    shas = {r[0] for r in store_rows(ws, "SELECT sha FROM snapshots")}
    assert {frost.sha, sketch.sha} <= shas
    assert stale(ws, FROST, SKETCH) == [
        (SKETCH, OVERREACH, StaleReason.NOTE_CHANGED),
        (SKETCH, ABBREV, StaleReason.NOTE_CHANGED),
        (SKETCH, TYPE_NOTE, StaleReason.NOTE_CHANGED),
    ]
    assert check_store(ws.store).ok


def test_only_note_changed_pairs_are_considered(ws: Workspace, example_kb: Path) -> None:
    accept_all(ws, FROST)
    # SEEDS was never accepted: missing reviews are not acks' business.
    edit(example_kb, FROST, "front of the notebook", "front of  the notebook")
    edit(example_kb, SEEDS, "into an envelope", "into  an envelope")
    with (example_kb / "kb/instructions/review-gates" / f"{ABBREV}.md").open("a") as handle:
        handle.write("\nA change to the gate.\n")
    git(example_kb, "commit", "-q", "-am", "edit")
    report = ack_trivial_note_changes(ws, gate_refs=[], model="demo")
    assert [(c.note_path, c.gate_id) for c in report.checked] == [
        (FROST, g) for g in (OVERREACH, REPEATS, TAGS, TYPE_NOTE)
    ]
    remaining = stale(ws, FROST, SEEDS)
    assert (FROST, ABBREV, StaleReason.GATE_CHANGED) in remaining
    assert {(n, r) for n, _, r in remaining if n == SEEDS} == {(SEEDS, StaleReason.MISSING_REVIEW)}


def test_dry_run_reports_and_writes_nothing(ws: Workspace, example_kb: Path) -> None:
    accept_all(ws, FROST)
    edit(example_kb, FROST, "front of the notebook", "front of the\n  notebook")
    before = dump(ws)
    report = ack_trivial_note_changes(ws, gate_refs=[], model="demo", dry_run=True)
    assert report.dry_run is True
    assert report.acked == ()
    assert [c.trivial for c in report.checked] == [True] * len(FROST_GATES)
    assert dump(ws) == before


def test_the_partition_is_resolved_like_everywhere_else(ws: Workspace, example_kb: Path) -> None:
    accept_all(ws, FROST)
    edit(example_kb, FROST, "front of the notebook", "front of the\n  notebook")
    # Another effort is another partition: nothing accepted there, nothing to ack.
    other = ack_trivial_note_changes(ws, gate_refs=[], model="demo", effort="high")
    assert (other.model_id, other.checked, other.acked) == (f"{PARTITION}-high", (), ())
    # The alias target names the same partition as the alias.
    same = ack_trivial_note_changes(ws, gate_refs=[], model=PARTITION)
    assert same.model_id == PARTITION
    assert len(same.acked) == len(FROST_GATES)
    assert stale(ws, FROST) == []


def test_an_accepted_version_missing_from_the_store_is_not_judged(
    ws: Workspace, example_kb: Path
) -> None:
    old_sha = read_file(example_kb, FROST).sha
    accept_all(ws, FROST)
    conn = sqlite3.connect(ws.store.path)
    with conn:
        conn.execute("DELETE FROM snapshots WHERE sha = ?", (old_sha,))
    conn.close()
    edit(example_kb, FROST, "front of the notebook", "front of the\n  notebook")
    report = ack_trivial_note_changes(ws, gate_refs=[], model="demo")
    assert report.acked == ()
    assert {(c.changed, c.reason, c.trivial) for c in report.checked} == {
        ((), "accepted version not in the store", False)
    }


def test_all_or_nothing(ws: Workspace, example_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accept_all(ws, FROST, SKETCH)
    edit(example_kb, FROST, "front of the notebook", "front of the\nnotebook")
    edit(example_kb, SKETCH, "shows in one glance", "shows  in one glance")
    before = dump(ws)
    real = ack_module._append_acks
    calls = []

    def fail_on_the_second_note(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ack_module, "_append_acks", fail_on_the_second_note)
    with pytest.raises(RuntimeError, match="disk full"):
        ack_trivial_note_changes(ws, gate_refs=[], model="demo")
    assert len(calls) == 2
    assert dump(ws) == before


def test_gates_and_notes_scope(ws: Workspace, example_kb: Path) -> None:
    accept_all(ws, FROST, SEEDS)
    edit(example_kb, FROST, "front of the notebook", "front of the\nnotebook")
    edit(example_kb, SEEDS, "into an envelope", "into an\nenvelope")
    report = ack_trivial_note_changes(ws, gate_refs=[TAGS, "clarity"], model="demo")
    assert [(a.note_path, a.gate_id) for a in report.acked] == [
        (FROST, REPEATS),
        (FROST, ABBREV),
        (FROST, TAGS),
        (SEEDS, REPEATS),
        (SEEDS, ABBREV),
        (SEEDS, TAGS),
    ]
    current = ack_trivial_note_changes(ws, gate_refs=[], model="demo", current_only=True)
    assert [(a.note_path, a.gate_id) for a in current.acked] == [
        (FROST, OVERREACH),
        (FROST, TYPE_NOTE),
    ]
    named = ack_trivial_note_changes(ws, gate_refs=[], model="demo", note_refs=[SEEDS])
    assert [(a.note_path, a.gate_id) for a in named.acked] == [
        (SEEDS, OVERREACH),
        (SEEDS, TITLE_CLAIM),
        (SEEDS, TYPE_NOTE),
    ]
    assert stale(ws, FROST, SEEDS) == []
