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
    payload: dict[str, object] = {
        "review_run_id": outcome.review_run_id,
        "status": outcome.status.value,
        "model_id": outcome.model_id,
        "accepted": outcome.accepted,
    }
    if outcome.reason:
        payload["reason"] = outcome.reason
    if outcome.reason:
        app.emit(args, payload, "")
        app.error(f"review run {outcome.review_run_id} failed: {outcome.reason}")
        return 1
    app.emit(
        args,
        payload,
        f"review run {outcome.review_run_id} completed ({outcome.model_id}), "
        f"{outcome.accepted} pair(s) accepted",
    )
    return 0
