"""Trivial-change acknowledgements (SPEC 11): all or nothing, canonical, pinned."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kb import head
from helpers.store import ABBREV, FROST, OVERREACH, SKETCH, TAGS, TITLE_CLAIM

from commonplace.errors import UserError
from commonplace.kb.files import read_file
from commonplace.kb.gates import load_gates
from commonplace.services.ack import TRIVIAL_CHANGE_ACK, AckedPair, ack_gate_review, ack_pairs
from commonplace.store.check import check_store
from commonplace.workspace import Workspace, open_workspace


def gate_file(ws: Workspace, gate_id: str) -> Path:
    return ws.config.gates_path / f"{gate_id}.md"


def events(ws: Workspace) -> list[dict[str, object]]:
    with ws.store.read() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM acceptance_events ORDER BY id")]


def test_ack_stores_current_versions_with_canonical_paths(ws: Workspace, example_kb: Path) -> None:
    acked = ack_gate_review(
        ws, note_ref=f"./{SKETCH}", gate_refs=[TAGS, f"./{ABBREV}"], model="demo"
    )
    note = read_file(example_kb, SKETCH)
    tags_sha = read_file(example_kb, f"kb/instructions/review-gates/{TAGS}.md").sha
    abbrev_sha = read_file(example_kb, f"kb/instructions/review-gates/{ABBREV}.md").sha
    stored = events(ws)
    first_id, second_id = (int(str(e["id"])) for e in stored)
    assert acked == [
        AckedPair(SKETCH, TAGS, "demo-reviewer-1", note.sha, tags_sha, first_id),
        AckedPair(SKETCH, ABBREV, "demo-reviewer-1", note.sha, abbrev_sha, second_id),
    ]
    commit = head(example_kb)
    for event, gate_sha in zip(stored, (tags_sha, abbrev_sha), strict=True):
        assert event["note_path"] == SKETCH
        assert event["model_id"] == "demo-reviewer-1"
        assert event["acceptance_kind"] == TRIVIAL_CHANGE_ACK == "trivial-change-ack"
        assert event["accepted_review_id"] is None
        assert event["accepted_note_sha"] == note.sha
        assert event["accepted_note_commit"] == commit
        assert event["accepted_gate_sha"] == gate_sha
        assert str(event["accepted_at"]).endswith("Z")
    with ws.store.read() as conn:
        snapshots = dict(conn.execute("SELECT sha, text FROM snapshots").fetchall())
    assert snapshots == {
        note.sha: note.text,
        tags_sha: gate_file(ws, TAGS).read_text(encoding="utf-8"),
        abbrev_sha: gate_file(ws, ABBREV).read_text(encoding="utf-8"),
    }
    assert check_store(ws.store).ok


def test_ack_from_a_subdirectory(ws: Workspace, example_kb: Path) -> None:
    here = open_workspace(db=ws.store.path, cwd=example_kb / "kb" / "notes")
    acked = ack_gate_review(here, note_ref="./frost-dates.md", gate_refs=[TAGS], model="demo")
    assert [a.note_path for a in acked] == [FROST]
    assert [e["note_path"] for e in events(ws)] == [FROST]


def test_an_inapplicable_gate_named_alone_is_refused(ws: Workspace) -> None:
    with pytest.raises(UserError, match="do not apply") as info:
        ack_gate_review(ws, note_ref=FROST, gate_refs=[TAGS, TITLE_CLAIM], model="demo")
    assert TITLE_CLAIM in info.value.message
    assert "requires trait title-as-claim" in info.value.message
    assert TAGS not in info.value.message
    assert "nothing acked" in info.value.message
    assert not ws.store.path.exists()


def test_gates_through_a_lens_only_where_they_apply(ws: Workspace) -> None:
    acked = ack_gate_review(ws, note_ref=FROST, gate_refs=["claims"], model="demo")
    assert [a.gate_id for a in acked] == [OVERREACH]
    acked = ack_gate_review(ws, note_ref=SKETCH, gate_refs=["claims"], model="demo")
    assert [a.gate_id for a in acked] == [OVERREACH, TITLE_CLAIM]
    assert [(e["note_path"], e["gate_id"]) for e in events(ws)] == [
        (FROST, OVERREACH),
        (SKETCH, OVERREACH),
        (SKETCH, TITLE_CLAIM),
    ]


def test_a_gate_named_twice_is_acked_once(ws: Workspace) -> None:
    acked = ack_gate_review(ws, note_ref=SKETCH, gate_refs=[OVERREACH, "claims"], model="demo")
    assert [a.gate_id for a in acked] == [OVERREACH, TITLE_CLAIM]
    assert len(events(ws)) == 2


def test_expect_note_sha_pins_the_inspected_version(ws: Workspace, example_kb: Path) -> None:
    inspected = read_file(example_kb, SKETCH).sha
    (example_kb / SKETCH).write_text(
        (example_kb / SKETCH).read_text(encoding="utf-8") + "\nAn edit after inspection.\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="has changed") as info:
        ack_gate_review(
            ws, note_ref=SKETCH, gate_refs=[TAGS], model="demo", expect_note_sha=inspected
        )
    assert inspected in info.value.message
    assert not ws.store.path.exists()

    current = read_file(example_kb, SKETCH).sha
    (acked,) = ack_gate_review(
        ws, note_ref=SKETCH, gate_refs=[TAGS], model="demo", expect_note_sha=current
    )
    assert acked.note_sha == current
    (event,) = events(ws)
    assert event["accepted_note_sha"] == current
    assert event["accepted_note_commit"] is None  # the note is dirty


def test_a_dirty_gate_is_refused(ws: Workspace) -> None:
    path = gate_file(ws, ABBREV)
    path.write_text(path.read_text(encoding="utf-8") + "\nEdited.\n", encoding="utf-8")
    with pytest.raises(UserError, match=f"dirty gates are fatal: {ABBREV}"):
        ack_gate_review(ws, note_ref=SKETCH, gate_refs=[TAGS, ABBREV], model="demo")
    assert not ws.store.path.exists()


def test_a_refused_ack_leaves_an_existing_store_unchanged(ws: Workspace) -> None:
    ack_gate_review(ws, note_ref=SKETCH, gate_refs=[TAGS], model="demo")
    before = events(ws)
    with pytest.raises(UserError):
        ack_gate_review(ws, note_ref=FROST, gate_refs=[OVERREACH, TITLE_CLAIM], model="demo")
    assert events(ws) == before


def test_ack_one_note_at_a_time(ws: Workspace) -> None:
    with pytest.raises(UserError, match="names 5 notes"):
        ack_gate_review(ws, note_ref="kb/notes", gate_refs=[TAGS], model="demo")


def test_ack_uses_the_requested_partition(ws: Workspace) -> None:
    (acked,) = ack_gate_review(
        ws, note_ref=SKETCH, gate_refs=[TAGS], model="gpt-5.5", effort="xhigh"
    )
    assert acked.model_id == "gpt-5-5-xhigh"
    assert [e["model_id"] for e in events(ws)] == ["gpt-5-5-xhigh"]


def test_ack_pairs_directly(ws: Workspace, example_kb: Path) -> None:
    note = read_file(example_kb, FROST)
    gates = load_gates(ws.config, [TAGS, TITLE_CLAIM])
    with pytest.raises(UserError, match="do not apply"):
        ack_pairs(ws.store, ws.git_state(), note=note, gates=gates, model_id="m")
    assert not ws.store.path.exists()
    acked = ack_pairs(ws.store, ws.git_state(), note=note, gates=gates[:1], model_id="m")
    assert [(a.note_path, a.gate_id, a.model_id) for a in acked] == [(FROST, TAGS, "m")]
