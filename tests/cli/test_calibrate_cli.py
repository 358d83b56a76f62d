"""`commonplace calibrate` from the command line: --json figures, the
--fail-under / --fail-over exit codes, bad thresholds, and examples kept out
of `status` and `fixes`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.marker_reviewer import example, make_kb

RUN = ("--runner", "marker", "--model", "marker-model")
CASES = {
    "alpha": {
        "p1": example("pass", "Plain."),
        "p2": example("pass", "A DECOY."),
        "f1": example("fail", "MARKER-FAIL"),
        "f2": example("fail", "missed"),
    }
}


def test_json_and_thresholds(cli: Any, tmp_path: Path) -> None:
    kb = make_kb(tmp_path / "kb", tmp_path / "state", CASES)
    done = cli("calibrate", *RUN, "--json", cwd=kb)
    assert done.code == 0, done.err
    (gate,) = json.loads(done.out)["gates"]
    assert (gate["accuracy"], gate["hit_rate"], gate["false_alarm_rate"]) == (0.5, 0.5, 0.5)
    assert gate["confusion"]["fail"] == {"pass": 1, "warn": 0, "fail": 1, "error": 0, "unknown": 0}
    assert cli("calibrate", *RUN, "--fail-under", "accuracy=0.5", cwd=kb).code == 0
    under = cli("calibrate", *RUN, "--fail-under", "accuracy=0.8", cwd=kb)
    assert under.code == 1 and "t/alpha: accuracy 0.500 is under 0.8" in under.out
    assert cli("calibrate", *RUN, "--fail-over", "false_alarm_rate=0.5", cwd=kb).code == 0
    over = cli("calibrate", *RUN, "--fail-over", "false_alarm_rate=0.1", "--json", cwd=kb)
    assert over.code == 1 and json.loads(over.out)["violations"]
    assert json.loads(over.out)["reviewed"] == 0
    for bad in ("accuracy", "speed=0.5", "accuracy=2", "accuracy=nan", "accuracy=x"):
        refused = cli("calibrate", *RUN, "--fail-under", bad, cwd=kb)
        assert refused.code != 0 and "Traceback" not in refused.err
        assert "error:" in refused.err


def test_examples_stay_out_of_status_and_fixes(cli: Any, tmp_path: Path) -> None:
    kb = make_kb(tmp_path / "kb", tmp_path / "state", CASES)
    assert cli("calibrate", *RUN, cwd=kb).code == 0
    status = cli("review-target-selector", "--model", "marker-model", "--json", cwd=kb)
    assert status.code == 0, status.err
    assert "real.md" in status.out and ".examples/" not in status.out
    fixes = cli("warn-selector", "--json", cwd=kb)
    assert fixes.code == 0, fixes.err
    assert ".examples/" not in fixes.out
    named = cli(
        "review-sweep",
        *RUN,
        "--note",
        "kb/instructions/review-gates/t/alpha.examples/p1.md",
        cwd=kb,
    )
    assert named.code != 0 and "Traceback" not in named.err


def test_a_gate_ref_into_examples_is_refused(cli: Any, tmp_path: Path) -> None:
    kb = make_kb(tmp_path / "kb", tmp_path / "state", CASES)
    refused = cli("calibrate", "t/alpha.examples", *RUN, cwd=kb)
    assert refused.code == 1 and "examples are no gates" in refused.err


def test_the_report_shows_the_calibration_and_when_it_went_stale(cli: Any, tmp_path: Path) -> None:
    kb = make_kb(tmp_path / "kb", tmp_path / "state", CASES)
    assert cli("calibrate", *RUN, cwd=kb).code == 0

    def calibration() -> dict[str, Any]:
        done = cli("review-report", "--format", "json", "--model", "marker-model", cwd=kb)
        assert done.code == 0, done.err
        (row,) = [g for g in json.loads(done.out)["gate_health"] if g["gate_id"] == "t/alpha"]
        assert row["calibration"] is not None
        return dict(row["calibration"])

    fresh = calibration()
    assert (fresh["examples"], fresh["accuracy"], fresh["false_alarm_rate"]) == (4, 0.5, 0.5)
    assert fresh["stale"] is False
    case = kb / "kb/instructions/review-gates/t/alpha.examples/p1.md"
    case.write_text(case.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    assert calibration()["stale"] is True


def test_a_persons_label_is_a_case_unless_it_accepted(cli: Any, tmp_path: Path) -> None:
    kb = make_kb(tmp_path / "kb", tmp_path / "state", CASES)
    # The marker reviewer fails real.md (it holds MARKER-FAIL); the person says pass.
    labelled = cli("label", "kb/notes/real.md", "t/alpha", "--decision", "pass", cwd=kb)
    assert labelled.code == 0, labelled.err
    done = cli("calibrate", *RUN, "--json", cwd=kb)
    assert done.code == 0, done.err
    (gate,) = json.loads(done.out)["gates"]
    assert gate["examples"] == 5  # four example files and the label
    assert gate["confusion"]["pass"]["fail"] == 1  # the label's pass, decided fail
    # An accepted label stands as the pair's review: no calibration over it.
    accepted = cli(
        "label", "kb/notes/real.md", "t/alpha", "--decision", "pass",
        "--model", "marker-model", "--accept", cwd=kb,
    )  # fmt: skip
    assert accepted.code == 0, accepted.err
    again = cli("calibrate", *RUN, "--json", cwd=kb)
    assert json.loads(again.out)["gates"][0]["examples"] == 4
