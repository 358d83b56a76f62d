"""Turning a reviewer's output into finished runs, with the salvage policy
(SPEC 7): a malformed output fails every run in scope; otherwise each run
whose pairs all arrived is finalized and each run missing pairs fails alone.

Every medium that produces an output document ends here: a live agent's file
(`ingest-bundle-output`), an orchestrator's batch output
(`ingest-batch-output`) and, through `finalize_from_output`, the executor.
Ingest is repeatable: runs already final are reported and left unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NamedTuple

from commonplace import lifecycle
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.lifecycle import (
    ExecutionData,
    PendingReview,
    RunNotFinalizable,
    RunOutcome,
    RunStatus,
    Settlement,
)
from commonplace.protocol.grammar import Pair, run_document
from commonplace.protocol.parser import MalformedOutput, decode_output, parse_output
from commonplace.redaction import redact
from commonplace.services import artifacts
from commonplace.services.scope import ScopedRun, batch_ids, batch_mates, load_batch, load_runs
from commonplace.store.connection import Store
from commonplace.store.reviews import review_texts
from commonplace.store.reviews import unknown_decisions as unknown_rows
from commonplace.store.runs import stored_document
from commonplace.workspace import Workspace

# Runs settled in one store transaction (see `lifecycle.finalize_runs`): one
# ingest of a usual batch is one transaction, and a huge one holds the store's
# write lock for some tens of milliseconds at a time, not for all of it.
RUNS_PER_TRANSACTION = 50


class IngestReport(NamedTuple):
    """Where every run in scope stands after ingesting. `outcomes` are the
    runs this ingest finished; `already_final` were final before it."""

    batch_ids: tuple[int, ...]
    outcomes: tuple[RunOutcome, ...]
    already_final: tuple[ScopedRun, ...]
    warnings: tuple[str, ...] = ()  # artifacts not written, result lines not read
    # Pairs of completed runs whose result line could not be read: stored as
    # `unknown`, never accepted, so they stay stale; said loudly, not silently.
    unknown: tuple[tuple[int, Pair], ...] = ()

    @property
    def completed(self) -> list[int]:
        done = [o.review_run_id for o in self.outcomes if o.status is RunStatus.COMPLETED]
        done += [r.review_run_id for r in self.already_final if r.status is RunStatus.COMPLETED]
        return sorted(done)

    @property
    def failed(self) -> list[tuple[int, str]]:
        failed = [
            (o.review_run_id, o.reason or "") for o in self.outcomes if o.status is RunStatus.FAILED
        ]
        failed += [
            (r.review_run_id, r.failure_reason or "")
            for r in self.already_final
            if r.status is RunStatus.FAILED
        ]
        return sorted(failed)


def ingest_batch_output(
    ws: Workspace,
    data: bytes,
    *,
    batch_id: int | None = None,
    review_run_ids: Sequence[int] = (),
) -> IngestReport:
    """Ingest an external executor's output for a whole batch, or for some of
    its runs (their batch-mates' blocks are then checked and left alone)."""
    if (batch_id is None) == (not review_run_ids):
        raise UserError("name either a batch or review runs to ingest the output for")
    if batch_id is not None:
        return finalize_from_output(ws.config, ws.store, load_batch(ws.store, batch_id), data)
    scope = load_runs(ws.store, review_run_ids)
    return finalize_from_output(
        ws.config, ws.store, scope, data, ignored=batch_mates(ws.store, scope)
    )


def ingest_bundle_output(ws: Workspace, review_run_id: int, data: bytes) -> IngestReport:
    """A live agent's output for one run, all or nothing: the run completes
    only if every one of its pairs arrived well-formed. A run that is already
    final is refused and left unchanged. The report has the run's outcome."""
    (run,) = load_runs(ws.store, [review_run_id])
    if run.status is not RunStatus.RUNNING:
        raise RunNotFinalizable(
            f"cannot ingest into review run {review_run_id}: it is already {run.status};"
            " nothing changed"
        )
    report = finalize_from_output(
        ws.config, ws.store, [run], data, ignored=batch_mates(ws.store, [run])
    )
    if report.outcomes:
        return report
    raise RunNotFinalizable(f"review run {review_run_id} was finalized by another process")


def finalize_from_output(
    config: Config,
    store: Store,
    scope: Sequence[ScopedRun],
    data: bytes | str,
    *,
    execution: ExecutionData | None = None,
    ignored: Collection[Pair] = (),
) -> IngestReport:
    """Parse `data` for the runs in scope and finish every one still running;
    blocks for `ignored` pairs (batch-mates outside the scope) are left alone.
    Up to `RUNS_PER_TRANSACTION` runs are settled per transaction, so a
    crash part-way leaves each run either finished or still running, and
    ingesting again finishes the rest."""
    running = [r for r in scope if r.status is RunStatus.RUNNING]
    # refused before the store changes, rather than after the runs completed
    artifacts.refuse_links(
        config,
        batch_ids=list(dict.fromkeys(r.batch_id for r in running)),
        run_ids=[r.review_run_id for r in scope],
    )
    try:
        text = data if isinstance(data, str) else decode_output(data)
        if running:
            _keep_output(config, store, running, text)
        bodies, untokened = parse_scope(store, scope, text, ignored=ignored)
    except MalformedOutput as anomaly:
        return fail_runs(store, scope, f"malformed output: {anomaly.message}", execution)
    hint = None
    if not bodies and untokened:  # a reviewer that dropped or garbled the token
        hint = f"no sentinel line carries the batch's boundary token ({untokened} without it)"
    return settle_runs(config, store, scope, bodies, execution=execution, incomplete_reason=hint)


def parse_scope(
    store: Store, scope: Sequence[ScopedRun], text: str, *, ignored: Collection[Pair] = ()
) -> tuple[dict[Pair, str], int]:
    """The blocks of the scope's pairs, each batch's read in that batch's
    grammar: only sentinels with its own boundary token count (pairs-v2), or
    the v1 grammar for a batch prepared before tokens. Another batch's blocks
    are plain text to it. Also how many sentinel-like lines lacked the token."""
    tokens = lifecycle.boundary_tokens(store, batch_ids(scope))
    bodies: dict[Pair, str] = {}
    untokened = 0
    for batch_id in batch_ids(scope):
        expected = [pair for run in scope if run.batch_id == batch_id for pair in run.pairs]
        parsed = parse_output(text, expected, token=tokens.get(batch_id), ignored=ignored)
        bodies.update(parsed.bodies)
        untokened = max(untokened, parsed.untokened)
    return bodies, untokened


def settle_runs(
    config: Config,
    store: Store,
    scope: Sequence[ScopedRun],
    bodies: Mapping[Pair, str],
    *,
    execution: ExecutionData | None = None,
    actual_model_id: str | None = None,
    incomplete_reason: str | None = None,
    run_files: bool = True,
) -> IngestReport:
    """Finish every running run in scope from the pair bodies that arrived:
    a run with all its pairs is finalized (rekeyed to `actual_model_id` when
    given), a run missing some fails, naming them (after `incomplete_reason`
    when the executor knows why they are missing). Without `run_files`, the
    completed runs' folders are not written (the in-process executor: no one
    reads them there; `review-store artifacts` writes them from the store)."""
    running = [r for r in scope if r.status is RunStatus.RUNNING]
    already = [r for r in scope if r.status is not RunStatus.RUNNING]
    outcomes: list[RunOutcome] = []
    tokens = lifecycle.boundary_tokens(store, batch_ids(running))
    settlements = [
        _settlement(run, bodies, incomplete_reason, tokens.get(run.batch_id)) for run in running
    ]
    with artifacts.BackgroundWriter() as writer:
        for run in already:
            if run.status is RunStatus.COMPLETED and run_files:
                _restore_run_files(config, store, run, writer)
        for start in range(0, len(settlements), RUNS_PER_TRANSACTION):
            part = settlements[start : start + RUNS_PER_TRANSACTION]
            settled = lifecycle.finalize_runs(
                store, [s for s, _ in part], actual_model_id=actual_model_id, execution=execution
            )
            # written once the transaction that completed the runs committed
            for (settlement, texts), outcome in zip(part, settled, strict=True):
                run_id, document = settlement.review_run_id, settlement.bundle_markdown
                if outcome is None:  # another process finished it meanwhile
                    already.append(load_runs(store, [run_id])[0])
                    continue
                outcomes.append(outcome)
                if outcome.status is RunStatus.COMPLETED and document is not None and run_files:
                    writer.submit(artifacts.write_run_files, config, run_id, document, texts)
    warnings = [
        f"{w}; the store has the reviews, ingest again to write the files" for w in writer.warnings
    ]
    unknown = unknown_decisions(store, [*outcomes, *already])
    warnings += [
        f"review run {run_id}: no readable result line for {pair.note_path} :: {pair.gate_id}"
        " (expected `## Result: PASS|WARN|FAIL|ERROR`); stored as unknown, so the pair"
        " stays stale until it is reviewed again"
        for run_id, pair in unknown
    ]
    return IngestReport(
        batch_ids(scope), tuple(outcomes), tuple(already), tuple(warnings), tuple(unknown)
    )


def unknown_decisions(
    store: Store, runs: Iterable[RunOutcome | ScopedRun]
) -> list[tuple[int, Pair]]:
    """(run id, pair) of every `unknown` decision of these runs that completed."""
    ids = [r.review_run_id for r in runs if r.status is RunStatus.COMPLETED]
    if not ids:
        return []
    with store.read() as conn:
        rows = unknown_rows(conn, ids)
    return [(run_id, Pair(note_path, gate_id)) for run_id, note_path, gate_id in rows]


def fail_runs(
    store: Store,
    scope: Sequence[ScopedRun],
    reason: str,
    execution: ExecutionData | None = None,
) -> IngestReport:
    """Fail every running run in scope with one reason."""
    outcomes: list[RunOutcome] = []
    already = [r for r in scope if r.status is not RunStatus.RUNNING]
    for run in scope:
        if run.status is not RunStatus.RUNNING:
            continue
        outcome = _fail(store, run, reason, execution)
        if outcome is None:
            already.append(load_runs(store, [run.review_run_id])[0])
        else:
            outcomes.append(outcome)
    return IngestReport(batch_ids(scope), tuple(outcomes), tuple(already))


def _settlement(
    run: ScopedRun,
    bodies: Mapping[Pair, str],
    incomplete_reason: str | None,
    token: str | None,
) -> tuple[Settlement, list[tuple[str, str]]]:
    """What the output brings a running run, and its (gate id, text) pairs:
    all its reviews, or the reason it fails (its pairs that did not arrive)."""
    parsed = [
        PendingReview.from_text(pair.gate_id, bodies[pair]) for pair in run.pairs if pair in bodies
    ]
    texts = [(r.gate_id, r.rationale_markdown) for r in parsed]
    document = None
    if texts:
        document = redact(run_document(run.review_run_id, run.note_path, texts, token=token))
    # Redacted once here, where the store and the run's files both get them
    # (each redacts what it keeps; a text redacted already costs nothing).
    reviews = tuple(
        PendingReview(r.gate_id, r.decision, redact(r.rationale_markdown), r.findings)
        for r in parsed
    )
    texts = [(r.gate_id, r.rationale_markdown) for r in reviews]
    lost = [pair.gate_id for pair in run.pairs if pair not in bodies]
    if not lost:
        return Settlement(run.review_run_id, reviews, document), texts
    reason = f"missing pair reviews: {', '.join(lost)}"
    if incomplete_reason:
        reason = f"{incomplete_reason} ({reason})"
    return Settlement(run.review_run_id, bundle_markdown=document, failure=reason), texts


def _keep_output(config: Config, store: Store, running: Sequence[ScopedRun], text: str) -> None:
    """The whole output, once per batch: in the store and as the batch's
    output file (a file the executor wrote there is left as it is)."""
    text = redact(text)  # once, for both
    lifecycle.attach_execution_data(
        store, ExecutionData(raw_output=text), review_run_ids=[r.review_run_id for r in running]
    )
    for batch_id in dict.fromkeys(r.batch_id for r in running):
        artifacts.keep_raw_output(config, batch_id, text)


def _restore_run_files(
    config: Config, store: Store, run: ScopedRun, writer: artifacts.BackgroundWriter
) -> None:
    """A completed run's files, from the store, when a crash after its commit
    kept them from being written (the document is written last)."""
    if (artifacts.run_dir(config, run.review_run_id) / artifacts.OUTPUT).exists():
        return
    with store.read() as conn:
        document = stored_document(conn, run.review_run_id)
        texts = review_texts(conn, run.review_run_id)
    if document:
        writer.submit(artifacts.write_run_files, config, run.review_run_id, document, texts)


def _fail(
    store: Store,
    run: ScopedRun,
    reason: str,
    execution: ExecutionData | None,
    document: str | None = None,
) -> RunOutcome | None:
    try:
        return lifecycle.fail_run(
            store, run.review_run_id, reason, execution=execution, bundle_markdown=document
        )
    except RunNotFinalizable:
        return None
