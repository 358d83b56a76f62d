"""`execute_batch`: one batch from prompt to outcome through a runner (SPEC 9).

Create the runs, render and save the prompt, run the runner, attach what it
left, parse (even after a failed call), re-ask once for only the pairs that
did not arrive, then finalize each complete run (rekeyed to the model that
actually served it) and fail the rest with a specific reason. Whatever
happens, including Ctrl-C and bugs, no run of the batch stays `running`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.review import artifacts, lifecycle
from commonplace.review.batch import render_batch_prompt
from commonplace.review.events import LiveText
from commonplace.review.ingest import IngestReport, ScopedRun, fail_runs, settle_runs
from commonplace.review.lifecycle import ExecutionData, Packing, RunOutcome, RunStatus
from commonplace.review.partitions import Partition, actual_model_id, observe_resolution
from commonplace.review.protocol.grammar import Pair
from commonplace.review.protocol.parser import MalformedOutput, parse_output
from commonplace.review.runners.base import Adapter, Call, Failure, FailureKind, merge_telemetry
from commonplace.review.runners.launch import RunnerResult, run_adapter
from commonplace.review.store import Store, StoreError
from commonplace.review.targets import Plan, RunTarget, SkippedPair
from commonplace.safe_files import LinkRefused

RETRY_PROMPT = "prompt-missing-pairs.md"
RETRY_OUTPUT = "bundle-output-missing-pairs.md"
FOLLOW_UP_MARK = "\n\n<!-- commonplace: the follow-up call for the missing pairs -->\n\n"


class Cancel:
    """Asks running calls to stop, with the failure their runs should get."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.failure: Failure | None = None
        self._lock = threading.Lock()

    def set(self, failure: Failure) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = failure
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class RunnerCall:
    """How to call the runner for every batch of a command."""

    adapter: Adapter
    model: str  # as given to the CLI
    partition: Partition
    timeout: float | None
    retry_missing: bool = True
    cli_version: str | None = None  # asked of the CLI once per command


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
    artifacts.refuse_links(config)  # before the store changes
    created = lifecycle.create_batch(
        store,
        plan,
        packing=packing,
        runner=runner.adapter.name,
        partition=runner.partition,
        owned_by_this_process=True,
        claim=claim,
    )
    if created.claimed:  # the prompt asks only for the pairs this batch has
        plan = _only(plan, [Pair(r.note_path, g) for r in created.runs for g in r.gate_ids])
    scope = [
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
    ]
    try:
        printer = echo(created.batch_id) if echo is not None else None
        report, failure, cost, warnings = _execute(
            config,
            store,
            plan,
            runner,
            (created.batch_id, created.boundary_token),
            scope,
            cancel,
            printer,
        )
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
        report.outcomes,
        failure,
        cost,
        warnings,
        tuple(run.note_path for run in created.runs),
        created.claimed,
    )


def _execute(
    config: Config,
    store: Store,
    plan: Plan,
    runner: RunnerCall,
    batch: tuple[int, str],
    scope: Sequence[ScopedRun],
    cancel: Cancel | None,
    echo: Callable[[str], None] | None,
) -> tuple[IngestReport, Failure | None, float | None, tuple[str, ...]]:
    warnings: list[str] = []
    batch_id = batch[0]
    calls, bodies, problem = _review(
        config, store, plan, runner, batch, scope, cancel, echo, warnings
    )
    failure = calls[-1].failure
    telemetry = _record_execution(config, store, runner, batch_id, calls, warnings)
    actual = actual_model_id(telemetry, runner.partition.effort) if telemetry else None
    if actual is not None and actual != runner.partition.model_id:
        observe_resolution(store, runner.partition, str(telemetry["model"]), actual, batch_id)
    per_run = ExecutionData(
        telemetry={**telemetry, "batch_id": batch_id, "runs_in_batch": len(scope)}
        if telemetry
        else None
    )
    if problem is not None:
        reason = f"malformed output: {problem}"
        if failure is not None:
            reason = f"{failure.reason()}; {reason}"
        report = fail_runs(store, scope, reason, per_run)
    else:
        report = settle_runs(
            config,
            store,
            scope,
            bodies,
            execution=per_run,
            actual_model_id=actual,
            incomplete_reason=failure.reason()
            if failure is not None
            else _no_token(calls, scope, batch[1], bodies),
        )
    cost = telemetry.get("cost_usd") if telemetry else None
    return report, failure, cost, (*warnings, *report.warnings)


def _review(
    config: Config,
    store: Store,
    plan: Plan,
    runner: RunnerCall,
    batch: tuple[int, str],
    scope: Sequence[ScopedRun],
    cancel: Cancel | None,
    echo: Callable[[str], None] | None,
    warnings: list[str],
) -> tuple[list[RunnerResult], dict[Pair, str], str | None]:
    """Render, save and send the prompt; re-ask once for the pairs missing.
    Both prompts carry the batch's boundary token and both outputs are read
    with it. Returns the calls made, the pair bodies that arrived, and what
    made the output malformed if it was."""
    batch_id, token = batch
    directory = artifacts.batch_dir(config, batch_id)
    # before the runner is paid for: a link where its files would go is refused
    artifacts.refuse_links(
        config, batch_ids=[batch_id], run_ids=[run.review_run_id for run in scope]
    )
    prompt = render_batch_prompt(config, plan, [run.review_run_id for run in scope], token=token)
    lifecycle.record_prompt(
        store, batch_id, sha256=prompt.sha256, chars=prompt.chars, version=prompt.version
    )
    manifest = _manifest(batch_id, runner, scope, prompt.sha256, token)
    _save(
        warnings,
        artifacts.write_batch_files,
        config,
        batch_id,
        prompt=prompt.text,
        manifest=manifest,
    )
    expected = [pair for run in scope for pair in run.pairs]
    first = _call(config, runner, prompt.text, cancel, echo)
    bodies, problem = _parse(first.text, expected, (), token)
    missing = [pair for pair in expected if pair not in bodies]
    failure = first.failure
    if (
        problem is not None
        or not missing
        or not runner.retry_missing
        or (cancel is not None and cancel.is_set())
        or not (failure is None or (failure.kind is FailureKind.CRASH and bodies))
    ):
        return [first], bodies, problem
    follow_up = render_batch_prompt(
        config, _only(plan, missing), _ids_for(scope, missing), token=token
    )
    _save(warnings, artifacts.write_text, config, directory / RETRY_PROMPT, follow_up.text)
    second = _call(config, runner, follow_up.text, cancel, echo)
    _save(warnings, artifacts.write_text, config, directory / RETRY_OUTPUT, second.text)
    more, _ = _parse(second.text, missing, bodies.keys(), token)
    return [first, second], {**bodies, **more}, None


def _record_execution(
    config: Config,
    store: Store,
    runner: RunnerCall,
    batch_id: int,
    calls: Sequence[RunnerResult],
    warnings: list[str],
) -> dict[str, Any]:
    """Telemetry, debug log and raw output, once, on the batch; the batch
    telemetry is returned for its runs."""
    telemetry = merge_telemetry([c.telemetry.as_dict() for c in calls if c.telemetry])
    if telemetry and not telemetry.get("cli_version"):
        telemetry["cli_version"] = runner.cli_version
    raw_output = FOLLOW_UP_MARK.join(call.text for call in calls if call.text)
    lifecycle.attach_execution_data(
        store,
        ExecutionData(
            telemetry=telemetry or None,
            debug_log="\n".join(call.debug_log() for call in calls),
            raw_output=raw_output or None,
        ),
        batch_id=batch_id,
    )
    if raw_output:
        _save(warnings, artifacts.keep_raw_output, config, batch_id, raw_output)
    return telemetry


def _call(
    config: Config,
    runner: RunnerCall,
    prompt: str,
    cancel: Cancel | None,
    echo: Callable[[str], None] | None,
) -> RunnerResult:
    result = run_adapter(
        runner.adapter,
        Call(prompt, runner.model, runner.partition.effort, config.kb_root),
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


def _parse(
    text: str, expected: Sequence[Pair], ignored: Collection[Pair], token: str
) -> tuple[dict[Pair, str], str | None]:
    """Pair bodies that arrived, and what made the output malformed if it was.
    An empty output is not malformed here: nothing arrived."""
    if not text.strip():
        return {}, None
    try:
        parsed = parse_output(text, expected, token=token, ignored=ignored)
    except MalformedOutput as anomaly:
        return {}, anomaly.message
    return dict(parsed.bodies), None


def _no_token(
    calls: Sequence[RunnerResult], scope: Sequence[ScopedRun], token: str, bodies: dict[Pair, str]
) -> str | None:
    """Why nothing arrived when the reviewer wrote sentinels without the
    batch's token (it dropped or garbled it), or None."""
    if bodies:
        return None
    expected = [pair for run in scope for pair in run.pairs]
    untokened = 0
    for call in calls:
        try:
            found = parse_output(call.text, expected, token=token).untokened
        except MalformedOutput:
            found = 0  # reported as such already
        untokened = max(untokened, found)
    if not untokened:
        return None
    return f"no sentinel line carries the batch's boundary token ({untokened} without it)"


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


def _manifest(
    batch_id: int,
    runner: RunnerCall,
    scope: Sequence[ScopedRun],
    prompt_sha256: str,
    token: str,
) -> dict[str, object]:
    return {
        "batch_id": batch_id,
        "executor": runner.adapter.name,
        "model_id": runner.partition.model_id,
        "requested_model": runner.model,
        "effort": runner.partition.effort,
        "prompt_sha256": prompt_sha256,
        "boundary_token": token,
        "runs": [
            {"review_run_id": r.review_run_id, "note_path": r.note_path, "gate_ids": r.gate_ids}
            for r in scope
        ],
    }


def _save(warnings: list[str], write: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Artifacts are a convenience: failing to write one is a warning, unless
    a symbolic link was in the way."""
    try:
        write(*args, **kwargs)
    except LinkRefused:
        raise
    except Exception as exc:
        warnings.append(f"artifact not written: {exc}")
