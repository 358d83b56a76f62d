"""A report's applicable pairs, held compactly: per note one row of state
codes (one per gate), and the reviews by note and gate.

A 10,000 x 40 KB has 400,000 pairs but few distinct rows: the notes with
nothing reviewed share one row per set of applicable gates and stale
reasons, so gathering, counting and encoding cost about one step per note,
not one object per pair. As a sequence the table still yields `Cell`s, in
order of note then gate, for the formats that walk every pair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

from commonplace.services.current import CurrentReview

FRESH = "fresh"
NEVER = "never-reviewed"  # the decision of a pair no review was ever accepted for


@dataclass(frozen=True)
class Cell:
    """One applicable pair of the partition."""

    note_path: str
    gate_id: str
    state: str
    """`fresh`, or why the pair is stale (the selector's reasons)."""

    @property
    def is_stale(self) -> bool:
        return self.state != FRESH

    review: CurrentReview | None
    """The review the current acceptance rests on; None when never reviewed."""

    @property
    def lens(self) -> str:
        return self.gate_id.rsplit("/", 1)[0]

    @property
    def decision(self) -> str:
        return self.review.decision if self.review is not None else NEVER


NA = -1
"""The code of a gate that does not apply to the note."""

Row = tuple[int, ...]
_T = TypeVar("_T")


class PairTable(Sequence[Cell]):
    """`rows[i][j]` is the code (index into `states`) of note `notes[i]` and
    gate `gate_ids[j]`, or `NA`. Rows may be shared between notes; never
    mutate one."""

    def __init__(
        self,
        notes: Sequence[str],
        gate_ids: Sequence[str],
        states: Sequence[str],
        rows: Sequence[Row],
        reviews: Mapping[str, Mapping[int, CurrentReview]],
    ) -> None:
        self.notes = tuple(notes)
        self.gate_ids = tuple(gate_ids)
        self.states = tuple(states)
        self.rows = tuple(rows)
        self.reviews = reviews
        """Note -> gate index -> the review behind the pair."""
        applicable: dict[int, int] = {}
        self._len = sum(_memo(applicable, row, lambda r: len(r) - r.count(NA)) for row in self.rows)
        self._cells: tuple[Cell, ...] | None = None

    @classmethod
    def from_cells(
        cls, notes: Sequence[str], gate_ids: Sequence[str], cells: Iterable[Cell]
    ) -> PairTable:
        """The table of any cells of these notes and gates (as tests build them)."""
        gate_index = {g: i for i, g in enumerate(gate_ids)}
        states: dict[str, int] = {}
        rows: dict[str, list[int]] = {}
        reviews: dict[str, dict[int, CurrentReview]] = {}
        for cell in cells:
            column = gate_index[cell.gate_id]
            row = rows.setdefault(cell.note_path, [NA] * len(gate_ids))
            row[column] = states.setdefault(cell.state, len(states))
            if cell.review is not None:
                reviews.setdefault(cell.note_path, {})[column] = cell.review
        empty = (NA,) * len(gate_ids)
        return cls(
            notes,
            gate_ids,
            list(states),
            [tuple(rows[n]) if n in rows else empty for n in notes],
            reviews,
        )

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Cell]:
        gate_ids, states = self.gate_ids, self.states
        for note, row in zip(self.notes, self.rows, strict=True):
            reviews = self.reviews.get(note, {})
            for column, code in enumerate(row):
                if code != NA:
                    yield Cell(note, gate_ids[column], states[code], reviews.get(column))

    @overload
    def __getitem__(self, index: int) -> Cell: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Cell]: ...

    def __getitem__(self, index: int | slice) -> Cell | Sequence[Cell]:
        if self._cells is None:  # rare: the reports walk the table in order
            self._cells = tuple(self)
        return self._cells[index]

    def reviewed(self) -> Iterator[Cell]:
        """The cells with a review, in order, without visiting the others."""
        for note, row in zip(self.notes, self.rows, strict=True):
            reviews = self.reviews.get(note)
            if reviews:
                for column in sorted(reviews):
                    if row[column] != NA:
                        yield Cell(
                            note, self.gate_ids[column], self.states[row[column]], reviews[column]
                        )

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        """The pairs by decision and by state, in one pass over the rows."""
        decisions: Counter[str] = Counter()
        states: Counter[str] = Counter()
        unreviewed: dict[int, Counter[int]] = {}
        for note, row in zip(self.notes, self.rows, strict=True):
            reviews = self.reviews.get(note)
            if not reviews:
                # shared rows are counted once, then added
                codes = _memo(unreviewed, row, lambda r: Counter(c for c in r if c != NA))
                decisions[NEVER] += codes.total()
                states.update({self.states[c]: n for c, n in codes.items()})
                continue
            for column, code in enumerate(row):
                if code != NA:
                    review = reviews.get(column)
                    decisions[review.decision if review is not None else NEVER] += 1
                    states[self.states[code]] += 1
        return +decisions, +states


def table_of(cells: Sequence[Cell], notes: Sequence[str], gate_ids: Sequence[str]) -> PairTable:
    """`cells` as a table (itself when it is one)."""
    if isinstance(cells, PairTable):
        return cells
    return PairTable.from_cells(notes, gate_ids, cells)


def reviewed_cells(cells: Sequence[Cell]) -> Iterator[Cell]:
    """The cells with a review, in order (of a table, without visiting the others)."""
    if isinstance(cells, PairTable):
        return cells.reviewed()
    return (c for c in cells if c.review is not None)


def _memo(memo: dict[int, _T], row: Row, make: Callable[[Row], _T]) -> _T:
    """`make(row)`, once per row object (rows are shared, and outlive the memo)."""
    found = memo.get(id(row))
    if found is None:
        found = memo[id(row)] = make(row)
    return found
