"""The lifecycle of a review run: the only code that inserts runs, changes
their status, rekeys them (to another partition, or a note's new path), or
appends `full-review` or `manual-override` acceptance (SPEC 6). One module per job: `create`,
`record`, `finalize`, `fail` (and reap), `leases`, `rekey` (partitions,
paths, repair); `types` holds the records they share. Their SQL is the store
layer's."""

from __future__ import annotations

from commonplace.lifecycle.create import boundary_tokens, create_batch
from commonplace.lifecycle.fail import StaleRun, fail_run, reap_runs, reap_stale_runs
from commonplace.lifecycle.finalize import finalize_runs, record_and_finalize_run
from commonplace.lifecycle.leases import lease_end, renew_leases
from commonplace.lifecycle.override import MANUAL_OVERRIDE, append_manual_override
from commonplace.lifecycle.record import attach_execution_data, record_gate_review, record_prompt
from commonplace.lifecycle.rekey import note_history, note_run_ids, relocate_history, repair_run
from commonplace.lifecycle.types import (
    ABANDONED,
    AllClaimed,
    CreatedBatch,
    CreatedRun,
    ExecutionData,
    MovedHistory,
    Packing,
    PendingReview,
    RecordedReview,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
    Settlement,
)

__all__ = [
    "ABANDONED",
    "MANUAL_OVERRIDE",
    "AllClaimed",
    "CreatedBatch",
    "CreatedRun",
    "ExecutionData",
    "MovedHistory",
    "Packing",
    "PendingReview",
    "RecordedReview",
    "RunNotFinalizable",
    "RunOutcome",
    "RunStatus",
    "Settlement",
    "StaleRun",
    "append_manual_override",
    "attach_execution_data",
    "boundary_tokens",
    "create_batch",
    "fail_run",
    "finalize_runs",
    "lease_end",
    "note_history",
    "note_run_ids",
    "reap_runs",
    "reap_stale_runs",
    "record_and_finalize_run",
    "record_gate_review",
    "record_prompt",
    "relocate_history",
    "renew_leases",
    "repair_run",
]
