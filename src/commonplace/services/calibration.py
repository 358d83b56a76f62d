"""`commonplace calibrate` (issue 18): review each gate's calibration cases
through the runner, the executor, batching and protocol a sweep uses, and
measure the gate on them.

A calibration review is an ordinary run of an (example, gate) pair, so it is
keyed by the example's version, the gate's version and the partition, and a
calibration is stale exactly when the selector finds its pairs stale: a
second `calibrate` reviews only what changed. With `repeat` N, each case gets
up to N reviews of its current versions, for the self-consistency figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from commonplace.choices import DEFAULT_BATCH_SIZE
from commonplace.errors import UsageError, UserError
from commonplace.kb.examples import load_examples
from commonplace.kb.files import KbFile, read_file
from commonplace.kb.gates import Gate, all_gate_ids, load_found_gates, load_gate_refs
from commonplace.kb.notes import note_facts
from commonplace.lifecycle import Packing
from commonplace.lifecycle.targets import plan_runs
from commonplace.services.calibration_cases import CalibrationCase, CaseSource
from commonplace.services.calibration_figures import CaseResult, GateCalibration, figures
from commonplace.services.events import SweepEvents
from commonplace.services.execution import RunnerCall
from commonplace.services.labels import label_cases
from commonplace.services.selector import StaleReason, flatten, select_stale
from commonplace.services.sweeps import SweepOptions, SweepReport, execute_plans, prepare_runner
from commonplace.store.calibration import completed_reviews
from commonplace.workspace import Workspace

MAX_REPEAT = 20


@dataclass(frozen=True)
class CalibrationReport:
    model_id: str
    gates: tuple[GateCalibration, ...]
    reviewed: int  # pairs sent to the runner by this command
    run_ids: tuple[int, ...]  # the runs this command created
    failed: int
    problems: tuple[str, ...]  # bad example files, gates left out, cases that cannot run
    sweeps: tuple[SweepReport, ...] = ()


def calibration_cases(
    ws: Workspace, gates: Sequence[Gate], problems: list[str] | None = None
) -> list[CalibrationCase]:
    """Every case of these gates: each gate's example files, then the pairs
    people labelled (`label_cases`). Bad example files go to `problems`."""
    cases: list[CalibrationCase] = []
    for gate in gates:
        scan = load_examples(ws.config, gate.id)
        if problems is not None:
            problems += scan.problems
        cases += (
            CalibrationCase(e.file.key, gate.id, e.expected, e.why, CaseSource.EXAMPLE)
            for e in scan.examples
        )
    return cases + label_cases(ws, gates)


def calibrate(
    ws: Workspace,
    gate_refs: Sequence[str],
    options: SweepOptions,
    *,
    repeat: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    events: SweepEvents | None = None,
) -> CalibrationReport:
    if not 1 <= repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat must be from 1 to {MAX_REPEAT}")
    if options.dry_run or options.provider_batch:
        raise UsageError("calibrate runs its reviews now: no dry run, no provider batch")
    problems: list[str] = []
    gates = _gates(ws, gate_refs, problems)
    runner = prepare_runner(ws, options)
    model_id = runner.partition.model_id
    cases, files = _usable_cases(ws, gates, problems)
    if not cases:
        raise UserError(
            "no calibration examples for these gates; write them as "
            f"{ws.config.gates_dir}/<lens>/<gate>.examples/<name>.md with `expected:`"
            + (f" ({'; '.join(problems[:3])})" if problems else "")
        )
    git = ws.git_state()
    by_id = {g.id: g for g in gates}
    wanted = {(c.note_path, c.gate_id) for c in cases}
    stale = {
        (p.note_path, p.gate_id): p.reason
        for p in flatten(
            select_stale(
                ws.store,
                git,
                notes=list(files.values()),
                gates=[by_id[g] for g in {c.gate_id for c in cases}],
                model_id=model_id,
                in_progress=True,
            )
        )
        if (p.note_path, p.gate_id) in wanted
    }
    for (note, gate_id), reason in sorted(stale.items()):
        if reason in (StaleReason.GATE_DIRTY, StaleReason.IN_PROGRESS):
            problems.append(f"{note} :: {gate_id}: not reviewed ({reason.value})")
    blocked = {
        pair for pair, r in stale.items() if r in (StaleReason.GATE_DIRTY, StaleReason.IN_PROGRESS)
    }
    held = _current(ws, model_id, cases, files, by_id)
    need: dict[tuple[str, str], int] = {}
    for case in cases:
        pair = (case.note_path, case.gate_id)
        if pair in blocked:
            continue
        have = len(held.get(pair, ()))
        rounds = max(repeat - have, 1 if pair in stale else 0)
        if rounds:
            need[pair] = rounds
    sweeps: list[SweepReport] = []
    for round_no in range(1, max(need.values(), default=0) + 1):
        pairs = sorted(p for p, n in need.items() if n >= round_no)
        # Repeats review fresh pairs on purpose: claiming would leave them out.
        claim = round_no == 1 and all(p in stale for p in pairs)
        report = _review(ws, runner, options, pairs, files, by_id, batch_size, events, claim)
        sweeps.append(report)
        if report.stopped is not None or report.usage_limited:
            problems.append(f"stopped: {report.stopped or 'usage limit'}")
            break
    held = _current(ws, model_id, cases, files, by_id)
    return CalibrationReport(
        model_id=model_id,
        gates=tuple(_figures(model_id, cases, held, repeat)),
        reviewed=sum(len(b.outcomes) for s in sweeps for b in s.batches),
        run_ids=tuple(o.review_run_id for s in sweeps for b in s.batches for o in b.outcomes),
        failed=sum(s.failed for s in sweeps),
        problems=tuple(problems),
        sweeps=tuple(sweeps),
    )


def calibration_summary(
    ws: Workspace, model: str, effort: str | None = None, *, repeat: int = 1
) -> list[GateCalibration]:
    """The calibration figures of every catalog gate with cases, from the store
    as it is (nothing reviewed): for reports. `stale` counts the cases whose
    current versions no review judged."""
    return partition_calibration(ws, ws.partition(model, effort).model_id, repeat=repeat)


def partition_calibration(
    ws: Workspace, model_id: str, *, repeat: int = 1
) -> list[GateCalibration]:
    """`calibration_summary` of a partition already resolved (a report's)."""
    problems: list[str] = []
    gates = _gates(ws, (), problems)
    cases, files = _usable_cases(ws, gates, problems)
    if not cases:
        return []
    held = _current(ws, model_id, cases, files, {g.id: g for g in gates})
    return _figures(model_id, cases, held, repeat)


def _gates(ws: Workspace, gate_refs: Sequence[str], problems: list[str]) -> list[Gate]:
    """Catalog gates named (every one when none is): examples live beside gate files."""
    if gate_refs:
        scan = load_gate_refs(ws.config, gate_refs, cwd=ws.cwd)
    else:
        scan = load_found_gates(ws.config, all_gate_ids(ws.config))
    problems += (f"gate {u.key}: {u.reason}: {u.detail}" for u in scan.unusable)
    return scan.gates


def _usable_cases(
    ws: Workspace, gates: Sequence[Gate], problems: list[str]
) -> tuple[list[CalibrationCase], dict[str, KbFile]]:
    """The cases whose file reads and whose gate applies to it, with the files."""
    by_id = {g.id: g for g in gates}
    files: dict[str, KbFile] = {}
    usable: list[CalibrationCase] = []
    for case in calibration_cases(ws, gates, problems):
        gate = by_id.get(case.gate_id)
        if gate is None:
            continue
        try:
            file = files.get(case.note_path) or read_file(ws.config.kb_root, case.note_path)
            facts = note_facts(file)
        except UserError as exc:
            problems.append(f"{case.note_path}: {exc.message}")
            continue
        if not gate.applies_to(facts):
            problems.append(
                f"{case.note_path}: {gate.id} does not apply to it ({gate.skip_reason(facts)})"
            )
            continue
        files[case.note_path] = file
        usable.append(case)
    return usable, files


def _current(
    ws: Workspace,
    model_id: str,
    cases: Sequence[CalibrationCase],
    files: dict[str, KbFile],
    gates: dict[str, Gate],
) -> dict[tuple[str, str], list[str]]:
    """Per pair, the decisions of the reviews that judged its current versions."""
    with ws.store.read() as conn:
        rows = completed_reviews(conn, model_id, {c.note_path for c in cases})
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        file, gate = files.get(row.note_path), gates.get(row.gate_id)
        if (
            file is not None
            and gate is not None
            and (row.note_sha, row.gate_sha)
            == (
                file.sha,
                gate.sha,
            )
        ):
            found[(row.note_path, row.gate_id)].append(row.decision)
    return found


def _review(
    ws: Workspace,
    runner: RunnerCall,
    options: SweepOptions,
    pairs: Sequence[tuple[str, str]],
    files: dict[str, KbFile],
    gates: dict[str, Gate],
    batch_size: int,
    events: SweepEvents | None,
    claim: bool,
) -> SweepReport:
    """One round: per gate, `batch_size` cases a batch (the gate's text shared)."""
    git = ws.git_state()
    by_gate: dict[str, list[KbFile]] = defaultdict(list)
    for note_path, gate_id in pairs:
        by_gate[gate_id].append(files[note_path])
    plans = [
        plan_runs(
            ws.config,
            git,
            [(f, [gate_id]) for f in notes[i : i + batch_size]],
            [gates[gate_id]],
        )
        for gate_id, notes in sorted(by_gate.items())
        for i in range(0, len(notes), batch_size)
    ]
    return execute_plans(ws, runner, plans, Packing.GATE, options, claim=claim, events=events)


def _figures(
    model_id: str,
    cases: Sequence[CalibrationCase],
    held: dict[tuple[str, str], list[str]],
    repeat: int,
) -> list[GateCalibration]:
    per_gate: dict[str, list[CaseResult]] = defaultdict(list)
    for case in cases:
        decisions = held.get((case.note_path, case.gate_id), [])
        per_gate[case.gate_id].append(
            CaseResult(case.note_path, case.expected, tuple(decisions[-repeat:]))
        )
    return [figures(g, model_id, per_gate[g], repeat) for g in sorted(per_gate)]
