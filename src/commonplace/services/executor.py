"""`execute_batch`: one batch from prompt to outcome through a runner (SPEC 9).

Create the runs, render and save the prompt, run the runner, attach what it
left, parse (even after a failed call), re-ask once for only the pairs that
did not arrive, then finalize each complete run (rekeyed to the model that
actually served it) and fail the rest with a specific reason. Whatever
happens, including Ctrl-C and bugs, no run of the batch stays `running`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, ParamSpec

from commonplace import lifecycle
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.lifecycle import CreatedBatch, ExecutionData, Packing, RunOutcome, RunStatus
from commonplace.lifecycle.partitions import actual_model_id, observe_resolution
from commonplace.lifecycle.targets import Plan, RunTarget, SkippedPair
from commonplace.protocol.grammar import Pair
from commonplace.protocol.parser import MalformedOutput, parse_output
from commonplace.protocol.prompt import RenderedPrompt
from commonplace.runners.base import Call, Failure, FailureKind
from commonplace.runners.launch import RunnerResult, run_adapter
from commonplace.runners.telemetry import merge_telemetry
from commonplace.safe_files import LinkRefused
from commonplace.services import artifacts
from commonplace.services.batch import render_batch_prompt
from commonplace.services.events import LiveText
from commonplace.services.execution import (
    BatchContext,
    Cancel,
    Executed,
    Parsed,
    Reviewed,
    RunnerCall,
)
from commonplace.services.ingest import fail_runs, settle_runs
from commonplace.services.manifest import Requested, batch_manifest
from commonplace.services.scope import ScopedRun
from commonplace.store.connection import Store, StoreError

RETRY_PROMPT = "prompt-missing-pairs.md"
RETRY_OUTPUT = "bundle-output-missing-pairs.md"
_P = ParamSpec("_P")
FOLLOW_UP_MARK = "\n\n<!-- commonplace: the follow-up call for the missing pairs -->\n\n"


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    runner: str
    outcomes: tuple[RunOutcome, ...]
    failure: Failure | None  # why the runner call failed, if it did
    cost_usd: float | None
    warnings: tuple[str, ...] = ()
    note_paths: tuple[str, ...] = ()
    claimed: tuple[SkippedPair, ...] = ()  # pairs left to the process that has them

    @property
    def completed(self) -> list[int]:
        return [o.review_run_id for o in self.outcomes if o.status is RunStatus.COMPLETED]

    @property
    def failed(self) -> list[tuple[int, str]]:
        return [
            (o.review_run_id, o.reason or "") for o in self.outcomes if o.status is RunStatus.FAILED
        ]

    @property
    def usage_limited(self) -> bool:
        return self.failure is not None and self.failure.kind is FailureKind.USAGE_LIMIT

    @property
    def model_id(self) -> str | None:
        """The partition its runs ended in (rekeyed when another model served)."""
        return self.outcomes[0].model_id if self.outcomes else None


def execute_batch(
    config: Config,
    store: Store,
    plan: Plan,
    runner: RunnerCall,
    *,
    packing: Packing,
    cancel: Cancel | None = None,
    echo: Callable[[int], LiveText] | None = None,
    claim: bool = False,
) -> BatchResult:
    """Run one batch. `echo(batch_id)` gives where its live text goes. With
    `claim`, pairs another process has are left out (`lifecycle.AllClaimed`
    when that is every pair)."""
    created, plan = create_owned_batch(config, store, plan, runner, packing=packing, claim=claim)
    scope = tuple(
        ScopedRun(
            run.review_run_id,
            created.batch_id,
            run.note_path,
            run.gate_ids,
            RunStatus.RUNNING,
            run.model_id,
            None,
        )
        for run in created.runs
    )
    try:
        printer = echo(created.batch_id) if echo is not None else None
        context = BatchContext(config, store, plan, runner, created, scope, cancel, printer)
        executed = _execute(context)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"
        elif isinstance(exc, StoreError):  # a full disk, say
            reason = f"review store error: {exc.detail}"
        elif isinstance(exc, UserError):
            reason = exc.message
        else:
            reason = f"executor error: {exc!r}"
        fail_runs(store, scope, reason)
        raise
    return BatchResult(
        created.batch_id,
        runner.adapter.name,
        executed.report.outcomes,
        executed.failure,
        executed.cost_usd,
        executed.warnings,
        tuple(run.note_path for run in created.runs),
        created.claimed,
    )


def _execute(ctx: BatchContext) -> Executed:
    warnings: list[str] = []
    reviewed = _review(ctx, warnings)
    failure = reviewed.calls[-1].failure
    telemetry = _record_execution(ctx, reviewed.calls, warnings)
    partition = ctx.runner.partition
    actual = actual_model_id(telemetry, partition.effort) if telemetry else None
    if actual is not None and actual != partition.model_id:
        observe_resolution(ctx.store, partition, str(telemetry["model"]), actual, ctx.batch_id)
    per_run = ExecutionData(
        telemetry={**telemetry, "batch_id": ctx.batch_id, "runs_in_batch": len(ctx.scope)}
        if telemetry
        else None
    )
    problem = reviewed.parsed.problem
    if problem is not None:
        reason = f"malformed output: {problem}"
        if failure is not None:
            reason = f"{failure.reason()}; {reason}"
        report = fail_runs(ctx.store, ctx.scope, reason, per_run)
    else:
        report = settle_runs(
            ctx.config,
            ctx.store,
            ctx.scope,
            reviewed.parsed.bodies,
            execution=per_run,
            actual_model_id=actual,
            incomplete_reason=failure.reason() if failure is not None else _no_token(ctx, reviewed),
            run_files=False,  # `review-store artifacts` writes them from the store on demand
        )
    if report.failed:
        _keep_for_debugging(ctx, reviewed, warnings)
    cost = telemetry.get("cost_usd") if telemetry else None
    return Executed(report, failure, cost, (*warnings, *report.warnings))


def _review(ctx: BatchContext, warnings: list[str]) -> Reviewed:
    """Render, save and send the prompt; re-ask once for the pairs missing.
    Both prompts carry the batch's boundary token and both outputs are read
    with it."""
    run_ids = [run.review_run_id for run in ctx.scope]
    # before the runner is paid for: a link where its files would go is refused
    artifacts.refuse_links(ctx.config, batch_ids=[ctx.batch_id], run_ids=run_ids)
    prompt = render_batch_prompt(ctx.config, ctx.plan, run_ids, token=ctx.token)
    lifecycle.record_prompt(
        ctx.store, ctx.batch_id, sha256=prompt.sha256, chars=prompt.chars, version=prompt.version
    )
    requested = Requested(ctx.runner.model, ctx.runner.partition.effort)
    manifest = batch_manifest(ctx.config, ctx.plan, ctx.batch, prompt, requested=requested)
    _save(
        warnings,
        artifacts.write_batch_files,
        ctx.config,
        ctx.batch_id,
        prompt=None,
        manifest=manifest,
    )
    expected = ctx.expected
    first = _call(ctx, prompt)
    parsed = _parse(first.text, expected, (), ctx.token)
    missing = [pair for pair in expected if pair not in parsed.bodies]
    failure = first.failure
    if (
        parsed.problem is not None
        or not missing
        or not ctx.runner.retry_missing
        or (ctx.cancel is not None and ctx.cancel.is_set())
        or not (failure is None or (failure.kind is FailureKind.CRASH and parsed.bodies))
    ):
        return Reviewed((first,), parsed, prompt, manifest)
    follow_up = render_batch_prompt(
        ctx.config, _only(ctx.plan, missing), _ids_for(ctx.scope, missing), token=ctx.token
    )
    _save(warnings, artifacts.write_text, ctx.config, ctx.directory / RETRY_PROMPT, follow_up.text)
    second = _call(ctx, follow_up)
    _save(warnings, artifacts.write_text, ctx.config, ctx.directory / RETRY_OUTPUT, second.text)
    more = _parse(second.text, missing, parsed.bodies.keys(), ctx.token)
    return Reviewed((first, second), Parsed({**parsed.bodies, **more.bodies}), prompt, manifest)


def _record_execution(
    ctx: BatchContext, calls: Sequence[RunnerResult], warnings: list[str]
) -> dict[str, Any]:
    """Telemetry, debug log and raw output, once, on the batch; the batch
    telemetry is returned for its runs."""
    telemetry = merge_telemetry([c.telemetry.as_dict() for c in calls if c.telemetry])
    if telemetry and not telemetry.get("cli_version"):
        telemetry["cli_version"] = ctx.runner.cli_version
    raw_output = FOLLOW_UP_MARK.join(call.text for call in calls if call.text)
    lifecycle.attach_execution_data(
        ctx.store,
        ExecutionData(
            telemetry=telemetry or None,
            debug_log="\n".join(call.debug_log() for call in calls),
            raw_output=raw_output or None,
        ),
        batch_id=ctx.batch_id,
    )
    return telemetry


def _keep_for_debugging(ctx: BatchContext, reviewed: Reviewed, warnings: list[str]) -> None:
    """A batch with a failed run keeps its prompt and raw output as files, for
    whoever looks into why; a batch that went well leaves them to the store."""
    if reviewed.prompt is not None and reviewed.manifest is not None:
        _save(
            warnings,
            artifacts.write_batch_files,
            ctx.config,
            ctx.batch_id,
            prompt=reviewed.prompt.text,
            manifest=reviewed.manifest,
        )
    raw_output = FOLLOW_UP_MARK.join(call.text for call in reviewed.calls if call.text)
    if raw_output:
        _save(warnings, artifacts.keep_raw_output, ctx.config, ctx.batch_id, raw_output)


def _call(ctx: BatchContext, prompt: RenderedPrompt) -> RunnerResult:
    runner, cancel, echo = ctx.runner, ctx.cancel, ctx.echo
    result = run_adapter(
        runner.adapter,
        Call(
            prompt.text,
            runner.model,
            runner.partition.effort,
            ctx.config.kb_root,
            prompt.cache_points,
        ),
        timeout=runner.timeout,
        cancel=cancel,
        echo=echo,
    )
    if isinstance(echo, LiveText):  # a last partial line is not held back
        echo.flush()
    if (
        result.failure is not None
        and result.failure.kind is FailureKind.INTERRUPTED
        and cancel is not None
        and cancel.failure is not None
    ):
        # stopped on purpose: the runs get the reason we stopped for
        return replace(result, failure=cancel.failure)
    return result


def _parse(text: str, expected: Sequence[Pair], ignored: Collection[Pair], token: str) -> Parsed:
    """An empty output is not malformed here: nothing arrived."""
    if not text.strip():
        return Parsed({})
    try:
        parsed = parse_output(text, expected, token=token, ignored=ignored)
    except MalformedOutput as anomaly:
        return Parsed({}, anomaly.message)
    return Parsed(dict(parsed.bodies))


def _no_token(ctx: BatchContext, reviewed: Reviewed) -> str | None:
    """Why nothing arrived when the reviewer wrote sentinels without the
    batch's token (it dropped or garbled it), or None."""
    if reviewed.parsed.bodies:
        return None
    expected = ctx.expected
    untokened = 0
    for call in reviewed.calls:
        try:
            found = parse_output(call.text, expected, token=ctx.token).untokened
        except MalformedOutput:
            found = 0  # reported as such already
        untokened = max(untokened, found)
    if not untokened:
        return None
    return f"no sentinel line carries the batch's boundary token ({untokened} without it)"


def create_owned_batch(
    config: Config,
    store: Store,
    plan: Plan,
    runner: RunnerCall,
    *,
    packing: Packing,
    claim: bool,
) -> tuple[CreatedBatch, Plan]:
    """The batch's runs, owned by this process under a lease, and the plan
    cut down to the pairs they have (with `claim`, others' pairs are left
    out: `lifecycle.AllClaimed` when that is every pair)."""
    artifacts.refuse_links(config)  # before the store changes
    created = lifecycle.create_batch(
        store,
        plan,
        packing=packing,
        runner=runner.adapter.name,
        partition=runner.partition,
        owned_by_this_process=True,
        claim=claim,
        lease_seconds=config.lease_seconds,
    )
    if created.claimed:  # the prompt asks only for the pairs this batch has
        plan = _only(plan, [Pair(r.note_path, g) for r in created.runs for g in r.gate_ids])
    return created, plan


def _only(plan: Plan, pairs: Sequence[Pair]) -> Plan:
    """The plan cut down to these pairs (each run keeps its note, fewer gates)."""
    wanted = {(p.note_path, p.gate_id) for p in pairs}
    targets = []
    for target in plan.targets:
        gates = tuple(g for g in target.gates if (target.note.key, g.id) in wanted)
        if gates:
            targets.append(RunTarget(target.note, target.note_commit, gates))
    return Plan(tuple(targets), ())


def _ids_for(scope: Sequence[ScopedRun], pairs: Sequence[Pair]) -> list[int]:
    notes = {p.note_path for p in pairs}
    return [run.review_run_id for run in scope if run.note_path in notes]


def _save(warnings: list[str], write: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Artifacts are a convenience: failing to write one is a warning, unless
    a symbolic link was in the way."""
    try:
        write(*args, **kwargs)
    except LinkRefused:
        raise
    except Exception as exc:
        warnings.append(f"artifact not written: {exc}")
