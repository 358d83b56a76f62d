"""commonplace-repair-codex-model-partitions [--runner codex|claude-code|all]
[--review-run-id N...] [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.repair import RepairReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runner",
        choices=("codex", "claude-code", "all"),
        default="all",
        help="whose session logs to read, and whose runs to repair (default: all)",
    )
    parser.add_argument(
        "--review-run-id",
        dest="review_run_ids",
        type=app.positive_int,
        nargs="+",
        action="extend",
        default=[],
        metavar="N",
        help="repair only these runs, whatever runner label they carry",
    )
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    import os

    from commonplace.runners import get_runner
    from commonplace.services.repair import REPAIRABLE_RUNNERS, repair_model_partitions

    ws = app.workspace(args, reads_only=True)
    names = REPAIRABLE_RUNNERS if args.runner == "all" else (args.runner,)
    report = repair_model_partitions(
        ws.store,
        [get_runner(ws.config, name) for name in names],
        kb_root=ws.config.kb_root,
        env=dict(os.environ),
        review_run_ids=args.review_run_ids,
        dry_run=args.dry_run,
    )
    app.emit(args, _payload(report), lambda: _text(report))
    return 0


def _payload(report: RepairReport) -> dict[str, object]:
    return {
        "dry_run": report.dry_run,
        "session_logs": report.session_logs,
        "scanned": report.scanned,
        "matched": report.matched,
        "telemetry_updated": report.telemetry_updated,
        "rekeyed": report.rekeyed,
        "unresolved": report.unresolved,
        "runs": [
            {
                "review_run_id": r.review_run_id,
                "runner": r.runner,
                "model_id": r.model_id,
                "rekeyed_from": r.rekeyed_from,
                "telemetry_updated": r.telemetry_updated,
                "session_logs": list(r.session_logs),
                "unresolved": r.unresolved,
            }
            for r in report.runs
        ],
    }


def _text(report: RepairReport) -> str:
    lines = []
    for r in report.runs:
        if r.rekeyed_from:
            lines.append(f"run {r.review_run_id}: {r.rekeyed_from} -> {r.model_id}")
        elif r.telemetry_updated:
            lines.append(f"run {r.review_run_id}: telemetry restored ({r.model_id})")
        if r.unresolved:
            lines.append(f"run {r.review_run_id}: unresolved: {r.unresolved}")
    mode = "dry run, nothing changed" if report.dry_run else "written"
    lines.append(
        f"scanned {report.scanned} run(s) against {report.session_logs} session log(s):"
        f" matched {report.matched}, telemetry updated {report.telemetry_updated},"
        f" rekeyed {report.rekeyed}, unresolved {report.unresolved} ({mode})"
    )
    return "\n".join(lines)
