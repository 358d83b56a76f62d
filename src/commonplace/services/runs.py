"""Single runs: create one (for the split path, or with a prompt for a live
agent), write one gate review at a time, finalize. Each function is what one
command does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commonplace import lifecycle
from commonplace.errors import UserError
from commonplace.kb.paths import canonical_ref
from commonplace.lifecycle import (
    CreatedBatch,
    Packing,
    RecordedReview,
    RunOutcome,
    RunStatus,
)
from commonplace.lifecycle.targets import plan_note, unusable_as_skipped
from commonplace.protocol.grammar import run_document
from commonplace.safe_files import LinkRefused
from commonplace.services import artifacts
from commonplace.services.batch import PreparedBatch, publish_prompt
from commonplace.store import batches, reviews
from commonplace.workspace import Workspace


@dataclass(frozen=True)
class CreatedReviewRun:
    batch: CreatedBatch
    prompt: PreparedBatch | None = None  # with --with-prompt


def create_review_run(
    ws: Workspace,
    *,
    note: str,
    gate_refs: Sequence[str],
    runner: str,
    model: str,
    effort: str | None = None,
    with_prompt: bool = False,
) -> CreatedReviewRun:
    """One run for one note over the applicable gates named (gate ids or
    lenses); with `with_prompt`, also the live agent's prompt."""
    partition = ws.partition(model, effort)
    plan = plan_note(
        ws.config,
        ws.git_state(),
        note,
        gate_refs,
        cwd=ws.cwd,
        purpose="a review run covers one note",
        skip_unusable=True,
    )
    plan = unusable_as_skipped(plan)  # a lens's unusable gates, reported under skipped
    if with_prompt:
        artifacts.refuse_links(ws.config)  # before the store changes
    created = lifecycle.create_batch(
        ws.store, plan, packing=Packing.NOTE, runner=runner, partition=partition
    )
    if not with_prompt:
        return CreatedReviewRun(created)
    return CreatedReviewRun(created, publish_prompt(ws, plan, created))


def write_gate_review(ws: Workspace, *, review_run_id: int, gate: str, text: str) -> RecordedReview:
    token = _token_of(ws, review_run_id)
    if token is not None and token in text:
        # the run's document puts this text between sentinels with the token:
        # a line of it could then close or open a block
        raise UserError(
            "the gate review contains the batch's boundary token; a review text cannot"
            " hold pair sentinels; nothing written"
        )
    return lifecycle.record_gate_review(ws.store, review_run_id, canonical_ref(gate) or gate, text)


def _token_of(ws: Workspace, review_run_id: int) -> str | None:
    if not ws.store.exists:
        return None  # the lifecycle reports the missing store and run
    with ws.store.read() as conn:
        run = batches.run_boundary_token(conn, review_run_id)
    return run[1] if run else None


def finalize_review_run(ws: Workspace, *, review_run_id: int) -> RunOutcome:
    """Complete a split-path run. Its canonical document is built from the
    gate reviews written, as every other path builds it from the output, so
    the run's row and files are the same whichever path produced them."""
    note_path, texts, token = _written_reviews(ws, review_run_id)
    document = run_document(review_run_id, note_path, texts, token=token) if texts else None
    artifacts.refuse_links(ws.config, run_ids=[review_run_id])
    outcome = lifecycle.record_and_finalize_run(ws.store, review_run_id, bundle_markdown=document)
    if outcome.status is RunStatus.COMPLETED and document is not None:
        # the store has the document; the files are a convenience
        try:
            artifacts.write_run_files(ws.config, review_run_id, document, texts)
        except LinkRefused:
            raise
        except (OSError, UserError):
            pass
    return outcome


def _written_reviews(
    ws: Workspace, review_run_id: int
) -> tuple[str, list[tuple[str, str]], str | None]:
    """The run's note, its gate reviews in gate order, and its batch's token."""
    with ws.store.read() as conn:
        run = batches.run_boundary_token(conn, review_run_id)
        texts = reviews.review_texts(conn, review_run_id)
    return (run[0] if run else ""), texts, (run[1] if run else None)
