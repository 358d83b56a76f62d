"""The reports of one store, end to end, on corpus notes with pass, warn and
fail reviews (SCENARIO): the warn queue lists exactly the warn and fail
findings; SARIF has one result per warn/fail finding, each with a rule id and
fingerprints; JUnit parses as XML with one test case per reviewed pair; and
the HTML report renders in headless Chromium with every reviewed note and gate
in its DOM. Every report comes from its real command."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from helpers.browser import Parsed, browse
from helpers.reviewed_corpus import MODEL, SCENARIO, run_command, scenario_kb

WARN_OR_FAIL = ("WARN", "FAIL")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scenario_kb(tmp_path_factory)


def report(kb: Path, fmt: str) -> str:
    done = run_command("review-report", "--format", fmt, "--model", MODEL, cwd=kb)
    assert done.code == 0, done.err
    return done.out


def test_the_warn_queue_lists_exactly_the_warn_and_fail_findings(kb: Path) -> None:
    done = run_command("warn-selector", "--model", MODEL, "--json", cwd=kb)
    assert done.code == 0, done.err
    listed = {
        (e["note_path"], e["gate_id"]): (
            e["decision"],
            [(f["severity"], f["text"]) for f in e["findings"]],
        )
        for e in json.loads(done.out)
    }
    assert listed == {
        pair: (decision.lower(), [(s.lower(), t) for s, t in findings])
        for pair, (decision, findings) in SCENARIO.items()
        if decision in WARN_OR_FAIL
    }


def test_sarif_has_one_result_per_warn_or_fail_finding(kb: Path) -> None:
    log = json.loads(report(kb, "sarif"))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    results = run["results"]
    expected = sorted(
        (note, gate, text)
        for (note, gate), (decision, findings) in SCENARIO.items()
        if decision in WARN_OR_FAIL
        for severity, text in findings
        if severity in WARN_OR_FAIL
    )
    # a warn or fail review without such findings is one result of its own
    bare = [pair for pair, (d, f) in SCENARIO.items() if d in WARN_OR_FAIL and not f]
    assert len(results) == len(expected) + len(bare)
    found = sorted(
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["ruleId"],
            r["message"]["text"],
        )
        for r in results
    )
    assert [f for f in found if (f[0], f[1]) not in bare] == expected
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("warning", "error")
        assert len(result["partialFingerprints"]["commonplaceFinding/v1"]) == 32
    assert len({r["partialFingerprints"]["commonplaceFinding/v1"] for r in results}) == len(results)
    # quoted text found in the note gives the finding a line
    assert all(
        "region" in r["locations"][0]["physicalLocation"]
        for r in results
        if '"' in r["message"]["text"] or "“" in r["message"]["text"]
    )


def test_junit_has_one_test_case_per_reviewed_pair(kb: Path) -> None:
    root = ET.fromstring(report(kb, "junit"))
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert set(cases) == set(SCENARIO)
    for pair, (decision, _) in SCENARIO.items():
        failed = cases[pair].find("failure") is not None
        assert failed == (decision == "FAIL")
    assert root.get("tests") == str(len(SCENARIO))
    assert root.get("failures") == str(sum(d == "FAIL" for d, _ in SCENARIO.values()))


def test_the_html_report_renders_every_reviewed_note_and_gate(
    kb: Path, chromium: str, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(report(kb, "html"), encoding="utf-8")
    seen = browse(chromium, page, tmp_path / "browser")
    assert seen.console == () and seen.requests == ()
    dom = Parsed(seen.dom)
    reviewed = {(c["data-note"], c["data-gate"]): c for c in dom.cells() if c["data-decision"]}
    for (note, gate), (decision, _) in SCENARIO.items():
        assert reviewed[(note, gate)]["data-decision"] == decision.lower()
    notes = {a["data-note"] for t, a in dom.elements if t == "tr" and "data-note" in a}
    gates = {a["data-gate"] for t, a in dom.elements if t == "th" and "data-gate" in a}
    assert {note for note, _ in SCENARIO} <= notes
    assert {gate for _, gate in SCENARIO} <= gates
