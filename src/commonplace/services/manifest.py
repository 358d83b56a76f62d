"""The manifest of a batch (SPEC 9): what its prompt was built from, written
next to the prompt by every path that renders one (the in-process executor,
`prepare-review-batch`, `create-review-run --with-prompt`)."""

from __future__ import annotations

from dataclasses import dataclass

from commonplace.config import Config
from commonplace.lifecycle import CreatedBatch
from commonplace.lifecycle.targets import Plan
from commonplace.protocol.prompt import RenderedPrompt
from commonplace.services import artifacts


@dataclass(frozen=True)
class Requested:
    """The model flags as the command was given them (the in-process executor
    knows them; a batch prepared for elsewhere records only its partition)."""

    model: str
    effort: str | None


def batch_manifest(
    config: Config,
    plan: Plan,
    created: CreatedBatch,
    prompt: RenderedPrompt,
    *,
    requested: Requested | None = None,
    external: bool = False,
) -> dict[str, object]:
    """The manifest of `created`, whose runs are `plan`'s targets in order.
    A batch for an `external` executor pins each note's and gate's sha and
    says how to ingest its output; the executor's lists each run's gates."""
    manifest: dict[str, object] = {
        "batch_id": created.batch_id,
        "executor": created.runner,
        "model_id": created.model_id,
    }
    if requested is not None:
        manifest |= {"requested_model": requested.model, "effort": requested.effort}
    manifest |= {
        "prompt_format_version": prompt.version,
        "boundary_token": created.boundary_token,
        "prompt_sha256": prompt.sha256,
        "prompt_chars": prompt.chars,
        "runs": [
            {
                "review_run_id": run.review_run_id,
                "note_path": run.note_path,
                "note_sha": target.note.sha,
                "gates": [{"gate_id": g.id, "gate_sha": g.sha} for g in target.gates],
            }
            if external
            else {
                "review_run_id": run.review_run_id,
                "note_path": run.note_path,
                "gate_ids": list(run.gate_ids),
            }
            for target, run in zip(plan.targets, created.runs, strict=True)
        ],
        "skipped": [
            {"note_path": s.note_path, "gate_id": s.gate_id, "reason": s.reason}
            for s in created.skipped
        ],
    }
    if external:
        output = artifacts.batch_dir(config, created.batch_id) / artifacts.OUTPUT
        manifest["ingest_command"] = [
            "commonplace-ingest-batch-output",
            "--batch-id",
            str(created.batch_id),
            "--input-file",
            artifacts.kb_relative(config, output),
        ]
    return manifest
