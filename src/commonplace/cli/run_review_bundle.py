"""commonplace-run-review-bundle NOTE GATE_OR_LENS... --runner R --model M [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app, sweep_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("note", metavar="NOTE", help="the note to review")
    parser.add_argument("gates", nargs="+", metavar="GATE_OR_LENS", help="gate ids or lenses")
    sweep_args.add_budget(parser)
    sweep_args.add_runner_options(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.sweeps import run_review_bundle

    with sweep_args.sweep_events(args) as events:
        ws = app.workspace(args)
        options = sweep_args.sweep_options(args, ws, max_cost_usd=args.max_cost_usd)
        report = run_review_bundle(ws, args.note, args.gates, options, events=events)
        return sweep_args.emit_report(args, report)
