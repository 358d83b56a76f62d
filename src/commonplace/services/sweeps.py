"""The packings that review through a runner (SPEC 9, 10): one note with its
gates (`run-review-bundle`), one gate over notes (`run-gate-sweep`), and
everything stale (`review-sweep`), with bounded concurrency, budgets, and a
dry run that forecasts tokens and cost (or prints the prompts) without
touching the store.

Each batch goes through `execute_batch`. Launching stops at the first usage
limit (and batches still running are stopped too: their calls would only
hit the same limit), when the caller's `StopRequest` is set (Ctrl-C), or
when a budget is spent. Live text and progress go to the caller's
`SweepEvents`; nothing here prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from commonplace.choices import DEFAULT_BATCH_SIZE, GROUPINGS
from commonplace.errors import UsageError, UserError
from commonplace.kb.files import KbFile
from commonplace.kb.gates import is_lens, load_gates, resolve_gate_ids
from commonplace.kb.notes import note_facts
from commonplace.kb.unreviewable import Unreviewable
from commonplace.lifecycle import Packing
from commonplace.lifecycle.claims import IN_PROGRESS
from commonplace.lifecycle.partitions import alias_target, resolution_changes
from commonplace.lifecycle.targets import Plan, SkippedPair, plan_note, plan_runs
from commonplace.runners import get_runner
from commonplace.runners.launch import version_of
from commonplace.services.changes import ChangedScope
from commonplace.services.events import SweepEvents
from commonplace.services.execution import RunnerCall
from commonplace.services.executor import BatchResult
from commonplace.services.forecast import Forecaster
from commonplace.services.launcher import Launcher
from commonplace.services.planned import PlannedBatches, forecaster, refuse_over_budget
from commonplace.services.provider_submit import Submission, require_batch_runner, submit_plans
from commonplace.services.selector import (
    StaleReason,
    flatten,
    gate_scope,
    note_scope,
    select_stale,
)
from commonplace.services.stale_split import StaleSplit, split_stale
from commonplace.workspace import Workspace


@dataclass(frozen=True)
class SweepOptions:
    runner: str
    model: str
    effort: str | None = None
    timeout: float | None = None
    retry_missing: bool = True
    dry_run: bool = False
    jobs: int = 1
    max_batches: int | None = None
    max_cost_usd: float | None = None
    stream: bool = True  # the runner's live text to `SweepEvents.live_text`
    provider_batch: bool = False  # submit as provider batch jobs (API runners)


@dataclass(frozen=True)
class SweepReport:
    runner: str
    model_id: str
    dry_run: bool
    batches: tuple[BatchResult, ...] = ()
    planned: PlannedBatches = field(default_factory=PlannedBatches)
    forecast: Forecaster | None = None  # a dry run's, tallied as it is read
    skipped: tuple[SkippedPair, ...] = ()
    # Notes and gates found that cannot be reviewed: left out, the rest goes on.
    unreviewable: tuple[Unreviewable, ...] = ()
    stopped: str | None = None  # why launching stopped before the end
    not_launched: int = 0
    notices: tuple[str, ...] = ()  # once per sweep: the flags now resolve elsewhere
    submission: Submission | None = None  # with `provider_batch`: the jobs submitted
    # Pairs planned per stale reason (`review-sweep`; empty from the others).
    stale_reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return sum(len(b.completed) for b in self.batches)

    @property
    def failed(self) -> int:
        return sum(len(b.failed) for b in self.batches)

    @property
    def usage_limited(self) -> bool:
        return any(b.usage_limited for b in self.batches)

    @property
    def cost_usd(self) -> float | None:
        costs = [b.cost_usd for b in self.batches if b.cost_usd is not None]
        return sum(costs) if costs else None


# --- the three commands -----------------------------------------------------------


def run_review_bundle(
    ws: Workspace,
    note: str,
    gate_refs: Sequence[str],
    options: SweepOptions,
    *,
    events: SweepEvents | None = None,
) -> SweepReport:
    """One note and its applicable gates, in one batch."""
    runner = prepare_runner(ws, options)
    plan = plan_note(
        ws.config,
        ws.git_state(),
        note,
        gate_refs,
        cwd=ws.cwd,
        purpose="a review bundle covers one note",
        skip_unusable=True,
    )
    return execute_plans(
        ws,
        runner,
        [plan],
        Packing.NOTE,
        options,
        skipped=plan.skipped,
        unreviewable=plan.unusable,
        events=events,
    )


def run_gate_sweep(
    ws: Workspace,
    gate_ref: str,
    options: SweepOptions,
    *,
    note_refs: Sequence[str] = (),
    current_only: bool = False,
    user_verified: bool = False,
    stale_only: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    events: SweepEvents | None = None,
) -> SweepReport:
    """One gate over notes, `batch_size` notes per batch."""
    if is_lens(ws.config, gate_ref):
        raise UsageError(f"{gate_ref} is a lens; a gate sweep takes one gate (try review-sweep)")
    (gate_id,) = resolve_gate_ids(ws.config, [gate_ref], cwd=ws.cwd)
    runner = prepare_runner(ws, options)
    git = ws.git_state()
    note_scan = note_scope(ws, git, note_refs, current_only, user_verified=user_verified)
    notes = note_scan.notes
    (gate,) = load_gates(ws.config, [gate_id])
    skipped: list[SkippedPair] = []
    applicable: list[KbFile] = []
    for note in notes:
        facts = note_facts(note)
        if gate.applies_to(facts):
            applicable.append(note)
        elif note_refs:
            skipped.append(SkippedPair(note.key, gate_id, gate.skip_reason(facts)))
    if stale_only:
        stale = select_stale(
            ws.store,
            git,
            notes=applicable,
            gates=[gate],
            model_id=runner.partition.model_id,
            in_progress=True,
        )
        busy = [p for p in flatten(stale) if p.reason is StaleReason.IN_PROGRESS]
        skipped += [SkippedPair(p.note_path, p.gate_id, IN_PROGRESS) for p in busy]
        keys = {entry.note_path for entry in stale} - {p.note_path for p in busy}
        applicable = [n for n in applicable if n.key in keys]
    if not applicable:
        raise UserError(f"no notes to review against {gate_id}")
    plans = [
        plan_runs(
            ws.config, git, [(note, [gate_id]) for note in applicable[i : i + batch_size]], [gate]
        )
        for i in range(0, len(applicable), batch_size)
    ]
    return execute_plans(
        ws,
        runner,
        plans,
        Packing.GATE,
        options,
        skipped=skipped,
        unreviewable=note_scan.unreviewable,
        claim=stale_only,
        events=events,
    )


def review_sweep(
    ws: Workspace,
    gate_refs: Sequence[str],
    options: SweepOptions,
    *,
    note_refs: Sequence[str] = (),
    current_only: bool = False,
    user_verified: bool = False,
    group: str = "lens",
    events: SweepEvents | None = None,
    changed: ChangedScope | None = None,
) -> SweepReport:
    """Every stale pair the selector finds, one batch per note and lens (or
    per note), run `options.jobs` at a time. Pairs whose gate has uncommitted
    changes cannot be reviewed and are reported as skipped."""
    if group not in GROUPINGS:
        raise UsageError(f"grouping must be one of {', '.join(GROUPINGS)}, not {group!r}")
    runner = prepare_runner(ws, options)
    git = ws.git_state()
    gate_scan = gate_scope(ws, gate_refs)
    note_scan = note_scope(
        ws, git, note_refs, current_only, user_verified=user_verified, changed=changed
    )
    gates, notes = gate_scan.gates, note_scan.notes
    stale = select_stale(
        ws.store,
        git,
        notes=notes,
        gates=gates,
        model_id=runner.partition.model_id,
        in_progress=True,
    )
    unreviewable = {
        StaleReason.GATE_DIRTY: "gate-dirty: commit the gate first",
        StaleReason.IN_PROGRESS: IN_PROGRESS,
    }
    skipped: list[SkippedPair] = []
    by_key = {n.key: n for n in notes}
    groups: list[tuple[str, tuple[str, ...], str]] = []  # (lens, gate ids, note) per batch
    # Notes with nothing reviewed share their list of stale gates (the
    # selector's): each list is split into batches once, and counted per use.
    split: dict[int, StaleSplit] = {}
    uses: Counter[int] = Counter()
    for entry in stale:  # per note, without a row per pair
        found = split.get(id(entry.gates))
        if found is None:
            found = split[id(entry.gates)] = split_stale(entry.gates, unreviewable, group == "lens")
        uses[id(entry.gates)] += 1
        if found.skipped:
            skipped += (SkippedPair(entry.note_path, g, why) for g, why in found.skipped)
        groups.extend((lens, gate_ids, entry.note_path) for lens, gate_ids in found.lenses)
    reasons: Counter[str] = Counter()
    for key, times in uses.items():
        for reason, pairs in split[key].reasons.items():
            reasons[reason] += pairs * times
    del stale, split
    # Batches with the same gates run one after another: their prompts share
    # the instructions and gates, which a provider then serves from its cache.
    groups.sort(key=lambda g: (g[0], sorted(g[1]), g[2]))
    requests = [(by_key[note_path], gate_ids) for _, gate_ids, note_path in groups]
    del groups
    # One plan for them all, then one batch per request: the notes' facts and
    # the gates' state are read once, not once per batch.
    whole = plan_runs(ws.config, git, requests, gates) if requests else None
    plans = [Plan((target,), ()) for target in whole.targets] if whole else []
    return execute_plans(
        ws,
        runner,
        plans,
        Packing.NOTE,
        options,
        skipped=skipped,
        unreviewable=(*note_scan.unreviewable, *gate_scan.unusable),
        claim=True,
        events=events,
        stale_reasons=reasons,
    )


# --- shared -----------------------------------------------------------------------------


def prepare_runner(ws: Workspace, options: SweepOptions) -> RunnerCall:
    """The adapter, the partition and the call settings. Outside a dry run,
    the CLI is asked for its version first, so a missing binary stops the
    command before any run exists."""
    adapter = get_runner(ws.config, options.runner)
    partition = ws.partition(options.model, options.effort)
    if options.jobs < 1:
        raise UsageError("a sweep runs at least one batch at a time (jobs >= 1)")
    timeout = options.timeout or adapter.settings.timeout or ws.config.defaults.timeout
    if options.provider_batch:
        require_batch_runner(adapter)
    version = None if options.dry_run else version_of(adapter)
    return RunnerCall(
        adapter=adapter,
        model=_cli_model(ws, options.model),
        partition=partition,
        timeout=timeout,
        retry_missing=options.retry_missing,
        cli_version=version,
    )


def execute_plans(
    ws: Workspace,
    runner: RunnerCall,
    plans: Sequence[Plan],
    packing: Packing,
    options: SweepOptions,
    *,
    skipped: Sequence[SkippedPair] = (),
    unreviewable: Sequence[Unreviewable] = (),
    claim: bool = False,
    events: SweepEvents | None = None,
    stale_reasons: Mapping[str, int] | None = None,
) -> SweepReport:
    """Run the plans' batches (in a dry run, only plan them). With
    `claim`, each batch leaves out the pairs another process has taken
    meanwhile, and reports them as skipped."""
    base = SweepReport(
        runner.adapter.name,
        runner.partition.model_id,
        options.dry_run,
        skipped=tuple(skipped),
        unreviewable=tuple(unreviewable),
        stale_reasons=dict(stale_reasons or {}),
    )
    if options.max_batches is not None:
        plans, held = plans[: options.max_batches], len(plans) - options.max_batches
    else:
        held = 0
    if options.dry_run:
        return replace(
            base,
            planned=PlannedBatches(ws.config, tuple(plans)),
            forecast=forecaster(ws, runner, plans, options),
            not_launched=max(held, 0),
        )
    budget_notes = refuse_over_budget(ws, runner, plans, options)
    if options.provider_batch:
        submission = submit_plans(ws, runner, plans, packing, claim=claim)
        return replace(
            base,
            submission=submission,
            skipped=(*base.skipped, *submission.claimed),
            stopped=f"--max-batches {options.max_batches} reached" if held > 0 else None,
            not_launched=max(held, 0),
            notices=budget_notes,
        )
    launcher = Launcher(ws, runner, packing, options, events or SweepEvents(), claim)
    results, stopped, unlaunched = launcher.run(plans)
    if held > 0:
        stopped = stopped or f"--max-batches {options.max_batches} reached"
        unlaunched += held
    changes = resolution_changes(ws.store, runner.partition, [b.model_id for b in results])
    return replace(
        base,
        batches=tuple(sorted(results, key=lambda b: b.batch_id)),
        skipped=(*base.skipped, *launcher.claimed),
        stopped=stopped,
        not_launched=unlaunched,
        notices=(*budget_notes, *(change.message for change in changes)),
    )


def _cli_model(ws: Workspace, model: str) -> str:
    """What the CLI is asked for: a configured alias's target, else the name as given."""
    return alias_target(model, ws.config.model_aliases) or model
