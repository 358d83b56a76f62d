"""commonplace-run-gate-sweep GATE --runner R --model M [--note ...|--current] [--batch-size N]"""

from __future__ import annotations

import argparse

from commonplace.choices import DEFAULT_BATCH_SIZE
from commonplace.cli import app, sweep_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gate", metavar="GATE", help="the gate to review the notes against")
    app.add_note_scope(parser, "every reviewable note the gate applies to")
    parser.add_argument(
        "--stale-only",
        action="store_true",
        help="only the notes whose pair with this gate is stale in the partition",
    )
    parser.add_argument(
        "--batch-size",
        type=app.positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"notes per batch (default {DEFAULT_BATCH_SIZE})",
    )
    sweep_args.add_budget(parser)
    sweep_args.add_provider_batch(parser)
    sweep_args.add_runner_options(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.sweeps import run_gate_sweep

    with sweep_args.sweep_events(args) as events:
        ws = app.workspace(args)
        report = run_gate_sweep(
            ws,
            args.gate,
            sweep_args.sweep_options(args, ws, max_cost_usd=args.max_cost_usd),
            note_refs=args.notes,
            current_only=args.current,
            user_verified=args.user_verified,
            stale_only=args.stale_only,
            batch_size=args.batch_size,
            events=events,
        )
        if report.submission is not None:
            from commonplace.cli.collect_provider_batches import emit_submission

            return emit_submission(args, ws, report)
        return sweep_args.emit_report(args, report)
