"""commonplace-finalize-review-run --review-run-id N"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--review-run-id", type=app.positive_int, required=True)
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.ingest import unknown_decisions
    from commonplace.services.runs import finalize_review_run

    ws = app.workspace(args)
    outcome = finalize_review_run(ws, review_run_id=args.review_run_id)
    retry = app.run_retry_hint(ws, outcome.review_run_id) if outcome.reason else None
    unknown = unknown_decisions(ws.store, [outcome])
    app.warn(
        [
            f"no readable result line for {app.shown(p.gate_id)}: stored as unknown,"
            " so the pair stays stale until it is reviewed again"
            for _, p in unknown
        ]
    )
    extra: dict[str, object] = {
        "unknown": [{"note_path": p.note_path, "gate_id": p.gate_id} for _, p in unknown]
    }
    return app.emit_outcome(args, outcome, retry=retry, extra=extra)
