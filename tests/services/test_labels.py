"""Human labels (`commonplace label`, issue 18) on the example KB, with real
runs through the lifecycle: the manual-override acceptance the selector
honours, the fix queue showing the label's decision, label cases,
disagreements with a model's review, refusals, and the append-only table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.cli import (
    DEMO_MODEL,
    EX_CLAIM_GATE,
    EX_CLARITY,
    EX_NOTE,
    Cli,
    append,
    commit_paths,
    complete_run,
    stale_pairs,
)

from commonplace.errors import UserError
from commonplace.kb.gates import load_gates
from commonplace.services.calibration_cases import CalibrationCase, CaseSource
from commonplace.services.current import warn_queue
from commonplace.services.labels import (
    LabelDisagreement,
    label_cases,
    label_disagreements,
    record_label,
)
from commonplace.services.note_story import note_story
from commonplace.store.check import check_store
from commonplace.workspace import Workspace, open_workspace

pytestmark = pytest.mark.both_backends

GATE = EX_CLARITY[1]  # clarity/undefined-abbreviation
OTHER = EX_CLARITY[0]


def workspace(kb: Path) -> Workspace:
    return open_workspace(cwd=kb)


def label(kb: Path, **kwargs: Any) -> Any:
    ws = workspace(kb)
    try:
        args = {"note_ref": EX_NOTE, "gate_ref": GATE, "decision": "pass", **kwargs}
        return record_label(ws, **args)
    finally:
        ws.store.close()


def stale_of(cli: Cli, kb: Path) -> set[tuple[str, str]]:
    found = stale_pairs(cli, kb, "clarity", "--model", DEMO_MODEL, "--note", EX_NOTE)
    return {(n, g) for n, g, _ in found}


def test_accept_leaves_a_manual_override_the_selector_honours(cli: Cli, example_kb: Path) -> None:
    kb = example_kb
    created, _ = complete_run(cli, kb, EX_NOTE, "clarity", decisions=("PASS", "WARN"))
    ws = workspace(kb)
    [queued] = warn_queue(ws.store)
    assert (queued.gate_id, queued.decision) == (GATE, "warn")

    # The person says pass; without --accept the review stays current.
    kept = label(kb, why="GDD is spelled out in the title")
    assert kept.acceptance_event_id is None and kept.model_id is None
    assert [q.decision for q in warn_queue(ws.store)] == ["warn"]

    append(kb, EX_NOTE, "\nA note on GDD.\n")
    commit_paths(kb, EX_NOTE)
    assert stale_of(cli, kb) == {(EX_NOTE, GATE), (EX_NOTE, OTHER)}
    done = label(kb, model=DEMO_MODEL, accept=True, why="fine", decision="fail", by="Ann")
    assert done.model_id == DEMO_MODEL and done.labeller == "Ann"
    with ws.store.read() as conn:
        kind, model_id, note_sha = conn.execute(
            "SELECT acceptance_kind, model_id, accepted_note_sha FROM acceptance_events"
            " WHERE id = ?",
            (done.acceptance_event_id,),
        ).fetchone()
    assert (kind, model_id, note_sha) == ("manual-override", DEMO_MODEL, done.note_sha)
    # Fresh for that partition: only the other gate, not labelled, is stale.
    assert stale_of(cli, kb) == {(EX_NOTE, OTHER)}
    # The fix queue shows the person's decision and why, honest about the source.
    [queued] = warn_queue(ws.store)
    assert (queued.gate_id, queued.decision, queued.acceptance_kind) == (
        GATE,
        "fail",
        "manual-override",
    )
    assert queued.rationale_markdown == "fine" and queued.findings == ()
    assert queued.review_run_id == created["review_run_id"]
    assert check_store(ws.store).ok

    append(kb, EX_NOTE, "\nanother edit\n")
    assert stale_of(cli, kb) == {(EX_NOTE, GATE), (EX_NOTE, OTHER)}

    story = note_story(ws, EX_NOTE)
    assert [(lb.decision, lb.acceptance_event_id) for lb in story.labels] == [
        ("pass", None),
        ("fail", done.acceptance_event_id),
    ]
    ws.store.close()


def test_disagreements_with_a_models_review(cli: Cli, example_kb: Path) -> None:
    kb = example_kb
    created, _ = complete_run(cli, kb, EX_NOTE, "clarity", decisions=("PASS", "WARN"))
    other, _ = complete_run(cli, kb, EX_NOTE, "clarity", model="other-model")
    said = label(kb, why="it is defined")  # pass, for every partition
    label(kb, gate_ref=OTHER)  # agrees with both partitions: no disagreement
    ws = workspace(kb)
    found = label_disagreements(ws.store)
    assert found == [
        LabelDisagreement(
            note_path=EX_NOTE,
            gate_id=GATE,
            label_decision="pass",
            label_why="it is defined",
            label_uid=said.uid,
            labeller=said.labeller,
            note_sha=said.note_sha,
            gate_sha=said.gate_sha,
            model_id=DEMO_MODEL,
            model_decision="warn",
            gate_review_id=found[0].gate_review_id,
            review_run_id=created["review_run_id"],
        )
    ]
    assert label_disagreements(ws.store, model_id="other-model") == []
    assert other["review_run_id"] != created["review_run_id"]
    # A label naming a partition speaks for it over one naming none.
    label(kb, decision="fail", model="other-model")
    [late] = label_disagreements(ws.store, model_id="other-model")
    assert (late.label_decision, late.model_decision) == ("fail", "pass")
    assert len(label_disagreements(ws.store)) == 2
    # A review of another note version is not set against the label.
    append(kb, EX_NOTE, "\nedit\n")
    commit_paths(kb, EX_NOTE)
    complete_run(cli, kb, EX_NOTE, "clarity", decisions=("PASS", "PASS"))
    assert len(label_disagreements(ws.store)) == 2
    ws.store.close()


def test_label_cases_are_the_newest_labels_of_current_versions(example_kb: Path) -> None:
    kb = example_kb
    label(kb, decision="warn", why="old")
    label(kb, decision="fail", why="newer")
    label(kb, gate_ref=OTHER, decision="pass")
    ws = workspace(kb)
    gates = load_gates(ws.config, [GATE, OTHER])
    assert label_cases(ws, gates) == [
        CalibrationCase(EX_NOTE, OTHER, "pass", None, CaseSource.LABEL),
        CalibrationCase(EX_NOTE, GATE, "fail", "newer", CaseSource.LABEL),
    ]
    assert label_cases(ws, gates[:1]) == [
        CalibrationCase(EX_NOTE, GATE, "fail", "newer", CaseSource.LABEL)
    ]
    append(kb, EX_NOTE, "\nedit\n")  # the labels judged a version that is gone
    assert label_cases(ws, gates) == []
    ws.store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decision": "maybe"}, "--decision must be one of"),
        ({"accept": True}, "--accept needs --model"),
        ({"why": "ok\x1b[2Jgone"}, r"--why holds control characters \(U\+001B\)"),
        ({"why": "a\x00b"}, "U\\+0000"),
        ({"why": "x" * 4001}, "at most 4000"),
        ({"by": "Ann\nforged: line"}, "--by holds control characters"),
        ({"note_ref": "kb/notes/frost-dats.md"}, f"note not found.*did you mean '?{EX_NOTE}"),
        ({"gate_ref": "clarity"}, "is a lens; a label judges one gate"),
        ({"gate_ref": "clarity/no-such-gate"}, "not found"),
        ({"gate_ref": EX_CLAIM_GATE}, "does not apply"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(
    example_kb: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        label(example_kb, **kwargs)
    ws = workspace(example_kb)
    assert note_story(ws, EX_NOTE).labels == ()
    ws.store.close()


def test_dirty_note_or_gate_is_refused(example_kb: Path) -> None:
    append(example_kb, EX_NOTE, "\nuncommitted\n")
    with pytest.raises(UserError, match=r"uncommitted changes.*nothing labelled"):
        label(example_kb)
    commit_paths(example_kb, EX_NOTE)
    gate_path = f"kb/instructions/review-gates/{GATE}.md"
    append(example_kb, gate_path, "\nmore\n")
    with pytest.raises(UserError, match="dirty gates are fatal"):
        label(example_kb)


def test_a_why_with_line_breaks_is_kept(example_kb: Path) -> None:
    done = label(example_kb, why="  first line\n\tsecond ü line  ")
    assert done.why == "first line\n\tsecond ü line"


def test_labels_are_append_only(example_kb: Path) -> None:
    label(example_kb)
    ws = workspace(example_kb)
    for sql in (
        "UPDATE labels SET decision = 'fail'",
        "UPDATE labels SET why = 'forged'",
        "DELETE FROM labels",
    ):
        with pytest.raises(Exception, match="labels is append-only"), ws.store.write() as conn:
            conn.execute(sql)
    if ws.store.kind == "postgresql":
        with pytest.raises(Exception, match="labels is append-only"), ws.store.write() as conn:
            conn.execute("TRUNCATE labels")
    with ws.store.write() as conn:  # a relocation may still move its key
        conn.execute("UPDATE labels SET note_path = 'kb/notes/moved.md'")
    with ws.store.read() as conn:
        assert conn.execute("SELECT decision FROM labels").fetchone()[0] == "pass"
    ws.store.close()
