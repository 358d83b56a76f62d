"""What to fix first (plain data): the notes with failing or warning pairs,
most failures first, and the gates by how often they fail.

Notes are ordered by fail count, then warn count, then path; gates by fail
rate (fails over reviewed pairs), then warn rate, then id. Only the first
`limit` of each are kept, with how many more there are, so that a report of
a large KB stays small. A stale pair counts with the decision of its last
accepted review, as everywhere in the reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from commonplace.protocol.decisions import Finding
from commonplace.reports.data import Cell, ReportData
from commonplace.reports.pairs import reviewed_cells

NOTE_LIMIT = 50
GATE_LIMIT = 50
TO_FIX = ("fail", "warn")


@dataclass(frozen=True)
class FixItem:
    """One failing or warning pair of a note."""

    gate_id: str
    decision: str
    state: str
    findings: tuple[Finding, ...]
    rationale: str
    suggested_revision: str | None


@dataclass(frozen=True)
class NoteToFix:
    note_path: str
    fails: int
    warns: int
    items: tuple[FixItem, ...]
    """Its failing pairs, then its warning ones, each by gate id."""


@dataclass(frozen=True)
class GateToFix:
    gate_id: str
    reviewed: int
    """Pairs of the gate with an accepted review."""
    fails: int
    warns: int

    @property
    def fail_rate(self) -> float:
        return self.fails / self.reviewed if self.reviewed else 0.0

    @property
    def warn_rate(self) -> float:
        return self.warns / self.reviewed if self.reviewed else 0.0


@dataclass(frozen=True)
class FixFirst:
    notes: tuple[NoteToFix, ...]
    more_notes: int
    """Notes to fix beyond the first `limit`."""
    gates: tuple[GateToFix, ...]
    more_gates: int

    def as_dict(self) -> dict[str, object]:
        return {
            "notes": [
                {
                    "note_path": n.note_path,
                    "fails": n.fails,
                    "warns": n.warns,
                    "items": [
                        {
                            "gate_id": i.gate_id,
                            "decision": i.decision,
                            "state": i.state,
                            "findings": [
                                {"severity": f.severity, "text": f.text} for f in i.findings
                            ],
                            "suggested_revision": i.suggested_revision,
                        }
                        for i in n.items
                    ],
                }
                for n in self.notes
            ],
            "more_notes": self.more_notes,
            "gates": [
                {
                    "gate_id": g.gate_id,
                    "reviewed": g.reviewed,
                    "fails": g.fails,
                    "warns": g.warns,
                    "fail_rate": round(g.fail_rate, 4),
                    "warn_rate": round(g.warn_rate, 4),
                }
                for g in self.gates
            ],
            "more_gates": self.more_gates,
        }


def fix_first(
    data: ReportData, *, note_limit: int = NOTE_LIMIT, gate_limit: int = GATE_LIMIT
) -> FixFirst:
    by_note: dict[str, list[Cell]] = defaultdict(list)
    reviewed: dict[str, int] = defaultdict(int)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"fail": 0, "warn": 0})
    for cell in reviewed_cells(data.cells):
        reviewed[cell.gate_id] += 1
        if cell.decision in TO_FIX:
            by_note[cell.note_path].append(cell)
            counts[cell.gate_id][cell.decision] += 1

    def tally(cells: list[Cell]) -> tuple[int, int]:
        fails = sum(c.decision == "fail" for c in cells)
        return fails, len(cells) - fails

    ranked = sorted(by_note.items(), key=lambda kv: (*(-n for n in tally(kv[1])), kv[0]))
    notes = tuple(
        NoteToFix(path, *tally(cells), _items(cells)) for path, cells in ranked[:note_limit]
    )
    gates = sorted(
        (GateToFix(g, reviewed[g], c["fail"], c["warn"]) for g, c in counts.items()),
        key=lambda g: (-g.fail_rate, -g.warn_rate, g.gate_id),
    )
    return FixFirst(
        notes=notes,
        more_notes=max(0, len(ranked) - note_limit),
        gates=tuple(gates[:gate_limit]),
        more_gates=max(0, len(gates) - gate_limit),
    )


def _items(cells: list[Cell]) -> tuple[FixItem, ...]:
    ordered = sorted(cells, key=lambda c: (TO_FIX.index(c.decision), c.gate_id))
    items = []
    for cell in ordered:
        review = cell.review
        assert review is not None
        items.append(
            FixItem(
                gate_id=cell.gate_id,
                decision=cell.decision,
                state=cell.state,
                findings=review.findings,
                rationale=review.rationale_markdown,
                suggested_revision=review.suggested_revision,
            )
        )
    return tuple(items)
