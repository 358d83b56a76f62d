"""The lifecycle of a review run: the only code that inserts runs, changes
their status, rekeys them (to another partition, or a note's new path), or
appends `full-review` or `manual-override` acceptance (SPEC 6). One module per job: `create`,
`record`, `finalize`, `fail` (and reap), `leases`, `rekey` (partitions,
paths, repair); `types` holds the records they share. Their SQL is the store
layer's.

The names are imported when first used: a command that only resolves a
partition (the selector, reports) does not load the writers."""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.lifecycle.create import boundary_tokens, create_batch
    from commonplace.lifecycle.fail import StaleRun, fail_run, reap_runs, reap_stale_runs
    from commonplace.lifecycle.finalize import finalize_runs, record_and_finalize_run
    from commonplace.lifecycle.leases import lease_end, renew_leases
    from commonplace.lifecycle.override import MANUAL_OVERRIDE, append_manual_override
    from commonplace.lifecycle.record import (
        attach_execution_data,
        record_gate_review,
        record_prompt,
    )
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

# Where each name lives.
_HOMES = {
    "boundary_tokens": "create",
    "create_batch": "create",
    "StaleRun": "fail",
    "fail_run": "fail",
    "reap_runs": "fail",
    "reap_stale_runs": "fail",
    "finalize_runs": "finalize",
    "record_and_finalize_run": "finalize",
    "lease_end": "leases",
    "renew_leases": "leases",
    "MANUAL_OVERRIDE": "override",
    "append_manual_override": "override",
    "attach_execution_data": "record",
    "record_gate_review": "record",
    "record_prompt": "record",
    "note_history": "rekey",
    "note_run_ids": "rekey",
    "relocate_history": "rekey",
    "repair_run": "rekey",
    "ABANDONED": "types",
    "AllClaimed": "types",
    "CreatedBatch": "types",
    "CreatedRun": "types",
    "ExecutionData": "types",
    "MovedHistory": "types",
    "Packing": "types",
    "PendingReview": "types",
    "RecordedReview": "types",
    "RunNotFinalizable": "types",
    "RunOutcome": "types",
    "RunStatus": "types",
    "Settlement": "types",
}

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


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once, then an attribute like any other
    return value
