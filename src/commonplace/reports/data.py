"""What every report shows (SPEC 12), gathered once: for one partition, each
applicable (note, gate) pair with its current decision, its staleness and the
review behind it; and the cost summary of the whole store.

The decision of a pair is that of the review its current acceptance rests on
(for a trivial-change ack, the full review it carried forward); staleness is
the selector's, so a report and `review-target-selector` never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from commonplace.errors import UserError
from commonplace.kb.files import KbFile
from commonplace.reports.cost import CostSummary, cost_summary
from commonplace.reports.links import Links
from commonplace.reports.pairs import FRESH as FRESH  # re-exported: the reports use it here
from commonplace.reports.pairs import NEVER as NEVER
from commonplace.reports.pairs import Cell as Cell
from commonplace.services.agreement import GateQuality, gate_quality
from commonplace.services.current import CurrentReview, current_reviews
from commonplace.store.acceptances import partitions_by_current
from commonplace.store.connection import Store

if TYPE_CHECKING:
    from commonplace.reports.gate_health import Calibration
    from commonplace.services.changes import ChangedScope
    from commonplace.services.labels import LabelDisagreement
    from commonplace.workspace import Workspace


@dataclass(frozen=True)
class GateInfo:
    gate_id: str
    description: str

    @property
    def lens(self) -> str:
        return self.gate_id.rsplit("/", 1)[0]


@dataclass(frozen=True)
class ReportData:
    model_id: str
    generated_at: str
    kb_name: str
    notes: tuple[str, ...]
    gates: tuple[GateInfo, ...]
    cells: Sequence[Cell]
    """Applicable pairs, sorted by note then gate (from `gather`, a
    `reports.pairs.PairTable`)."""
    partitions: tuple[str, ...]
    """Every partition with a current acceptance, for reference."""
    cost: CostSummary
    note_files: Mapping[str, KbFile] = field(default_factory=dict, repr=False)
    """The notes as read for the report, for locating quoted findings."""
    repo_prefix: str = ""
    """The KB's folder within its git repository (for repository-relative paths)."""
    gate_files: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Each gate's file, KB-relative, for links."""
    links: Links = field(default_factory=Links)
    """How links reach the KB's files (default: as if the report sat at the KB root)."""
    gate_quality: GateQuality = field(default_factory=GateQuality)
    """Firing rates and agreement between partitions, of the report's notes and gates."""
    calibration: tuple[Calibration, ...] = ()
    """Calibration figures per gate and partition, when the caller has them."""
    label_disagreements: tuple[LabelDisagreement, ...] = ()
    """Pairs where a person's label and a model disagree, when the caller has them."""


def gather(
    ws: Workspace,
    *,
    model: str | None,
    effort: str | None = None,
    note_refs: tuple[str, ...] = (),
    changed: ChangedScope | None = None,
) -> ReportData:
    """The report of one partition: `--model`/`--effort`, else `[defaults]`,
    else the partition with the most current acceptances."""
    from commonplace.clock import utc_now
    from commonplace.kb.notes import NoteFacts, note_facts
    from commonplace.reports import gate_health
    from commonplace.reports.pairs import NA, PairTable, Row
    from commonplace.services.selector import (
        scope_gates,
        scope_notes,
        select_stale,
    )

    model_id = _model_id(ws, model, effort)
    git = ws.git_state()
    gates = scope_gates(ws, ())  # every gate: catalog, type and collection
    notes = scope_notes(ws, git, note_refs, False)
    if changed is not None:  # only what a pull request touched
        notes = changed.keep(notes)
    by_id = sorted(gates, key=lambda g: g.id)
    column = {g.id: i for i, g in enumerate(by_id)}
    reviews: dict[str, dict[int, CurrentReview]] = {}
    for review in current_reviews(ws.store, model_id=model_id):
        at = column.get(review.gate_id)
        if at is not None:
            reviews.setdefault(review.note_path, {})[at] = review
    stale = {
        entry.note_path: entry.gates
        for entry in select_stale(ws.store, git, notes=notes, gates=gates, model_id=model_id)
    }
    codes = {FRESH: 0}  # state -> its code in the rows
    # Rows are shared: one per set of applicable gates (the note's facts),
    # and per such set and stale list (the selector shares its lists too).
    applicable: dict[NoteFacts, Row] = {}
    marked: dict[tuple[int, int], Row] = {}
    alike: dict[Row, Row] = {}  # rows equal in content are one object
    rows: list[Row] = []
    for note in notes:
        facts = note_facts(note)
        row = applicable.get(facts)
        if row is None:
            row = tuple(0 if g.applies_to(facts) else NA for g in by_id)
            row = applicable[facts] = alike.setdefault(row, row)
        stale_gates = stale.get(note.key)
        if stale_gates:  # the selector lists every pair not fresh
            key = (id(row), id(stale_gates))
            found = marked.get(key)
            if found is None:
                changed_row = list(row)
                for gate in stale_gates:
                    at = column.get(gate.gate_id)
                    if at is not None and changed_row[at] != NA:
                        changed_row[at] = codes.setdefault(gate.reason.value, len(codes))
                new_row = tuple(changed_row)
                found = marked[key] = alike.setdefault(new_row, new_row)
            row = found
        rows.append(row)
    note_keys = tuple(n.key for n in notes)
    cells = PairTable(note_keys, [g.id for g in by_id], list(codes), rows, reviews)
    return ReportData(
        model_id=model_id,
        generated_at=utc_now(),
        kb_name=ws.config.kb_root.name,
        notes=note_keys,
        gates=tuple(GateInfo(g.id, g.description) for g in by_id),
        cells=cells,
        partitions=_partitions(ws.store),
        cost=cost_summary(ws.store),
        note_files={n.key: n for n in notes},
        repo_prefix=git.prefix,
        gate_files={g.id: g.key for g in by_id},
        gate_quality=gate_quality(ws.store, note_paths=note_keys, gate_ids=column),
        calibration=gate_health.calibration_rows(ws, model_id),
        label_disagreements=gate_health.label_rows(ws, model_id),
    )


def _model_id(ws: Workspace, model: str | None, effort: str | None) -> str:
    model = model or ws.config.defaults.model
    effort = effort or ws.config.defaults.effort
    if model:
        return ws.partition(model, effort).model_id
    partitions = _partitions(ws.store)
    if not partitions:
        raise UserError(
            "the review store has no accepted reviews yet; name a partition with --model"
        )
    return partitions[0]


def _partitions(store: Store) -> tuple[str, ...]:
    """Partitions by number of current acceptances, most first."""
    with store.read() as conn:
        return partitions_by_current(conn)


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
