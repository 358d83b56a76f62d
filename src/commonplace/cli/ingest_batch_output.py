"""commonplace-ingest-batch-output (--batch-id B | --review-run-ids N...) --input-file F"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--batch-id", type=app.positive_int, help="every run of this batch")
    scope.add_argument(
        "--review-run-ids", type=app.positive_int, nargs="+", metavar="N", help="these runs only"
    )
    parser.add_argument(
        "--input-file", required=True, metavar="F", help="the executor's output (- for stdin)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.review.ingest import ingest_batch_output

    ws = app.workspace(args)
    data = app.read_input_bytes(args.input_file, kb_root=ws.config.kb_root)
    report = ingest_batch_output(
        ws,
        data,
        batch_id=args.batch_id,
        review_run_ids=args.review_run_ids or (),
    )
    app.warn(report.warnings)
    failed = report.failed
    payload = {
        "batch_id": report.batch_ids[0] if len(report.batch_ids) == 1 else None,
        "batch_ids": list(report.batch_ids),
        "completed": report.completed,
        "failed": [{"review_run_id": run_id, "reason": reason} for run_id, reason in failed],
        "already_final": sorted(r.review_run_id for r in report.already_final),
    }
    batches = ", ".join(map(str, report.batch_ids))
    lines = [f"batch {batches}: {len(report.completed)} completed, {len(failed)} failed"]
    if report.already_final:
        lines.append(f"  {len(report.already_final)} run(s) were already final; left unchanged")
    app.emit(args, payload, "\n".join(lines))
    for run_id, reason in failed:
        app.error(f"review run {run_id} failed: {reason}")
    return 1 if failed else 0
