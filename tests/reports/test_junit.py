"""The JUnit XML report (`review-report --format junit`): one test case per
reviewed pair of the partition, one suite per note; `fail` is a failure with
a message, `warn` passes with a `decision` property, `error`/`unknown` are
errors; the counts on every suite and on the root add up."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, Cli, append, commit_paths
from helpers.reviewed_corpus import MODEL, SCENARIO, review_pairs, scenario_kb

from commonplace.protocol.decisions import Finding
from commonplace.reports.cost import CostLine, CostSummary
from commonplace.reports.data import Cell, GateInfo, ReportData
from commonplace.reports.junit import render_junit
from commonplace.services.current import CurrentReview


def junit(cli: Cli, kb: Path, *args: str) -> ET.Element:
    result = cli("review-report", "--format", "junit", *args, cwd=kb)
    assert result.code == 0, result.err
    assert result.out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(result.out.encode("utf-8"))


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    found = {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}
    assert len(found) == len(list(root.iter("testcase")))
    return found


def properties(case: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}


def outcome(case: ET.Element) -> str:
    """`failure`, `error`, `skipped` or `passed`."""
    kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    assert len(kinds) <= 1, kinds
    return kinds[0] if kinds else "passed"


def assert_counts(element: ET.Element, testcases: list[ET.Element]) -> None:
    outcomes = [outcome(c) for c in testcases]
    assert element.get("tests") == str(len(testcases))
    assert element.get("failures") == str(outcomes.count("failure"))
    assert element.get("errors") == str(outcomes.count("error"))
    assert element.get("skipped") == str(outcomes.count("skipped"))


def test_one_test_case_per_reviewed_pair(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = junit(cli, scenario_kb(tmp_path_factory))
    assert root.tag == "testsuites"
    found = cases(root)
    assert set(found) == set(SCENARIO)  # never-reviewed pairs are not test cases

    for pair, (decision, findings) in SCENARIO.items():
        case = found[pair]
        props = properties(case)
        assert props["decision"] == decision.lower()
        assert props["model_id"] == MODEL
        assert props["state"] == "fresh"
        assert props["acceptance_kind"] == "full-review"
        if decision == "FAIL":
            assert outcome(case) == "failure"
            failure = case.find("failure")
            assert failure is not None
            assert failure.get("message") == findings[0][1]
            assert failure.get("type") == "fail"
            assert findings[0][1] in (failure.text or "")
        else:
            assert outcome(case) == "passed"
        if decision == "WARN" and findings:
            out = case.find("system-out")
            assert out is not None and out.text is not None
            assert all(text in out.text for _, text in findings)

    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == sorted({note for note, _ in SCENARIO})
    for suite in suites:
        testcases = suite.findall("testcase")
        assert {c.get("classname") for c in testcases} == {suite.get("name")}
        assert_counts(suite, testcases)
    assert_counts(root, list(root.iter("testcase")))
    assert root.get("tests") == str(len(SCENARIO))
    assert root.get("failures") == "2"


def test_a_stale_pair_keeps_its_decision_and_says_why(cli: Cli, corpus_kb: Path) -> None:
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, corpus_kb, {pair: SCENARIO[pair]})
    append(corpus_kb, PLAIN_NOTE, "\nAnother paragraph.\n")
    commit_paths(corpus_kb, PLAIN_NOTE)
    (case,) = cases(junit(cli, corpus_kb)).values()
    assert outcome(case) == "failure"
    assert properties(case)["state"] == "note-changed"


def test_markup_in_findings_survives_the_xml(cli: Cli, corpus_kb: Path) -> None:
    message = "the note says <b>bold</b> & \"quoted\" 'things' ]]> here"
    pair = (CLAIM_NOTE, "frontmatter/title-as-claim")
    review_pairs(cli, corpus_kb, {pair: ("FAIL", (("FAIL", message),))})
    (case,) = cases(junit(cli, corpus_kb)).values()
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == message
    assert message in (failure.text or "")


def test_control_characters_in_a_review_keep_the_xml_well_formed(cli: Cli, corpus_kb: Path) -> None:
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, corpus_kb, {pair: ("FAIL", (("FAIL", "\x1b[31mred\x1b[0m text"),))})
    (case,) = cases(junit(cli, corpus_kb)).values()
    assert outcome(case) == "failure"


# --- decisions no command leaves current: the renderer alone ---------------------------------


def _review(decision: str, findings: tuple[Finding, ...] = ()) -> CurrentReview:
    return CurrentReview(
        note_path="kb/notes/n.md",
        gate_id=f"lens/{decision}",
        model_id="m",
        decision=decision,
        findings=findings,
        rationale_markdown=f"### Summary\nIt was {decision}.\n",
        gate_review_id=1,
        review_run_id=1,
        reviewed_at="2024-05-01T10:00:00.000Z",
        reviewed_note_sha="0" * 40,
        acceptance_kind="full-review",
        current_note_sha="0" * 40,
    )


def test_error_and_unknown_decisions_are_errors() -> None:
    reviews = {
        "pass": _review("pass"),
        "warn": _review("warn", (Finding("warn", "w"), Finding("info", "i"))),
        "fail": _review("fail"),
        "error": _review("error"),
        "unknown": _review("unknown"),
    }
    cells = tuple(Cell("kb/notes/n.md", r.gate_id, "fresh", r) for r in reviews.values())
    cells += (Cell("kb/notes/n.md", "lens/never", "missing-review", None),)
    empty = CostLine("total", 0)
    data = ReportData(
        model_id="m",
        generated_at="2024-05-01T10:00:00.000Z",
        kb_name="kb",
        notes=("kb/notes/n.md",),
        gates=tuple(GateInfo(c.gate_id, "") for c in cells),
        cells=cells,
        partitions=("m",),
        cost=CostSummary(empty, (), (), (), ()),
    )
    root = ET.fromstring(render_junit(data).encode("utf-8"))
    found = {c.get("name"): c for c in root.iter("testcase")}
    assert {name: outcome(case) for name, case in found.items()} == {
        "lens/pass": "passed",
        "lens/warn": "passed",
        "lens/fail": "failure",
        "lens/error": "error",
        "lens/unknown": "error",
    }
    error = found["lens/error"].find("error")
    assert error is not None and error.get("message") and error.get("type") == "error"
    warn_out = found["lens/warn"].find("system-out")
    assert warn_out is not None and warn_out.text == "warn: w"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "2")
    assert_counts(root, list(root.iter("testcase")))


def test_no_reviews_give_an_empty_but_valid_report(cli: Cli, corpus_kb: Path) -> None:
    root = junit(cli, corpus_kb, "--model", MODEL)
    assert list(root.iter("testcase")) == []
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")
