"""The HTML report's data block: what its script renders the matrix and each
review from, as compact JSON inside `<script type="application/json">`.

Notes and gates are index tables; each note's row is one string with one
character per gate (a code for its decision and staleness, `-` where the gate
does not apply), so 10,000 notes by 40 gates take about 450 KB. Reviews are
arrays of indexes into a table of texts, so a rationale or a set of findings
repeated across pairs is written once; the page turns one into DOM only when
its cell is opened.

The block is data, never run, but the HTML parser still ends it at the first
`</script`: every `<`, `>` and `&` is written as a JSON escape (and all
non-ASCII too, U+2028 and U+2029 included), so no text from a note or a review
can end the block or open a tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from commonplace.reports.data import FRESH, NEVER, ReportData
from commonplace.reports.pairs import NA, PairTable

DATA_ID = "report-data"
NOT_APPLICABLE = "-"
# One character per (decision, state) code; more codes than these never occur
# (6 decisions x 6 states), but would still get a character each.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_CHUNK = 500  # notes per piece written


def _code(codes: dict[tuple[int, int], str], key: tuple[int, int]) -> str:
    """The character of a (decision, state) pair, numbered as first met."""
    char = codes.get(key)
    if char is None:
        char = codes[key] = code_char(len(codes))
    return char


def code_char(code: int) -> str:
    return _ALPHABET[code] if code < len(_ALPHABET) else chr(0xC0 + code)


def dumps(value: object) -> str:
    """JSON safe to place between `<script type="application/json">` tags."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).translate(_SAFE)


def iter_payload(
    data: ReportData,
    table: PairTable,
    decisions: Mapping[str, tuple[str, str]],
    states: Mapping[str, tuple[str, str]],
    shown_decisions: list[str],
    shown_states: list[str],
) -> Iterator[str]:
    """The data block's JSON, in pieces (the caller writes them one by one);
    `table` is `data.cells` as a table."""
    decision_index = {d: i for i, d in enumerate(shown_decisions)}
    shown = {s: i for i, s in enumerate(shown_states)}
    state_index = [shown.get(s, -1) for s in table.states]  # -1: a state no pair has
    codes: dict[tuple[int, int], str] = {}
    texts = _Table()
    findings = _Table()
    reviews: list[list[Any]] = []
    never = decision_index.get(NEVER, -1)
    unreviewed: dict[int, str] = {}  # shared rows are encoded once
    encoded: list[str] = []
    for note_at, (note, row) in enumerate(zip(table.notes, table.rows, strict=True)):
        by_gate = table.reviews.get(note)
        if not by_gate:
            line = unreviewed.get(id(row))
            if line is None:
                line = unreviewed[id(row)] = "".join(
                    NOT_APPLICABLE if code == NA else _code(codes, (never, state_index[code]))
                    for code in row
                )
            encoded.append(line)
            continue
        chars = []
        for gate_at, code in enumerate(row):
            if code == NA:
                chars.append(NOT_APPLICABLE)
                continue
            review = by_gate.get(gate_at)
            if review is None:
                chars.append(_code(codes, (never, state_index[code])))
                continue
            chars.append(_code(codes, (decision_index[review.decision], state_index[code])))
            listed = [[texts.add(f.severity or "note"), texts.add(f.text)] for f in review.findings]
            accepted_for = review.current_note_sha
            reviews.append(
                [
                    note_at,
                    gate_at,
                    texts.add(review.rationale_markdown),
                    findings.add(listed),
                    texts.add(review.model_id),
                    texts.add(review.reviewed_at),
                    texts.add(review.acceptance_kind),
                    review.gate_review_id,
                    review.review_run_id,
                    review.reviewed_note_sha[:12],
                    "" if accepted_for == review.reviewed_note_sha else accepted_for[:12],
                ]
            )
        encoded.append("".join(chars))
    head = {
        "v": 1,
        "decisions": [[d, *decisions.get(d, ("?", d))] for d in shown_decisions],
        "states": [[s, *states.get(s, ("?", "")), s == FRESH] for s in shown_states],
        "never": NEVER,
        "codes": [[d, s] for (d, s) in sorted(codes, key=lambda k: codes[k])],
        "gates": [[g.gate_id, g.description] for g in data.gates],
        "pairs": len(table),
    }
    yield dumps(head)[:-1]
    for name, items in (("notes", table.notes), ("rows", encoded)):
        yield f',"{name}":['
        for start in range(0, len(items), _CHUNK):
            yield ("," if start else "") + dumps(list(items[start : start + _CHUNK]))[1:-1]
        yield "]"
    yield f',"texts":{dumps(texts.items)},"findings":{dumps(findings.items)}'
    yield f',"reviews":{dumps(reviews)}}}'


class _Table:
    """Values written once each, referred to by index."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[str, int] = {}

    def add(self, value: Any) -> int:
        key = value if isinstance(value, str) else json.dumps(value)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.items)
            self.items.append(value)
        return found
