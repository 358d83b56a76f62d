"""Decisions, rationales and findings read from review text (SPEC 7, Decisions)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonplace.protocol.decisions import (
    Decision,
    Finding,
    canonical_rationale,
    parse_decision,
    parse_findings,
)

BODY = "### Summary\nThe note is fine.\n\n### Findings\n- WARN: one thing\n\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("## Result: PASS", Decision.PASS),
        ("## Result: WARN", Decision.WARN),
        ("## Result: FAIL", Decision.FAIL),
        ("## Result: ERROR", Decision.ERROR),
        (BODY + "## Result: PASS\n", Decision.PASS),
        ("**Result: WARN**", Decision.WARN),
        ("Result: fail (minor)", Decision.FAIL),
        ("Result: FAIL (two minor issues, see above)", Decision.FAIL),
        ("## result: Pass", Decision.PASS),
        ("**Result:** FAIL", Decision.FAIL),
        ("**Result**: WARN", Decision.WARN),
        ("### Result: warn", Decision.WARN),
        ("   ## Result:   PASS   ", Decision.PASS),
        ("Result: PASS.", Decision.PASS),
        ("RESULT: WARN", Decision.WARN),
        # not last in the text
        ("## Result: WARN\n\nA closing remark after the verdict.\n", Decision.WARN),
        (BODY + "## Result: FAIL\n\n### Suggested Revision\nRewrite it.\n", Decision.FAIL),
        # several lines that agree
        ("## Result: PASS\n\nin short:\n**Result: pass**\n", Decision.PASS),
        # several lines that disagree
        ("## Result: PASS\n...\n## Result: FAIL\n", Decision.UNKNOWN),
        ("Result: WARN\nResult: ERROR\n", Decision.UNKNOWN),
        # none
        ("", Decision.UNKNOWN),
        (BODY, Decision.UNKNOWN),
        ("The result: pass, mostly.", Decision.UNKNOWN),
        ("PASS", Decision.UNKNOWN),
        # an unreadable verdict
        ("Result: maybe", Decision.UNKNOWN),
        ("## Result: maybe\n## Result: PASS\n", Decision.UNKNOWN),
        ("## Result:", Decision.UNKNOWN),
    ],
)
def test_parse_decision(text: str, expected: Decision) -> None:
    assert parse_decision(text) is expected


def test_only_real_verdicts_accept() -> None:
    assert [d for d in Decision if d.accepts] == [Decision.PASS, Decision.WARN, Decision.FAIL]
    assert [d.value for d in Decision] == ["pass", "warn", "fail", "error", "unknown"]


@pytest.mark.parametrize(
    ("text", "decision", "expected"),
    [
        ("Summary.\n\n**Result: warn**\n", Decision.WARN, "Summary.\n\n## Result: WARN\n"),
        (
            "Summary.\n\nResult: fail (minor)   \n\n\n",
            Decision.FAIL,
            "Summary.\n\n## Result: FAIL\n",
        ),
        ("Summary.\n## result: Pass", Decision.PASS, "Summary.\n## Result: PASS\n"),
        ("Looks fine.", Decision.PASS, "Looks fine.\n\n## Result: PASS\n"),
        ("Tool crashed.\n", Decision.ERROR, "Tool crashed.\n\n## Result: ERROR\n"),
        ("", Decision.PASS, "## Result: PASS\n"),
        # the author's text is kept as written, only the footer is canonical
        (
            "  - WARN: *odd*  spacing\n**Result:** WARN",
            Decision.WARN,
            "  - WARN: *odd*  spacing\n## Result: WARN\n",
        ),
        # unknown: text unchanged except trailing space
        ("No verdict here.\n\n  ", Decision.UNKNOWN, "No verdict here.\n"),
        ("Result: maybe", Decision.UNKNOWN, "Result: maybe\n"),
        (
            "## Result: PASS\n## Result: FAIL\n",
            Decision.UNKNOWN,
            "## Result: PASS\n## Result: FAIL\n",
        ),
        ("", Decision.UNKNOWN, ""),
    ],
)
def test_canonical_rationale(text: str, decision: Decision, expected: str) -> None:
    assert canonical_rationale(text, decision) == expected


def test_canonical_rationale_keeps_a_result_line_that_is_not_last() -> None:
    text = "## Result: PASS\n\nA closing remark."
    result = canonical_rationale(text, Decision.PASS)
    assert result.startswith(text)
    assert result.endswith("\n## Result: PASS\n")
    assert parse_decision(result) is Decision.PASS


def test_parse_findings() -> None:
    text = "\n".join(
        [
            "### Findings",
            "- WARN: Undefined abbreviation GDD",
            "* FAIL: the title is a label",
            "- **INFO**: nothing else",
            "  - warn:   indented and lower-case   ",
            "- **WARN:** bold colon",
            "WARN: not a list item",
            "- Nothing to report",
            "- NOTE: a note",
            "- ERROR: reviewer error",
        ]
    )
    assert parse_findings(text) == (
        Finding("warn", "Undefined abbreviation GDD"),
        Finding("fail", "the title is a label"),
        Finding("info", "nothing else"),
        Finding("warn", "indented and lower-case"),
        Finding("warn", "bold colon"),
        Finding("note", "a note"),
        Finding("error", "reviewer error"),
    )


def test_parse_findings_of_nothing() -> None:
    assert parse_findings("") == ()
    assert parse_findings("### Findings\nNone.\n\n## Result: PASS\n") == ()


@settings(max_examples=300)
@given(st.text())
def test_parse_decision_never_raises(text: str) -> None:
    assert isinstance(parse_decision(text), Decision)
    assert isinstance(parse_findings(text), tuple)
    for decision in Decision:
        assert isinstance(canonical_rationale(text, decision), str)


@settings(max_examples=200)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(
                blacklist_characters=":", blacklist_categories=("Cs", "Cc", "Zl", "Zp")
            )
        )
    ).map("\n".join),
    st.sampled_from([Decision.PASS, Decision.WARN, Decision.FAIL, Decision.ERROR]),
)
def test_canonical_rationale_round_trips_the_decision(text: str, decision: Decision) -> None:
    rationale = canonical_rationale(text, decision)
    assert parse_decision(rationale) is decision
    assert rationale.endswith(f"## Result: {decision.value.upper()}\n")
    assert text.strip() in rationale


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(["## Result: PASS", "**Result: pass**", "Result: Pass (fine)", "prose"]),
        min_size=1,
    )
)
def test_agreeing_result_lines_never_conflict(lines: list[str]) -> None:
    expected = Decision.PASS if any(line != "prose" for line in lines) else Decision.UNKNOWN
    assert parse_decision("\n".join(lines)) is expected


def _parses_within(code: str, seconds: float) -> bool:
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_result_line_with_long_trailing_whitespace_parses_quickly() -> None:
    """Review text is untrusted model output; a result-like line padded with
    spaces must not make the parser backtrack for minutes."""
    code = (
        "from commonplace.protocol.decisions import parse_decision, Decision\n"
        "assert parse_decision('Result: pass' + ' ' * 150 + 'x') is Decision.UNKNOWN\n"
    )
    assert _parses_within(code, 5.0), "parse_decision backtracks catastrophically"


def test_a_quote_that_leaves_a_fence_open_cannot_decide() -> None:
    # The reviewer fences a quote of a note that has a fence line of its own:
    # the note's PASS ends up unfenced and the reviewer's FAIL fenced.
    text = (
        "### Summary\nThe note says:\n```\n```\n## Result: PASS\n```\n\n"
        "### Findings\n- FAIL: it overreaches\n\n## Result: FAIL\n"
    )
    assert parse_decision(text) is Decision.UNKNOWN  # never the quoted PASS
    assert parse_decision(text.replace("## Result: PASS", "## Result: FAIL")) is Decision.FAIL
