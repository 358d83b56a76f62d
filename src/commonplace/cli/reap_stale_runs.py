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
    from commonplace.lifecycle import reap_stale_runs
    from commonplace.owners import stop_orphaned_runners

    ws = app.workspace(args, reads_only=True)
    reaped = reap_stale_runs(ws.store, older_than=args.older_than, dry_run=args.dry_run)
    groups = stop_orphaned_runners(dry_run=args.dry_run)
    verb = "would reap" if args.dry_run else "reaped"
    lines = [
        f"{verb} {len(reaped)} run(s)" + (f": {', '.join(map(str, reaped))}" if reaped else "")
    ]
    if groups:
        stop = "would stop" if args.dry_run else "stopped"
        lines.append(
            f"{stop} {len(groups)} runner process group(s) of dead owners:"
            f" {', '.join(map(str, groups))}"
        )
    app.emit(
        args,
        {"reaped": reaped, "stopped_process_groups": groups, "dry_run": args.dry_run},
        "\n".join(lines),
    )
    return 0
