"""The pair grammar's literals and the documents built from blocks (SPEC 7)."""

from __future__ import annotations

import pytest

from commonplace.protocol import grammar
from commonplace.protocol.grammar import (
    CLOSE,
    END,
    PAIR_SEPARATOR,
    START,
    Pair,
    gate_file_name,
    is_token,
    new_token,
    relocate_document,
)
from commonplace.protocol.parser import parse_output

NOTE = "kb/notes/a-note.md"
GATE = "prose/source-residue"
PAIR = Pair(NOTE, GATE)
TOKEN = "k9-Zq_8bW2xYtP4mR7sLnA"


def start_line(pair: Pair) -> str:
    return grammar.start_line(pair, token=TOKEN)


def end_line(pair: Pair) -> str:
    return grammar.end_line(pair, token=TOKEN)


def block(pair: Pair, text: str) -> str:
    return grammar.block(pair, text, token=TOKEN)


def run_document(run_id: int, note: str, texts: list[tuple[str, str]]) -> str:
    return grammar.run_document(run_id, note, texts, token=TOKEN)


def test_literals_match_the_spec() -> None:
    assert PAIR_SEPARATOR == " :: "
    assert START + "n :: g" + CLOSE == "=== PAIR REVIEW START: n :: g ==="
    assert END + "n :: g" + CLOSE == "=== PAIR REVIEW END: n :: g ==="


def test_pair_prints_as_its_key() -> None:
    assert str(PAIR) == "kb/notes/a-note.md :: prose/source-residue"
    assert PAIR == (NOTE, GATE)
    assert (PAIR.note_path, PAIR.gate_id) == (NOTE, GATE)


def test_sentinel_lines() -> None:
    assert start_line(PAIR) == f"=== PAIR REVIEW START {TOKEN}: {NOTE} :: {GATE} ==="
    assert end_line(PAIR) == f"=== PAIR REVIEW END {TOKEN}: {NOTE} :: {GATE} ==="
    assert grammar.start_line(PAIR, token=None) == f"=== PAIR REVIEW START: {NOTE} :: {GATE} ==="
    assert grammar.end_line(PAIR, token=None) == f"=== PAIR REVIEW END: {NOTE} :: {GATE} ==="


def test_tokens_are_fresh_url_safe_and_long_enough() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert is_token(token)
        assert len(token) >= 16  # 128 bits drawn, >= 64 required
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "bad", ["", "short", "has space in it", "colon:inside-it", "ünïcödé-tøken"]
)
def test_not_tokens(bad: str) -> None:
    assert not is_token(bad)


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
    parsed = parse_output(block(PAIR, text), [PAIR], token=TOKEN)
    assert parsed.bodies == {PAIR: text + "\n"}
    assert parsed.missing == ()


def test_run_document_has_a_header_and_one_block_per_gate_in_order() -> None:
    texts = [("b/second", "Second.\n## Result: WARN"), ("a/first", "First.\n## Result: PASS")]
    doc = run_document(42, NOTE, texts)
    assert doc.startswith("# Review bundle\n\nReview run id: 42\nNote: kb/notes/a-note.md\n")
    second, first = Pair(NOTE, "b/second"), Pair(NOTE, "a/first")
    assert doc.index(start_line(second)) < doc.index(start_line(first))
    assert doc.count(f"=== PAIR REVIEW START {TOKEN}: ") == 2
    assert doc.endswith(end_line(first) + "\n")


def test_run_document_can_be_ingested_again() -> None:
    texts = [("b/second", "Second.\n## Result: WARN"), ("a/first", "First.\n## Result: PASS")]
    pairs = [Pair(NOTE, gate_id) for gate_id, _ in texts]
    parsed = parse_output(run_document(7, NOTE, texts), pairs, token=TOKEN)
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


def test_relocating_a_v2_document_rewrites_only_its_tokened_sentinels() -> None:
    new = "kb/notes/moved.md"
    quoted = "```\n" + grammar.start_line(PAIR, token=None) + "\n```\n## Result: FAIL"
    doc = run_document(5, NOTE, [(GATE, quoted)])
    moved = relocate_document(doc, NOTE, new, token=TOKEN)
    assert moved == grammar.run_document(5, new, [(GATE, quoted)], token=TOKEN)
    assert grammar.start_line(PAIR, token=None) in moved  # the quote stays as written
