"""commonplace-ingest-batch-output (--batch-id B | --review-run-ids N...) --input-file F"""

from __future__ import annotations

import argparse
import sys

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
    from commonplace.services.ingest import ingest_batch_output
    from commonplace.services.scope import runs_by_id

    ws = app.workspace(args)
    data = app.read_input_bytes(args.input_file, kb_root=ws.config.kb_root)
    report = ingest_batch_output(
        ws,
        data,
        batch_id=args.batch_id,
        review_run_ids=args.review_run_ids or (),
    )
    app.warn(report.warnings)
    # This ingest's outcomes; a run final before it is listed once, under already_final.
    completed = [o.review_run_id for o in report.outcomes if not o.reason]
    failed = [(o.review_run_id, o.reason or "") for o in report.outcomes if o.reason]
    failed_before = [
        (r.review_run_id, r.failure_reason or "")
        for r in report.already_final
        if r.status.value == "failed"
    ]
    payload = {
        "batch_id": report.batch_ids[0] if len(report.batch_ids) == 1 else None,
        "batch_ids": list(report.batch_ids),
        "completed": sorted(completed),
        "failed": [
            {"review_run_id": run_id, "reason": reason} for run_id, reason in sorted(failed)
        ],
        "already_final": sorted(r.review_run_id for r in report.already_final),
        "unknown": [
            {"review_run_id": run_id, "note_path": p.note_path, "gate_id": p.gate_id}
            for run_id, p in report.unknown
        ],
    }
    batches = ", ".join(map(str, report.batch_ids))
    lines = [f"batch {batches}: {len(completed)} completed, {len(failed)} failed"]
    if report.already_final:
        lines.append(
            f"  {len(report.already_final)} run(s) were already final"
            f" ({len(failed_before)} of them failed); left unchanged"
        )
    if report.unknown:
        lines.append(f"  {len(report.unknown)} pair(s) without a readable result line stay stale")
    app.emit(args, payload, "\n".join(lines))
    retries = runs_by_id(ws.store, [i for i, _ in failed + failed_before])
    for run_id, reason in sorted(failed):
        app.error(f"review run {run_id} failed: {reason}")
    for run_id, reason in sorted(failed_before):
        app.error(f"review run {run_id} had already failed: {reason}")
    for run in retries.values():
        print(
            f"hint: review run {run.review_run_id}: {app.retry_hint(run.note_path, run.gate_ids)}",
            file=sys.stderr,
        )
    # Exit 0 only when every run in scope ends completed (SPEC 7).
    return 1 if failed or failed_before else 0
