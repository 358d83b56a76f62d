"""The one manifest builder (SPEC 9): the executor's batches and the batches
prepared for an external executor describe themselves with the same keys."""

from __future__ import annotations

import json

from helpers.store import ABBREV, DEMO, FROST, OVERREACH, REPEATS, SEEDS, make_plan

from commonplace.lifecycle import Packing, create_batch
from commonplace.services.batch import publish_prompt, render_batch_prompt
from commonplace.services.manifest import Requested, batch_manifest
from commonplace.workspace import Workspace

BATCH_KEYS = {
    "batch_id",
    "executor",
    "model_id",
    "prompt_format_version",
    "boundary_token",
    "prompt_sha256",
    "prompt_chars",
    "runs",
    "skipped",
}


def test_both_paths_share_the_batch_keys_and_differ_only_where_they_must(ws: Workspace) -> None:
    plan = make_plan(ws.config.kb_root, [(FROST, [REPEATS, ABBREV]), (SEEDS, [OVERREACH])])
    created = create_batch(ws.store, plan, packing=Packing.EXPLICIT, runner="x", partition=DEMO)
    published = publish_prompt(ws, plan, created)
    written = json.loads((ws.config.kb_root / published.manifest_path).read_text(encoding="utf-8"))
    run_ids = [run.review_run_id for run in created.runs]
    prompt = render_batch_prompt(ws.config, plan, run_ids, token=created.boundary_token)
    external = batch_manifest(ws.config, plan, created, prompt, external=True)
    in_process = batch_manifest(
        ws.config, plan, created, prompt, requested=Requested("Demo", "high")
    )

    # the written manifest also names where its prompt is kept (by content)
    assert (
        set(written)
        == set(external) | {"prompt_file"}
        == BATCH_KEYS
        | {
            "ingest_command",
            "prompt_file",
        }
    )
    assert written["prompt_file"] == published.prompt_path
    assert set(in_process) == BATCH_KEYS | {"requested_model", "effort"}
    assert (in_process["requested_model"], in_process["effort"]) == ("Demo", "high")
    for key in ("batch_id", "executor", "model_id", "boundary_token", "skipped"):
        assert in_process[key] == external[key] == written[key]
    assert in_process["runs"] == [
        {"review_run_id": run_ids[0], "note_path": FROST, "gate_ids": [REPEATS, ABBREV]},
        {"review_run_id": run_ids[1], "note_path": SEEDS, "gate_ids": [OVERREACH]},
    ]
    assert [r["review_run_id"] for r in written["runs"]] == run_ids
    assert [[g["gate_id"] for g in r["gates"]] for r in written["runs"]] == [
        [REPEATS, ABBREV],
        [OVERREACH],
    ]
