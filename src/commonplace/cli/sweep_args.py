"""What the commands that review through a runner share: their options, how
a sweep is shown and stopped while it runs, and how its report is printed
and turned into an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from commonplace.choices import DEFAULT_TIMEOUT
from commonplace.cli import app
from commonplace.errors import UsageLimitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.events import SweepEvents
    from commonplace.services.sweeps import SweepOptions, SweepReport
    from commonplace.workspace import Workspace

# a sweep that hit a usage limit ends as a UsageLimitError would (75, EX_TEMPFAIL)
EXIT_USAGE_LIMIT = UsageLimitError.exit_code


def add_runner_options(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    parser.add_argument(
        "--runner",
        metavar="RUNNER",
        help="claude-code, codex, anthropic-api, openai-api, or a [runners.<name>] command"
        " from commonplace.toml"
        " (default: runner under [defaults])",
    )
    app.add_model(parser, required=False)
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="stop a runner call after this long (default: the runner's or [defaults] timeout,"
        f" else {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--no-retry-missing",
        dest="retry_missing",
        action="store_false",
        help="do not re-ask once for the pairs missing from the output",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print a forecast (batches, pairs, tokens, cost); create and change nothing",
    )
    parser.add_argument(
        "--show-prompts",
        action="store_true",
        help="with --dry-run: print the prompts instead of the forecast",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="with --dry-run: list every batch (note, gates, size) before the summary"
        " (--json always lists them)",
    )
    if sweep:
        parser.add_argument(
            "--stream", action="store_true", help="show the runners' live output on stderr"
        )
    else:
        parser.add_argument(
            "--quiet", action="store_true", help="do not show the runner's live output on stderr"
        )
    app.add_db(parser)
    app.add_json(parser)


def add_budget(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-cost-usd",
        type=app.amount_usd,
        metavar="USD",
        help="refuse to start when the forecast cost exceeds this (see --dry-run);"
        " stop launching once the reported cost reaches it",
    )


def add_provider_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider-batch",
        action="store_true",
        help="submit the batches as provider batch jobs (anthropic-api, openai-api: half price)"
        " and return; collect with commonplace-collect-provider-batches",
    )
    parser.add_argument(
        "--wait", action="store_true", help="with --provider-batch: wait for the jobs and collect"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS
    )


def sweep_options(args: argparse.Namespace, ws: Workspace, **more: object) -> SweepOptions:
    """Options from the command line, completed from [defaults]."""
    from commonplace.errors import UsageError
    from commonplace.services.sweeps import SweepOptions

    defaults = ws.config.defaults
    runner = args.runner or defaults.runner
    model = args.model or defaults.model
    if not runner:
        raise UsageError("--runner is required (or set runner under [defaults])")
    if not model:
        raise UsageError("--model is required (or set model under [defaults])")
    if args.show_prompts and not args.dry_run:
        raise UsageError("--show-prompts goes with --dry-run")
    if args.list and not args.dry_run:
        raise UsageError("--list goes with --dry-run")
    if args.list and args.show_prompts:
        raise UsageError("--list or --show-prompts, not both: the prompts name every batch")
    effort = args.effort or (defaults.effort if not args.model else None)
    if getattr(args, "wait", False) and not getattr(args, "provider_batch", False):
        raise UsageError("--wait goes with --provider-batch")
    if getattr(args, "provider_batch", False):
        more = {**more, "provider_batch": True}
    return SweepOptions(
        runner=runner,
        model=model,
        effort=effort,
        timeout=args.timeout,
        retry_missing=args.retry_missing,
        dry_run=args.dry_run,
        stream=_streams(args),
        **more,  # type: ignore[arg-type]
    )


def emit_report(args: argparse.Namespace, report: SweepReport) -> int:
    if report.dry_run:
        return _emit_dry_run(args, report)
    payload = {
        "runner": report.runner,
        "model_id": report.model_id,
        "batches": [
            {
                "batch_id": b.batch_id,
                "runner": b.runner,
                "model_id": b.model_id,
                "notes": list(b.note_paths),
                "completed": b.completed,
                "failed": [{"review_run_id": i, "reason": r} for i, r in b.failed],
                "cost_usd": b.cost_usd,
                "warnings": list(b.warnings),
            }
            for b in report.batches
        ],
        "completed": report.completed,
        "failed": report.failed,
        "skipped": app.skipped_pairs(report.skipped),
        "unreviewable": [u.as_json() for u in report.unreviewable],
        "cost_usd": report.cost_usd,
        "usage_limited": report.usage_limited,
        "stopped": report.stopped,
        "not_launched": report.not_launched,
        "notices": list(report.notices),
    }

    def text() -> str:
        lines = []
        for b in report.batches:
            moved = (
                f", rekeyed to {b.model_id}" if b.model_id not in (None, report.model_id) else ""
            )
            lines.append(
                f"batch {b.batch_id} ({b.runner}{moved}) {', '.join(map(app.shown, b.note_paths))}:"
                f" {len(b.completed)} completed, {len(b.failed)} failed"
            )
            lines += [
                f"  review run {i} failed: {app.shown(r, backslashes=False)}" for i, r in b.failed
            ]
        lines += [
            f"skipped {app.shown(s.note_path)} :: {app.shown(s.gate_id)}: {s.reason}"
            for s in report.skipped
        ]
        cost = f", ${report.cost_usd:.4f} reported" if report.cost_usd is not None else ""
        lines.append(
            f"{report.completed} run(s) completed, {report.failed} failed"
            f" in {len(report.batches)} batch(es) ({report.model_id}{cost})"
        )
        if report.stopped:
            lines.append(f"stopped launching: {report.stopped}; {report.not_launched} not launched")
        if report.failed:
            lines.append(
                "a failed run stays failed and its pairs stale: run the same command again"
                " to review them in new runs"
            )
        return "\n".join(lines)

    app.emit(args, payload, text)
    warn_unreviewable(report)
    for b in report.batches:
        app.warn(b.warnings)
    for notice in report.notices:  # once, whatever the number of batches
        print(f"notice: {notice}", file=sys.stderr)
    if report.usage_limited:
        app.error("usage limit reached; try again later")
        return EXIT_USAGE_LIMIT
    return 1 if report.failed else 0


def _emit_dry_run(args: argparse.Namespace, report: SweepReport) -> int:
    if not args.show_prompts:
        from commonplace.cli import dry_run

        dry_run.emit_forecast(args, report)
        warn_unreviewable(report)
        return 0
    planned = tuple(report.planned)  # rendered once, for the payload and the text
    payload = {
        "dry_run": True,
        "runner": report.runner,
        "model_id": report.model_id,
        "batches": [
            {
                "notes": [t.note.key for t in b.plan.targets],
                "pairs": [str(p) for p in b.prompt.pairs],
                "prompt_chars": b.prompt.chars,
                "prompt": b.prompt.text,
            }
            for b in planned
        ],
        "skipped": app.skipped_pairs(report.skipped),
        "unreviewable": [u.as_json() for u in report.unreviewable],
        "not_launched": report.not_launched,
    }

    def text() -> str:
        parts = []
        count = len(planned)
        for number, b in enumerate(planned, 1):
            parts.append(
                f"=== dry run: batch {number} of {count} ({report.runner}, {report.model_id}),"
                f" {b.pairs} pair(s); run ids are assigned when it runs ===\n"
            )
            parts.append(b.prompt.text)
        parts += [f"skipped {s.note_path} :: {s.gate_id}: {s.reason}\n" for s in report.skipped]
        if not planned:
            parts.append("nothing to review\n")
        return "".join(parts).rstrip("\n")

    app.emit(args, payload, text)
    warn_unreviewable(report)
    return 0


def warn_unreviewable(report: SweepReport) -> None:
    """One warning line per note or gate left out, its name escaped."""
    app.warn([f"skipped {u.describe()}" for u in report.unreviewable])


@contextmanager
def sweep_events(args: argparse.Namespace, *, progress: bool = False) -> Iterator[SweepEvents]:
    """For the block: the runners' live text on stderr (unless quiet or a dry
    run), a progress bar when asked and stderr is a terminal, and Ctrl-C or
    SIGTERM stopping the sweep (`cli.signals`)."""
    from commonplace.cli import signals
    from commonplace.cli.progress import batch_printers, progress_bar
    from commonplace.services.events import SweepEvents

    stream = _streams(args)
    bar = progress and sys.stderr.isatty() and not args.json and not args.dry_run
    with signals.stop_on_signals() as stop:
        yield SweepEvents(
            live_text=batch_printers(sys.stderr) if stream else None,
            progress=progress_bar(sys.stderr) if bar else None,
            stop=stop,
        )


def _streams(args: argparse.Namespace) -> bool:
    """`--stream` for sweeps; for the others, unless `--quiet`; never in a dry run."""
    wanted = getattr(args, "stream", False) or not getattr(args, "quiet", True)
    return bool(wanted) and not args.dry_run


def _seconds(value: str) -> float:
    number = app.plain_number(value)
    # Finite and below ten years: `inf`, `nan` and `1e999` are mistakes, not "no limit".
    if number is None or not 0 < number <= 10 * 365 * 86400:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds (at most ten years), not {value[:40]!r}"
        )
    return number
