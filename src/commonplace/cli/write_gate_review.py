"""commonplace-write-gate-review --review-run-id N --gate G (--input-file F | stdin)"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--review-run-id", type=app.positive_int, required=True)
    parser.add_argument("--gate", required=True, help="the gate id reviewed")
    parser.add_argument(
        "--input-file",
        metavar="PATH",
        help="the review text (default: stdin); its result line gives the decision",
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.runs import write_gate_review

    text = app.read_text_input(args.input_file)
    recorded = write_gate_review(
        app.workspace(args), review_run_id=args.review_run_id, gate=args.gate, text=text
    )
    payload = {
        "review_run_id": recorded.review_run_id,
        "gate_id": recorded.gate_id,
        "gate_review_id": recorded.gate_review_id,
        "decision": recorded.decision.value,
    }
    app.emit(
        args,
        payload,
        f"recorded {recorded.gate_id}: {recorded.decision.value} "
        f"(gate review {recorded.gate_review_id})",
    )
    if recorded.decision.value == "unknown":
        app.warn(
            [
                "no readable result line (expected `## Result: PASS|WARN|FAIL|ERROR`):"
                " an unknown decision never makes the pair fresh"
            ]
        )
    return 0
