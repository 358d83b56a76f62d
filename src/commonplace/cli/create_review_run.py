"""commonplace-create-review-run NOTE GATE_OR_LENS... --runner LABEL --model M [--with-prompt]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("note", help="the note to review (path)")
    parser.add_argument("gates", nargs="+", metavar="GATE_OR_LENS", help="gate ids or lenses")
    parser.add_argument(
        "--runner", required=True, help="who executes the review (e.g. live-agent, claude-code)"
    )
    parser.add_argument(
        "--with-prompt",
        action="store_true",
        help="also write the live agent's prompt (reports prompt_path and bundle_output_path)",
    )
    app.add_model(parser)
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.kb.paths import shown
    from commonplace.services.runs import create_review_run

    result = create_review_run(
        app.workspace(args),
        note=args.note,
        gate_refs=args.gates,
        runner=args.runner,
        model=args.model,
        effort=args.effort,
        with_prompt=args.with_prompt,
    )
    batch = result.batch
    created = batch.runs[0]
    payload = {
        "review_run_id": created.review_run_id,
        "batch_id": batch.batch_id,
        "note_path": created.note_path,
        "model_id": created.model_id,
        "runner": batch.runner,
        "gate_ids": list(created.gate_ids),
        "skipped": [{"gate_id": s.gate_id, "reason": s.reason} for s in batch.skipped],
        # what every sentinel of an output for ingest-bundle-output must carry
        "boundary_token": batch.boundary_token,
    }
    lines = [f"review run {created.review_run_id} for {created.note_path} ({created.model_id})"]
    lines += [f"  gate {g}" for g in created.gate_ids]
    lines += [f"  skipped {shown(s.gate_id)}: {shown(s.reason)}" for s in batch.skipped]
    if result.prompt is not None:
        payload["prompt_path"] = result.prompt.prompt_path
        payload["bundle_output_path"] = result.prompt.bundle_output_path
        lines += [
            f"prompt: {result.prompt.prompt_path}",
            f"write the output to: {result.prompt.bundle_output_path}",
            "then: commonplace-ingest-bundle-output --review-run-id"
            f" {created.review_run_id} --input-file {result.prompt.bundle_output_path}",
        ]
    app.emit(args, payload, "\n".join(lines))
    return 0
