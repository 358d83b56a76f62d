"""commonplace calibrate [GATES...] --runner R --model M [--effort E] [--repeat N]
[--fail-under METRIC=VALUE ...] [--fail-over METRIC=VALUE ...] [--json]"""

from __future__ import annotations

import argparse

from commonplace.cli import app, sweep_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.calibration_figures import GateCalibration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Review each gate's labelled examples (<gate>.examples/<name>.md with `expected:`)"
        " through the runner, and report per gate: accuracy, hit rate, false-alarm rate,"
        " the confusion matrix, and with --repeat the self-consistency. Only examples or"
        " gates changed since the last calibration of the partition are reviewed again."
    )
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    parser.add_argument(
        "--repeat",
        type=app.positive_int,
        default=1,
        metavar="N",
        help="review each example up to N times as it is now, for the self-consistency",
    )
    parser.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when a gate's metric is below VALUE (accuracy, hit_rate, self_consistency)",
    )
    parser.add_argument(
        "--fail-over",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when a gate's metric is above VALUE (false_alarm_rate)",
    )
    parser.add_argument("--jobs", type=app.positive_int, metavar="N", help="batches run at once")
    sweep_args.add_runner_options(parser, sweep=True)


def run(args: argparse.Namespace) -> int:
    from commonplace.errors import UsageError
    from commonplace.services.calibration import calibrate
    from commonplace.services.calibration_figures import parse_threshold, violations

    if args.dry_run or args.show_prompts or args.list:
        raise UsageError("calibrate has no dry run: it reviews only the examples that changed")
    thresholds = [parse_threshold(t, under=True) for t in args.fail_under]
    thresholds += [parse_threshold(t, under=False) for t in args.fail_over]
    with sweep_args.sweep_events(args) as events:
        ws = app.workspace(args)
        jobs = args.jobs or ws.config.defaults.jobs
        options = sweep_args.sweep_options(args, ws, jobs=jobs)
        report = calibrate(ws, args.gates, options, repeat=args.repeat, events=events)
    failing = violations(report.gates, thresholds)
    payload = {
        "model_id": report.model_id,
        "reviewed": report.reviewed,
        "failed": report.failed,
        "run_ids": list(report.run_ids),
        "gates": [_gate_json(g) for g in report.gates],
        "problems": list(report.problems),
        "violations": failing,
    }

    def text() -> str:
        lines = [f"calibration in {report.model_id}: {report.reviewed} pairs reviewed now"]
        lines += [_gate_text(g) for g in report.gates]
        lines += [f"problem: {app.shown(p)}" for p in report.problems]
        lines += [f"FAILED {v}" for v in failing]
        return "\n".join(lines)

    app.emit(args, payload, text)
    return 1 if failing or report.failed else 0


def _gate_json(gate: GateCalibration) -> dict[str, object]:
    from dataclasses import asdict

    return {**asdict(gate), "is_stale": gate.is_stale}


def _gate_text(gate: GateCalibration) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    rows = "; ".join(
        f"{expected}->" + ",".join(f"{d}:{n}" for d, n in decided.items() if n)
        for expected, decided in gate.confusion.items()
        if any(decided.values())
    )
    consistency = (
        f" self-consistency {pct(gate.self_consistency)}"
        if gate.self_consistency is not None
        else ""
    )
    stale = f" ({gate.stale} not reviewed)" if gate.stale else ""
    return (
        f"  {gate.gate_id}: {gate.examples} examples, accuracy {pct(gate.accuracy)},"
        f" hit rate {pct(gate.hit_rate)}, false alarms {pct(gate.false_alarm_rate)}"
        f"{consistency}{stale} [{rows}]"
    )
