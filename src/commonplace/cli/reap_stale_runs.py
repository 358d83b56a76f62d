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
        help=(
            "runs without a lease (external executors, older versions) running longer"
            " than this (0s, 90m, 2h; default 2h); a run whose lease expired is reaped"
            " at any age, one under a live lease never"
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="list, change nothing")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.lifecycle import reap_runs
    from commonplace.owners import stop_orphaned_runners

    ws = app.workspace(args, reads_only=True)
    reaped = reap_runs(ws.store, older_than=args.older_than, dry_run=args.dry_run)
    groups = stop_orphaned_runners(dry_run=args.dry_run)
    verb = "would reap" if args.dry_run else "reaped"
    ids = [run.review_run_id for run in reaped]
    lines = [f"{verb} {len(ids)} run(s)" + (f": {', '.join(map(str, ids))}" if ids else "")]
    lines += [
        f"  run {run.review_run_id}: {app.shown(run.reason, backslashes=False)}" for run in reaped
    ]
    if groups:
        stop = "would stop" if args.dry_run else "stopped"
        lines.append(
            f"{stop} {len(groups)} runner process group(s) of dead owners:"
            f" {', '.join(map(str, groups))}"
        )
    payload = {
        "reaped": ids,
        "runs": [{"review_run_id": run.review_run_id, "reason": run.reason} for run in reaped],
        "stopped_process_groups": groups,
        "dry_run": args.dry_run,
    }
    app.emit(args, payload, "\n".join(lines))
    return 0
