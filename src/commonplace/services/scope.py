"""The runs an ingest is about: loaded from the store by batch or by id,
each with its pairs and how it stood when read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from commonplace.errors import UserError
from commonplace.lifecycle import RunStatus
from commonplace.protocol.grammar import Pair
from commonplace.store.connection import Store
from commonplace.store.runs import RunGateRow, run_gate_rows


class ScopedRun(NamedTuple):
    """A run as ingest sees it: its pairs and how it stood when read."""

    review_run_id: int
    batch_id: int
    note_path: str
    gate_ids: tuple[str, ...]
    status: RunStatus
    model_id: str
    failure_reason: str | None

    @property
    def pairs(self) -> list[Pair]:
        return [Pair(self.note_path, g) for g in self.gate_ids]


def load_batch(store: Store, batch_id: int) -> list[ScopedRun]:
    runs = _load(store, batch_ids=[batch_id])
    if not runs:
        raise UserError(f"review batch {batch_id} not found")
    return runs


def runs_by_id(store: Store, review_run_ids: Sequence[int]) -> dict[int, ScopedRun]:
    """The runs of these ids that exist, without `load_runs`' checks."""
    ids = list(dict.fromkeys(review_run_ids))
    if not ids:
        return {}
    return {r.review_run_id: r for r in _load(store, run_ids=ids)}


def load_runs(store: Store, review_run_ids: Sequence[int]) -> list[ScopedRun]:
    """The runs named, in the order named; each must exist, and no two may
    review the same note (blocks are keyed by note)."""
    ids = list(dict.fromkeys(review_run_ids))
    found = {r.review_run_id: r for r in _load(store, run_ids=ids)}
    absent = [str(i) for i in ids if i not in found]
    if absent:
        raise UserError(f"review run {', '.join(absent)} not found")
    runs = [found[i] for i in ids]
    by_note: dict[str, int] = {}
    for run in runs:
        other = by_note.setdefault(run.note_path, run.review_run_id)
        if other != run.review_run_id:
            raise UserError(
                f"review runs {other} and {run.review_run_id} both review {run.note_path};"
                " blocks are keyed by note, so ingest them separately"
            )
    return runs


def _load(
    store: Store, *, run_ids: Sequence[int] = (), batch_ids: Sequence[int] = ()
) -> list[ScopedRun]:
    with store.read() as conn:
        rows = run_gate_rows(conn, run_ids=run_ids, batch_ids=batch_ids)
    by_run: dict[int, list[RunGateRow]] = {}
    for row in rows:
        by_run.setdefault(row.id, []).append(row)
    return [_scoped(run_rows) for run_rows in by_run.values()]


def _scoped(rows: Sequence[RunGateRow]) -> ScopedRun:
    first = rows[0]
    return ScopedRun(
        review_run_id=first.id,
        batch_id=first.batch_id,
        note_path=first.note_path,
        gate_ids=tuple(row.gate_id for row in rows),
        status=RunStatus(first.status),
        model_id=first.model_id,
        failure_reason=first.failure_reason,
    )


def batch_mates(store: Store, scope: Sequence[ScopedRun]) -> set[Pair]:
    """Pairs of the scope's batches that belong to runs outside the scope."""
    ids = batch_ids(scope)
    inside = {r.review_run_id for r in scope}
    return {
        pair
        for run in _load(store, batch_ids=ids)
        if run.review_run_id not in inside
        for pair in run.pairs
    }


def batch_ids(scope: Iterable[ScopedRun]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(r.batch_id for r in scope))
