"""commonplace-ingest-bundle-output --review-run-id N --input-file F"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--review-run-id", type=app.positive_int, required=True)
    parser.add_argument(
        "--input-file", required=True, metavar="F", help="the agent's output (- for stdin)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.ingest import ingest_bundle_output

    ws = app.workspace(args)
    data = app.read_input_bytes(args.input_file, kb_root=ws.config.kb_root)
    report = ingest_bundle_output(ws, args.review_run_id, data)
    app.warn(report.warnings)
    outcome = report.outcomes[0]
    retry = app.run_retry_hint(ws, outcome.review_run_id) if outcome.reason else None
    unknown = [{"note_path": p.note_path, "gate_id": p.gate_id} for _, p in report.unknown]
    return app.emit_outcome(args, outcome, retry=retry, extra={"unknown": unknown})
