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

DATA_ID = "report-data"
NOT_APPLICABLE = "-"
# One character per (decision, state) code; more codes than these never occur
# (6 decisions x 6 states), but would still get a character each.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_CHUNK = 500  # notes per piece written


def code_char(code: int) -> str:
    return _ALPHABET[code] if code < len(_ALPHABET) else chr(0xC0 + code)


def dumps(value: object) -> str:
    """JSON safe to place between `<script type="application/json">` tags."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).translate(_SAFE)


def iter_payload(
    data: ReportData,
    decisions: Mapping[str, tuple[str, str]],
    states: Mapping[str, tuple[str, str]],
    shown_decisions: list[str],
    shown_states: list[str],
) -> Iterator[str]:
    """The data block's JSON, in pieces (the caller writes them one by one)."""
    decision_index = {d: i for i, d in enumerate(shown_decisions)}
    state_index = {s: i for i, s in enumerate(shown_states)}
    gate_index = {g.gate_id: i for i, g in enumerate(data.gates)}
    codes: dict[tuple[int, int], str] = {}
    rows: dict[str, list[str]] = {}
    texts = _Table()
    findings = _Table()
    reviews: list[list[Any]] = []
    note_index = {n: i for i, n in enumerate(data.notes)}
    for cell in data.cells:
        key = (decision_index[cell.decision], state_index[cell.state])
        char = codes.setdefault(key, code_char(len(codes)))
        row = rows.setdefault(cell.note_path, [NOT_APPLICABLE] * len(data.gates))
        row[gate_index[cell.gate_id]] = char
        review = cell.review
        if review is not None:
            listed = [[texts.add(f.severity or "note"), texts.add(f.text)] for f in review.findings]
            accepted_for = review.current_note_sha
            reviews.append(
                [
                    note_index[cell.note_path],
                    gate_index[cell.gate_id],
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
    head = {
        "v": 1,
        "decisions": [[d, *decisions.get(d, ("?", d))] for d in shown_decisions],
        "states": [[s, *states.get(s, ("?", "")), s == FRESH] for s in shown_states],
        "never": NEVER,
        "codes": [[d, s] for (d, s) in sorted(codes, key=lambda k: codes[k])],
        "gates": [[g.gate_id, g.description] for g in data.gates],
        "pairs": len(data.cells),
    }
    yield dumps(head)[:-1]
    for name, items in (("notes", list(data.notes)), ("rows", None)):
        yield f',"{name}":['
        for start in range(0, len(data.notes), _CHUNK):
            part = data.notes[start : start + _CHUNK]
            values = (
                items[start : start + _CHUNK]
                if items is not None
                else ["".join(rows.get(n, ())) or NOT_APPLICABLE * len(data.gates) for n in part]
            )
            yield ("," if start else "") + dumps(values)[1:-1]
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
