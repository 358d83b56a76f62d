"""Decisions read by `write-gate-review` and what finalizing accepts: only
pass, warn and fail make a pair fresh; error and unknown are kept as evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import EX_NOTE, create_run, finalize, write_gate_review
from helpers.db import one, rows, store_of
from helpers.reviews import review

GATES = (
    "clarity/description-repeats-title",
    "clarity/undefined-abbreviation",
    "metadata/tags-present",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fine.\n\n## Result: PASS\n", "pass"),
        ("Fine.\n\n**Result:** warn\n", "warn"),
        ("Fine.\n\nResult: FAIL (title is a label)\n", "fail"),
        ("## Result: PASS\n\nTrailing remarks after the verdict.\n", "pass"),
        ("## Result: ERROR\n", "error"),
        ("## Result: PASS\n\n## Result: FAIL\n", "unknown"),
        ("No verdict at all.\n", "unknown"),
        ("## Result: MAYBE\n", "unknown"),
    ],
)
def test_decision_from_the_result_line(cli, example_kb: Path, text: str, expected: str) -> None:
    run_id = create_run(cli, example_kb, EX_NOTE, GATES[0], model="m")["review_run_id"]
    result = write_gate_review(cli, example_kb, run_id, GATES[0], "--json", stdin=text)
    assert result.code == 0, result.err
    assert result.json()["decision"] == expected
    stored, rationale = one(
        store_of(example_kb), "SELECT decision, rationale_markdown FROM gate_reviews"
    )
    assert stored == expected
    first_line = text.strip().splitlines()[0]
    assert first_line.strip("*#: ").split()[0] in rationale  # the author's text is kept


def test_error_and_unknown_complete_the_run_but_accept_nothing(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    created = create_run(cli, kb, EX_NOTE, "clarity", "metadata", model="m")
    assert created["gate_ids"] == list(GATES)
    run_id = created["review_run_id"]
    texts = dict(zip(GATES, (review("ERROR"), review(None), review("FAIL")), strict=True))
    for gate, text in texts.items():
        assert write_gate_review(cli, kb, run_id, gate, stdin=text).code == 0
    final = finalize(cli, kb, run_id, "--json")
    assert final.code == 0, final.out + final.err
    assert final.json()["status"] == "completed"
    assert rows(db, "SELECT gate_id, decision FROM gate_reviews ORDER BY id") == [
        (GATES[0], "error"),
        (GATES[1], "unknown"),
        (GATES[2], "fail"),
    ]
    assert rows(db, "SELECT gate_id, acceptance_kind FROM acceptance_events") == [
        (GATES[2], "full-review")
    ]
    stale = cli(
        "review-target-selector",
        "clarity",
        "metadata",
        "--model",
        "m",
        "--note",
        EX_NOTE,
        "--json",
        cwd=kb,
    )
    assert [(p["gate_id"], p["reason"]) for p in stale.json()] == [
        (GATES[0], "missing-review"),
        (GATES[1], "missing-review"),
    ]
