"""The report's pairs as a compact table (issue 17): `gather` builds one row
per note, shared between notes alike, and the table gives exactly the pairs
a walk pair by pair gives; counting and encoding from it match the cells."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers.commands import run_script
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, commit_all, make_git_kb
from helpers.store import ABBREV, SEEDS, SKETCH, TAGS

from commonplace.kb.notes import note_facts
from commonplace.reports.cost import CostLine, CostSummary
from commonplace.reports.data import Cell, GateInfo, ReportData, gather
from commonplace.reports.html import render_html
from commonplace.reports.html_data import DATA_ID
from commonplace.reports.pairs import NA, PairTable, reviewed_cells, table_of
from commonplace.services.current import CurrentReview, current_reviews
from commonplace.services.selector import scope_gates, scope_notes, select_stale
from commonplace.workspace import open_workspace


def review(note: str, gate: str, decision: str = "pass", rationale: str = "ok") -> CurrentReview:
    return CurrentReview(
        note_path=note,
        gate_id=gate,
        model_id="m-1",
        decision=decision,
        findings=(),
        rationale_markdown=rationale,
        gate_review_id=7,
        review_run_id=3,
        reviewed_at="2024-05-01T10:00:00.000Z",
        reviewed_note_sha="a" * 40,
        acceptance_kind="full-review",
        current_note_sha="a" * 40,
    )


def walked(kb: Path, model_id: str) -> list[Cell]:
    """The pairs as the report used to gather them: one at a time."""
    ws = open_workspace(cwd=kb)
    git = ws.git_state()
    gates = sorted(scope_gates(ws, ()), key=lambda g: g.id)
    notes = scope_notes(ws, git, (), False)
    stale = {
        (n.note_path, g.gate_id): g.reason.value
        for n in select_stale(ws.store, git, notes=notes, gates=gates, model_id=model_id)
        for g in n.gates
    }
    reviews = {(r.note_path, r.gate_id): r for r in current_reviews(ws.store, model_id=model_id)}
    return [
        Cell(
            note.key,
            gate.id,
            stale.get((note.key, gate.id), "fresh"),
            reviews.get((note.key, gate.id)),
        )
        for note in notes
        for gate in gates
        if gate.applies_to(note_facts(note))
    ]


@pytest.fixture(scope="module")
def reviewed_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example KB with two notes reviewed, then a note and a gate edited
    and committed, and a gate with uncommitted changes."""
    tmp = tmp_path_factory.mktemp("pairs")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        mp.setenv("HOME", str(tmp / "home"))
        for key, value in GIT_IDENTITY.items():
            mp.setenv(key, value)
        kb = make_git_kb(EXAMPLE_KB, tmp / "example-kb")
        sweep = ["--runner", "stand-in", "--model", "demo", "--note", SKETCH, SEEDS]
        done = run_script("commonplace-review-sweep", sweep, cwd=kb)
        assert done.returncode == 0, done.stderr
        for path, text in (
            (SEEDS, "More.\n"),
            (f"kb/instructions/review-gates/{ABBREV}.md", "\nX.\n"),
        ):
            (kb / path).write_text((kb / path).read_text(encoding="utf-8") + text, encoding="utf-8")
        commit_all(kb, "later changes")
        gate = kb / f"kb/instructions/review-gates/{TAGS}.md"
        gate.write_text(gate.read_text(encoding="utf-8") + "\nUncommitted.\n", encoding="utf-8")
        return kb


def test_gather_gives_the_pairs_of_a_walk_pair_by_pair(
    reviewed_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMMONPLACE_REVIEW_DB", raising=False)
    data = gather(open_workspace(cwd=reviewed_kb), model="demo")
    table = data.cells
    assert isinstance(table, PairTable)
    cells = walked(reviewed_kb, data.model_id)
    assert list(table) == cells
    assert len(table) == len(cells) and table[0] == cells[0] and list(table[-2:]) == cells[-2:]
    assert {c.state for c in cells} == {
        "fresh",
        "missing-review",
        "note-changed",
        "gate-changed",
        "gate-dirty",
    }
    assert list(table.reviewed()) == [c for c in cells if c.review is not None]
    decisions, states = table.counts()
    assert decisions == Counter(c.decision for c in cells)
    assert states == Counter(c.state for c in cells)
    # rows alike are one object: the notes with nothing reviewed share theirs
    unreviewed = [
        row for note, row in zip(table.notes, table.rows, strict=True) if note not in table.reviews
    ]
    assert len({id(row) for row in unreviewed}) == len(set(unreviewed)) < len(unreviewed)


def synthetic_cells() -> tuple[tuple[str, ...], tuple[str, ...], list[Cell]]:
    notes = ("a.md", "b.md", "c.md", "d.md")
    gates = ("l/x", "l/y", "m/z")
    cells = [
        Cell("b.md", "m/z", "gate-dirty", review("b.md", "m/z", "fail", "## Result: FAIL\n")),
        Cell("a.md", "l/y", "missing-review", None),
        Cell("a.md", "l/x", "fresh", review("a.md", "l/x")),
        Cell("d.md", "l/x", "missing-review", None),
        Cell("d.md", "l/y", "missing-review", None),
        Cell("b.md", "l/x", "a-reason-of-the-future", None),
    ]
    return notes, gates, cells


def test_a_table_of_any_cells_orders_them_by_note_then_gate() -> None:
    notes, gates, cells = synthetic_cells()
    table = PairTable.from_cells(notes, gates, cells)
    ordered = sorted(cells, key=lambda c: (notes.index(c.note_path), gates.index(c.gate_id)))
    assert list(table) == ordered and len(table) == 6
    assert table.rows[2] == (NA, NA, NA)  # c.md: no pair applies
    assert list(table.reviewed()) == [c for c in ordered if c.review is not None]
    assert list(reviewed_cells(cells)) == [c for c in cells if c.review is not None]
    assert table_of(table, notes, gates) is table
    decisions, states = table.counts()
    assert decisions == Counter({"never-reviewed": 4, "pass": 1, "fail": 1})
    assert states == Counter(c.state for c in cells)


def payload(html: str) -> dict[str, object]:
    match = re.search(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', html, re.S)
    assert match is not None
    decoded: dict[str, object] = json.loads(match.group(1))
    return decoded


def test_the_page_from_a_table_is_the_page_from_its_cells() -> None:
    notes, gates, cells = synthetic_cells()
    ordered = sorted(cells, key=lambda c: (notes.index(c.note_path), gates.index(c.gate_id)))

    def data(pairs: object) -> ReportData:
        return ReportData(
            model_id="m-1",
            generated_at="2024-05-01T10:00:00.000Z",
            kb_name="kb",
            notes=notes,
            gates=tuple(GateInfo(g, "") for g in gates),
            cells=pairs,  # type: ignore[arg-type]
            partitions=("m-1",),
            cost=CostSummary(CostLine("total", 0), (), (), (), ()),
        )

    from_table = render_html(data(PairTable.from_cells(notes, gates, cells)))
    assert from_table == render_html(data(tuple(ordered)))
    block = payload(from_table)
    assert block["pairs"] == 6
    rows = block["rows"]
    assert isinstance(rows, list) and rows[2] == "---" and rows[3][2] == "-"
