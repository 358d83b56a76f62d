"""The records and errors the lifecycle's jobs share, and its clock.

The records are NamedTuples rather than frozen dataclasses: every command
that opens the store imports them, and making a frozen dataclass costs about
half a millisecond at import, a NamedTuple a tenth of that."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from commonplace.errors import UserError
from commonplace.protocol.decisions import (
    Decision,
    Finding,
    canonical_rationale,
    parse_decision,
    parse_findings,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # only annotations; ingesting needs none of the KB machinery
    from commonplace.lifecycle.targets import SkippedPair

ABANDONED = "abandoned"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Packing(StrEnum):
    NOTE = "note"
    GATE = "gate"
    EXPLICIT = "explicit"


class RunNotFinalizable(UserError):
    """The run does not exist or is already final; nothing was changed."""


class AllClaimed(Exception):
    """Every pair of a claiming batch is under review elsewhere, or was just
    reviewed; nothing was created."""

    def __init__(self, skipped: tuple[SkippedPair, ...]) -> None:
        super().__init__(f"{len(skipped)} pair(s) claimed elsewhere")
        self.skipped = skipped


class CreatedRun(NamedTuple):
    review_run_id: int
    note_path: str
    model_id: str
    gate_ids: tuple[str, ...]


class CreatedBatch(NamedTuple):
    batch_id: int
    runner: str
    model_id: str
    runs: tuple[CreatedRun, ...]
    skipped: tuple[SkippedPair, ...]
    boundary_token: str  # every sentinel of the batch's output carries it
    claimed: tuple[SkippedPair, ...] = ()  # left out: another process has them


class PendingReview(NamedTuple):
    """A parsed gate review waiting to be recorded."""

    gate_id: str
    decision: Decision
    rationale_markdown: str
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_text(cls, gate_id: str, text: str, decision: Decision | None = None) -> PendingReview:
        chosen = decision or parse_decision(text)
        return cls(gate_id, chosen, canonical_rationale(text, chosen), parse_findings(text))


class Settlement(NamedTuple):
    """What an ingest brings one running run: its reviews and canonical
    document to finalize it with, or, with `failure`, the reason it fails
    (pairs missing from the output), keeping the document of those that came."""

    review_run_id: int
    reviews: tuple[PendingReview, ...] = ()
    bundle_markdown: str | None = None
    failure: str | None = None


class ExecutionData(NamedTuple):
    """What execution left behind; every field optional. `raw_output` is the
    executor's whole output and is kept on the batch, once."""

    telemetry: Mapping[str, Any] | None = None
    debug_log: str | None = None
    raw_output: str | None = None


class RecordedReview(NamedTuple):
    review_run_id: int
    gate_id: str
    gate_review_id: int
    decision: Decision


class RunOutcome(NamedTuple):
    review_run_id: int
    status: RunStatus
    model_id: str
    reason: str | None = None
    rekeyed_from: str | None = None
    accepted_gate_ids: tuple[str, ...] = ()

    @property
    def accepted(self) -> int:
        """How many pairs this outcome made fresh."""
        return len(self.accepted_gate_ids)


class MovedHistory(NamedTuple):
    """What a relocation moved: row counts, and each run's rewritten document."""

    review_runs: int
    gate_reviews: int
    acceptance_events: int
    documents: tuple[tuple[int, str], ...] = ()


class Refused(Exception):
    """Finalization found the run's reviews unacceptable; the run must fail."""
