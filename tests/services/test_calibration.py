"""`calibrate` against a deterministic command reviewer (helpers/marker_reviewer.py):
exact figures computed independently, incremental re-runs after one gate is
edited, self-consistency with a reviewer that flips, and examples kept out
of notes, gates, the selector and the fix queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.db import rows as store_rows
from helpers.kb import git
from helpers.marker_reviewer import calls, decide, example, make_kb

from commonplace.errors import UserError
from commonplace.kb.gates import all_gate_ids, resolve_gate_ids
from commonplace.kb.notes import scan_notes
from commonplace.services.calibration import calibrate, calibration_summary
from commonplace.services.current import fix_queue
from commonplace.services.selector import flatten, scope_gates, scope_notes, select_stale
from commonplace.services.sweeps import SweepOptions
from commonplace.workspace import Workspace, open_workspace

MODEL = "marker-model"
OPTIONS = SweepOptions(runner="marker", model=MODEL, stream=False)

# gate -> example -> text; expected vs what the reviewer will say is planted:
# alpha has a miss (expected fail, no marker) and a false alarm (DECOY).
CASES = {
    "alpha": {
        "p1": example("pass", "Plain text."),
        "p2": example("pass", "Plain DECOY text."),
        "p3": example("pass", "Plain again."),
        "f1": example("fail", "It has MARKER-FAIL."),
        "f2": example("fail", "No marker at all."),
        "w1": example("warn", "It has MARKER-WARN."),
    },
    "beta": {
        "p1": example("pass", "Fine."),
        "f1": example("fail", "Broken MARKER-FAIL."),
        "w1": example("warn", "Flagged as fail MARKER-FAIL."),
    },
}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def workspace(kb: Path, db: Any) -> Workspace:
    return open_workspace(db=db, cwd=kb)


def expected_figures(cases: dict[str, str]) -> dict[str, Any]:
    """Accuracy, hit rate, false-alarm rate and the confusion matrix, by hand."""
    pairs = [(_expected(text), decide(text)) for text in cases.values()]
    flagged = {"warn", "fail"}
    wanted_flag = [(e, d) for e, d in pairs if e in flagged]
    wanted_pass = [(e, d) for e, d in pairs if e == "pass"]
    matrix = {
        e: dict.fromkeys(("pass", "warn", "fail", "error", "unknown"), 0)
        for e in ("pass", "warn", "fail")
    }
    for e, d in pairs:
        matrix[e][d] += 1
    return {
        "accuracy": sum(e == d for e, d in pairs) / len(pairs),
        "hit_rate": sum(d in flagged for _, d in wanted_flag) / len(wanted_flag),
        "false_alarm_rate": sum(d in flagged for _, d in wanted_pass) / len(wanted_pass),
        "confusion": matrix,
    }


def _expected(text: str) -> str:
    return text.split("expected: ", 1)[1].split("\n", 1)[0]


def test_figures_match_a_hand_count(tmp_path: Path, state: Path, db: Any) -> None:
    kb = make_kb(tmp_path / "kb", state, CASES)
    report = calibrate(workspace(kb, db), [], OPTIONS)
    assert report.problems == ()
    assert report.reviewed == 9 and report.failed == 0
    by_gate = {g.gate_id: g for g in report.gates}
    assert sorted(by_gate) == ["t/alpha", "t/beta"]
    for name, cases in CASES.items():
        gate = by_gate[f"t/{name}"]
        want = expected_figures(cases)
        assert gate.examples == len(cases)
        assert gate.accuracy == pytest.approx(want["accuracy"])
        assert gate.hit_rate == pytest.approx(want["hit_rate"])
        assert gate.false_alarm_rate == pytest.approx(want["false_alarm_rate"])
        assert gate.confusion == want["confusion"]
        assert gate.stale == 0 and gate.self_consistency is None
    # alpha by hand as well: 4 right of 6, 2 of 3 flags found, 1 of 3 passes flagged
    alpha = by_gate["t/alpha"]
    assert (alpha.accuracy, alpha.hit_rate, alpha.false_alarm_rate) == (4 / 6, 2 / 3, 1 / 3)
    # the summary reads the same figures back from the store, and nothing is stale
    summary = calibration_summary(workspace(kb, db), MODEL)
    assert [(g.gate_id, g.accuracy, g.is_stale) for g in summary] == [
        (g.gate_id, g.accuracy, False) for g in report.gates
    ]


def test_an_edited_gate_makes_only_its_calibration_stale(
    tmp_path: Path, state: Path, db: Any
) -> None:
    kb = make_kb(tmp_path / "kb", state, CASES)
    first = calibrate(workspace(kb, db), [], OPTIONS)
    assert len(first.run_ids) == 9
    made = len(calls(state))  # batches of at most five examples of one gate
    assert made == 3
    again = calibrate(workspace(kb, db), [], OPTIONS)
    assert again.reviewed == 0 and again.run_ids == ()
    assert len(calls(state)) == made  # nothing changed: the runner is not called
    gate = kb / "kb/instructions/review-gates/t/beta.md"
    gate.write_text(gate.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    git(kb, "commit", "-qam", "edit beta")
    stale = {g.gate_id: g.is_stale for g in calibration_summary(workspace(kb, db), MODEL)}
    assert stale == {"t/alpha": False, "t/beta": True}
    third = calibrate(workspace(kb, db), [], OPTIONS)
    assert len(third.run_ids) == 3
    reviewed = calls(state)[-1]["pairs"]
    assert isinstance(reviewed, list) and all(p.endswith(" :: t/beta") for p in reviewed)
    assert len(reviewed) == 3
    # an edited example: exactly that case again
    ex = kb / "kb/instructions/review-gates/t/alpha.examples/p3.md"
    ex.write_text(example("pass", "Edited text."), encoding="utf-8")
    fourth = calibrate(workspace(kb, db), [], OPTIONS)
    assert len(fourth.run_ids) == 1
    assert calls(state)[-1]["pairs"] == [
        "kb/instructions/review-gates/t/alpha.examples/p3.md :: t/alpha"
    ]


def test_repeat_with_a_flipping_reviewer(tmp_path: Path, state: Path, db: Any) -> None:
    cases = {
        "alpha": {
            "a": example("pass", "FLAKY one."),
            "b": example("fail", "FLAKY MARKER-FAIL two."),
            "c": example("pass", "Steady."),
            "d": example("fail", "Steady MARKER-FAIL."),
        }
    }
    kb = make_kb(tmp_path / "kb", state, cases, "--flip")
    report = calibrate(workspace(kb, db), ["t/alpha"], OPTIONS, repeat=3)
    (gate,) = report.gates
    # calls 1, 2, 3: the second flips the two FLAKY cases; the steady ones never change
    assert len(calls(state)) == 3 and report.reviewed == 12
    assert gate.changed == 2 and gate.self_consistency == pytest.approx(2 / 4)
    # the latest (third, unflipped) decisions give the accuracy
    assert gate.accuracy == 1.0
    # a second run with the same --repeat has its reviews already
    assert calibrate(workspace(kb, db), ["t/alpha"], OPTIONS, repeat=3).reviewed == 0


def test_examples_are_no_notes_nor_gates(tmp_path: Path, state: Path, db: Any) -> None:
    kb = make_kb(tmp_path / "kb", state, CASES)
    # a scan root that holds the gates folder still leaves the examples out
    (kb / "commonplace.toml").write_text(
        (kb / "commonplace.toml").read_text().replace('["kb/notes"]', '["kb"]'), encoding="utf-8"
    )
    git(kb, "commit", "-qam", "scan kb")
    ws = workspace(kb, db)
    calibrate(ws, [], OPTIONS)
    keys = [n.key for n in scan_notes(ws.config, ws.git_state())]
    assert keys and not any(".examples/" in k for k in keys)
    assert all_gate_ids(ws.config) == ["t/alpha", "t/beta"]
    for ref in ("t/alpha.examples", "t/alpha.examples/f1"):
        with pytest.raises(UserError, match="examples"):
            resolve_gate_ids(ws.config, [ref])
    stale = flatten(
        select_stale(
            ws.store,
            ws.git_state(),
            notes=scope_notes(ws, ws.git_state(), [], False),
            gates=scope_gates(ws, []),
            model_id=ws.partition(MODEL, None).model_id,
        )
    )
    assert stale and not any(".examples/" in p.note_path for p in stale)
    # the examples' warn and fail reviews are in the store, not in the fix queue
    assert any(".examples/" in r[0] for r in store_rows(db, "SELECT note_path FROM gate_reviews"))
    assert not any(".examples/" in e.note_path for e in fix_queue(ws))


def test_bad_examples_are_reported(tmp_path: Path, state: Path, db: Any) -> None:
    cases = {
        "alpha": {
            "good": example("fail", "MARKER-FAIL"),
            "none": "# no frontmatter\n",
            "wrong": example("maybe", "text"),
            "list": "---\n- a\n---\nbody\n",
        }
    }
    kb = make_kb(tmp_path / "kb", state, cases)
    outside = tmp_path / "outside.md"
    outside.write_text(example("pass", "secret"), encoding="utf-8")
    (kb / "kb/instructions/review-gates/t/alpha.examples/link.md").symlink_to(outside)
    report = calibrate(workspace(kb, db), [], OPTIONS)
    assert report.reviewed == 1
    text = "\n".join(report.problems)
    for name, why in (
        ("none.md", "no frontmatter"),
        ("wrong.md", "expected must be one of"),
        ("list.md", "mapping"),
        ("link.md", "a link"),
    ):
        assert any(name in p and why in p for p in report.problems), text
    assert "secret" not in text


def test_no_examples_is_an_error(tmp_path: Path, state: Path, db: Any) -> None:
    kb = make_kb(tmp_path / "kb", state, {"alpha": {}})
    with pytest.raises(UserError, match="no calibration examples"):
        calibrate(workspace(kb, db), [], OPTIONS)
