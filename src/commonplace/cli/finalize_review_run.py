"""commonplace-finalize-review-run --review-run-id N"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--review-run-id", type=app.positive_int, required=True)
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.review.runs import finalize_review_run

    outcome = finalize_review_run(app.workspace(args), review_run_id=args.review_run_id)
    return app.emit_outcome(args, outcome)
