"""commonplace-review-sweep [GATES...] --runner R --model M [--jobs N] [--dry-run]"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from commonplace.choices import DEFAULT_JOBS, GROUPINGS, Grouping
from commonplace.cli import app, bulk, note_scope, sweep_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    app.add_note_scope(parser, "every reviewable note")
    note_scope.add_changed_since(parser)
    parser.add_argument(
        "--group",
        choices=GROUPINGS,
        default=Grouping.LENS.value,
        help="one batch per note and lens (default), or per note with all its stale gates",
    )
    parser.add_argument(
        "--jobs",
        type=app.positive_int,
        metavar="N",
        help=f"batches run at once (default: jobs under [defaults], else {DEFAULT_JOBS})",
    )
    parser.add_argument(
        "--max-batches", type=app.positive_int, metavar="N", help="launch at most N batches"
    )
    sweep_args.add_budget(parser)
    sweep_args.add_provider_batch(parser)
    sweep_args.add_runner_options(parser, sweep=True)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.sweeps import review_sweep

    with (
        sweep_args.sweep_events(args, progress=True) as events,
        bulk.collecting_rarely() if args.dry_run else nullcontext(),
    ):
        ws = app.workspace(args)
        jobs = args.jobs or ws.config.defaults.jobs
        options = sweep_args.sweep_options(
            args, ws, jobs=jobs, max_batches=args.max_batches, max_cost_usd=args.max_cost_usd
        )
        report = review_sweep(
            ws,
            args.gates,
            options,
            note_refs=args.notes,
            current_only=args.current,
            user_verified=args.user_verified,
            group=args.group,
            events=events,
            changed=note_scope.changed_scope(args, ws, args.gates),
        )
        if report.submission is not None:
            from commonplace.cli.collect_provider_batches import emit_submission

            return emit_submission(args, ws, report)
        return sweep_args.emit_report(args, report)
