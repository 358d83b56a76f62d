"""The pair grammar's literals and the documents built from blocks (SPEC 7)."""

from __future__ import annotations

import pytest

from commonplace.review.protocol.grammar import (
    CLOSE,
    END,
    PAIR_SEPARATOR,
    START,
    Pair,
    block,
    end_line,
    gate_file_name,
    run_document,
    start_line,
)
from commonplace.review.protocol.parser import parse_output

NOTE = "kb/notes/a-note.md"
GATE = "prose/source-residue"
PAIR = Pair(NOTE, GATE)


def test_literals_match_the_spec() -> None:
    assert PAIR_SEPARATOR == " :: "
    assert START + "n :: g" + CLOSE == "=== PAIR REVIEW START: n :: g ==="
    assert END + "n :: g" + CLOSE == "=== PAIR REVIEW END: n :: g ==="


def test_pair_prints_as_its_key() -> None:
    assert str(PAIR) == "kb/notes/a-note.md :: prose/source-residue"
    assert PAIR == (NOTE, GATE)
    assert (PAIR.note_path, PAIR.gate_id) == (NOTE, GATE)


def test_sentinel_lines() -> None:
    assert start_line(PAIR) == f"=== PAIR REVIEW START: {NOTE} :: {GATE} ==="
    assert end_line(PAIR) == f"=== PAIR REVIEW END: {NOTE} :: {GATE} ==="


def test_block_wraps_the_text_in_sentinels() -> None:
    text = "### Summary\nFine.\n\n## Result: PASS\n\n\n"
    assert block(PAIR, text) == (
        f"{start_line(PAIR)}\n### Summary\nFine.\n\n## Result: PASS\n{end_line(PAIR)}\n"
    )


def test_block_is_newline_terminated_without_trailing_blank_lines() -> None:
    out = block(PAIR, "body   \n \n")
    assert out.endswith(f"\nbody\n{end_line(PAIR)}\n")
    assert out.count("\n") == 3


def test_block_parses_back_to_its_text() -> None:
    text = "### Summary\nFine.\n\n### Findings\n- none\n\n## Result: PASS"
    parsed = parse_output(block(PAIR, text), [PAIR])
    assert parsed.bodies == {PAIR: text + "\n"}
    assert parsed.missing == ()


def test_run_document_has_a_header_and_one_block_per_gate_in_order() -> None:
    texts = [("b/second", "Second.\n## Result: WARN"), ("a/first", "First.\n## Result: PASS")]
    doc = run_document(42, NOTE, texts)
    assert doc.startswith("# Review bundle\n\nReview run id: 42\nNote: kb/notes/a-note.md\n")
    second, first = Pair(NOTE, "b/second"), Pair(NOTE, "a/first")
    assert doc.index(start_line(second)) < doc.index(start_line(first))
    assert doc.count("=== PAIR REVIEW START: ") == 2
    assert doc.endswith(end_line(first) + "\n")


def test_run_document_can_be_ingested_again() -> None:
    texts = [("b/second", "Second.\n## Result: WARN"), ("a/first", "First.\n## Result: PASS")]
    pairs = [Pair(NOTE, gate_id) for gate_id, _ in texts]
    parsed = parse_output(run_document(7, NOTE, texts), pairs)
    assert parsed.bodies == {
        pair: text + "\n" for pair, (_, text) in zip(pairs, texts, strict=True)
    }
    assert parsed.missing == ()


def test_run_document_without_reviews_is_just_the_header() -> None:
    assert run_document(3, NOTE, []) == f"# Review bundle\n\nReview run id: 3\nNote: {NOTE}\n"


@pytest.mark.parametrize(
    ("gate_id", "name"),
    [
        ("prose/source-residue", "prose__source-residue.md"),
        ("single", "single.md"),
        ("a/b/c", "a__b__c.md"),
    ],
)
def test_gate_file_name(gate_id: str, name: str) -> None:
    assert gate_file_name(gate_id) == name
