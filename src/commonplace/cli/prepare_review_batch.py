"""commonplace-prepare-review-batch NOTE::GATE... --runner LABEL --model M"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pairs", nargs="+", metavar="NOTE::GATE", help="pairs to review (a lens names its gates)"
    )
    parser.add_argument(
        "--runner", required=True, help="label of the executor (e.g. claude-workflow, live-agent)"
    )
    app.add_model(parser)
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.kb.paths import shown
    from commonplace.services.batch import prepare_review_batch

    prepared = prepare_review_batch(
        app.workspace(args),
        args.pairs,
        runner=args.runner,
        model=args.model,
        effort=args.effort,
    )
    batch = prepared.batch
    payload = {
        "batch_id": batch.batch_id,
        "runner": batch.runner,
        "model_id": batch.model_id,
        "runs": [
            {
                "review_run_id": r.review_run_id,
                "note_path": r.note_path,
                "gate_ids": list(r.gate_ids),
            }
            for r in batch.runs
        ],
        "skipped": app.skipped_pairs(batch.skipped),
        "prompt_path": prepared.prompt_path,
        "bundle_output_path": prepared.bundle_output_path,
        "manifest_path": prepared.manifest_path,
        "boundary_token": batch.boundary_token,
    }
    pairs = sum(len(r.gate_ids) for r in batch.runs)
    lines = [
        f"batch {batch.batch_id}: {len(batch.runs)} run(s), {pairs} pair(s) ({batch.model_id})"
    ]
    lines += [f"  run {r.review_run_id} {r.note_path}: {', '.join(r.gate_ids)}" for r in batch.runs]
    lines += [
        f"  skipped {shown(s.note_path)} :: {shown(s.gate_id)}: {shown(s.reason)}"
        for s in batch.skipped
    ]
    lines += [
        f"prompt: {prepared.prompt_path}",
        f"boundary token: {batch.boundary_token}",
        f"write the output to: {prepared.bundle_output_path}",
        f"then: commonplace-ingest-batch-output --batch-id {batch.batch_id}"
        f" --input-file {prepared.bundle_output_path}",
    ]
    app.emit(args, payload, "\n".join(lines))
    return 0
