"""commonplace-reap-stale-runs [--older-than 2h] [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than",
        type=app.duration,
        default="2h",
        metavar="DURATION",
        help="running longer than this (0s, 90m, 2h; default 2h)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, change nothing")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.review.lifecycle import reap_stale_runs

    ws = app.workspace(args, reads_only=True)
    reaped = reap_stale_runs(ws.store, older_than=args.older_than, dry_run=args.dry_run)
    verb = "would reap" if args.dry_run else "reaped"
    app.emit(
        args,
        {"reaped": reaped, "dry_run": args.dry_run},
        f"{verb} {len(reaped)} run(s)" + (f": {', '.join(map(str, reaped))}" if reaped else ""),
    )
    return 0
