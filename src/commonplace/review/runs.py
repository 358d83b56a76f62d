"""The split gate-by-gate path and single runs: create a run, write one gate
review at a time, finalize. Each function is what one command does."""

from __future__ import annotations

from collections.abc import Sequence

from commonplace.errors import UserError
from commonplace.kb.gates import resolve_gate_ids
from commonplace.kb.notes import resolve_notes
from commonplace.kb.paths import canonical_ref
from commonplace.review import lifecycle
from commonplace.review.lifecycle import CreatedBatch, Packing, RecordedReview, RunOutcome
from commonplace.review.partitions import Partition, resolve_partition
from commonplace.review.targets import plan_runs
from commonplace.workspace import Workspace


def partition_for(ws: Workspace, model: str, effort: str | None) -> Partition:
    return resolve_partition(model, effort, aliases=ws.config.model_aliases, store=ws.store)


def create_review_run(
    ws: Workspace,
    *,
    note: str,
    gate_refs: Sequence[str],
    runner: str,
    model: str,
    effort: str | None = None,
) -> CreatedBatch:
    """One run for one note over the applicable gates named (gate ids or lenses)."""
    partition = partition_for(ws, model, effort)
    git = ws.git_state()
    files = resolve_notes(ws.config, git, [note], cwd=ws.cwd)
    if len(files) != 1:
        raise UserError(f"{note} names {len(files)} notes; a review run covers one note")
    gate_ids = resolve_gate_ids(ws.config, gate_refs, cwd=ws.cwd)
    plan = plan_runs(ws.config, git, [(files[0], gate_ids)])
    return lifecycle.create_batch(
        ws.store, plan, packing=Packing.NOTE, runner=runner, partition=partition
    )


def write_gate_review(ws: Workspace, *, review_run_id: int, gate: str, text: str) -> RecordedReview:
    return lifecycle.record_gate_review(ws.store, review_run_id, canonical_ref(gate) or gate, text)


def finalize_review_run(ws: Workspace, *, review_run_id: int) -> RunOutcome:
    return lifecycle.record_and_finalize_run(ws.store, review_run_id)
