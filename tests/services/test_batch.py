"""Preparing batches for external executors (SPEC 9, 10): parsing `NOTE::GATE`
arguments, creating one run per note through the lifecycle, and the file-mode
prompt with its manifest, against the example KB and a real store."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers.kb import git
from helpers.store import (
    ABBREV,
    DATE,
    DEMO,
    FROST,
    OVERREACH,
    REPEATS,
    SEEDS,
    SKETCH,
    TAGS,
    TITLE_CLAIM,
    make_plan,
)
from helpers.store import prepare_batch as prepare

from commonplace.errors import UserError
from commonplace.kb.files import read_file
from commonplace.lifecycle import Packing, create_batch
from commonplace.protocol.grammar import Pair
from commonplace.protocol.prompt import FORMAT_VERSION, prompt_token, requested_pairs
from commonplace.services.artifacts import batch_dir
from commonplace.services.batch import (
    parse_pair_arg,
    publish_prompt,
    render_batch_prompt,
)
from commonplace.workspace import Workspace


def kb_path(ws: Workspace, relative: str) -> Path:
    return ws.config.kb_root / relative


def store_rows(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws.store.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def nothing_written(ws: Workspace) -> bool:
    """No store file and no artifact directory."""
    return not ws.store.path.exists() and not ws.config.reports_path.exists()


# --- parse_pair_arg --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"{FROST}::{TAGS}", (FROST, TAGS)),
        (f"{FROST} :: {TAGS}", (FROST, TAGS)),
        (f"{FROST}::{TAGS}.md", (FROST, TAGS)),
        (f"{FROST}::clarity", (FROST, "clarity")),
        ("notes/a::b.md::tags", ("notes/a::b.md", "tags")),
    ],
)
def test_parse_pair_arg(raw: str, expected: tuple[str, str]) -> None:
    assert parse_pair_arg(raw) == expected


@pytest.mark.parametrize("raw", ["no-separator", "::gate", "note::", "  ::  ", ""])
def test_parse_pair_arg_refuses_malformed_pairs(raw: str) -> None:
    with pytest.raises(UserError, match="not a pair"):
        parse_pair_arg(raw)


# --- prepare_review_batch ------------------------------------------------------------------


def test_one_run_per_note_in_the_order_named(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::{OVERREACH}", f"{FROST}::{TAGS}", f"{SEEDS}::{TITLE_CLAIM}")
    batch = prepared.batch
    assert [(r.note_path, r.gate_ids) for r in batch.runs] == [
        (SEEDS, (OVERREACH, TITLE_CLAIM)),
        (FROST, (TAGS,)),
    ]
    assert batch.model_id == "demo-reviewer-1"
    assert batch.skipped == ()
    (row,) = store_rows(ws, "SELECT packing, executor, requested_model FROM review_batches")
    assert row == ("explicit", "claude-workflow", "demo")
    statuses = store_rows(ws, "SELECT id, batch_id, status FROM review_runs ORDER BY id")
    assert statuses == [(r.review_run_id, batch.batch_id, "running") for r in batch.runs]


def test_a_lens_expands_and_duplicates_collapse(ws: Workspace) -> None:
    prepared = prepare(
        ws,
        f"{FROST}::clarity",
        f"{FROST}::{ABBREV}",
        f"./{FROST}::{REPEATS}.md",
        f"{FROST} :: clarity",
    )
    (run,) = prepared.batch.runs
    assert run.gate_ids == (REPEATS, ABBREV)
    assert store_rows(ws, "SELECT COUNT(*) FROM review_run_gates") == [(2,)]


def test_inapplicable_pairs_are_skipped_and_reported(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::claims", f"{SEEDS}::{TITLE_CLAIM}")
    assert [(r.note_path, r.gate_ids) for r in prepared.batch.runs] == [
        (FROST, (OVERREACH,)),
        (SEEDS, (TITLE_CLAIM,)),
    ]
    (skipped,) = prepared.batch.skipped
    assert (skipped.note_path, skipped.gate_id) == (FROST, TITLE_CLAIM)
    assert "title-as-claim" in skipped.reason


def test_a_note_whose_pairs_are_all_inapplicable_gets_no_run(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::{TITLE_CLAIM}", f"{SEEDS}::{TAGS}")
    assert [r.note_path for r in prepared.batch.runs] == [SEEDS]
    assert [(s.note_path, s.gate_id) for s in prepared.batch.skipped] == [(FROST, TITLE_CLAIM)]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((f"{FROST}::{TITLE_CLAIM}",), "no applicable gates"),
        ((f"kb/notes/no-such-note.md::{TAGS}", f"{SEEDS}::{TAGS}"), "no-such-note"),
        ((f"{SEEDS}::{TAGS}", f"{FROST}::claims/no-such-gate"), "claims/no-such-gate"),
        ((f"{SEEDS}::{TAGS}", f"{FROST}::no-such-lens"), "no-such-lens"),
        ((f"{SEEDS}::{TAGS}", "kb/notes::tags"), "names 5 notes"),
        ((f"{SEEDS}::{TAGS}", "note-without-gate::"), "not a pair"),
        ((), "at least one"),
    ],
    ids=[
        "all-inapplicable",
        "missing-note",
        "missing-gate",
        "missing-lens",
        "directory",
        "malformed",
        "empty",
    ],
)
def test_fatal_requests_write_nothing(ws: Workspace, pairs: tuple[str, ...], message: str) -> None:
    with pytest.raises(UserError, match=message):
        prepare(ws, *pairs)
    assert nothing_written(ws)


def test_a_dirty_gate_is_fatal_and_named(ws: Workspace) -> None:
    gate = kb_path(ws, f"kb/instructions/review-gates/{ABBREV}.md")
    gate.write_text(gate.read_text() + "\nOne more rule.\n")
    with pytest.raises(UserError, match=f"dirty gates are fatal: {ABBREV}"):
        prepare(ws, f"{SEEDS}::{TAGS}", f"{FROST}::clarity")
    assert nothing_written(ws)


def test_a_dirty_note_is_reviewed_without_a_commit(ws: Workspace) -> None:
    note = kb_path(ws, FROST)
    note.write_text(note.read_text() + "\nA late frost in May.\n")
    prepared = prepare(ws, f"{FROST}::{TAGS}", f"{SEEDS}::{TAGS}")
    rows = store_rows(
        ws, "SELECT note_path, reviewed_note_sha, reviewed_note_commit FROM review_runs"
    )
    by_note = {note_path: (sha, commit) for note_path, sha, commit in rows}
    assert by_note[FROST] == (read_file(ws.config.kb_root, FROST).sha, None)
    head = git(ws.config.kb_root, "rev-parse", "HEAD").strip()
    assert by_note[SEEDS][1] == head
    assert len(prepared.batch.runs) == 2


# --- the prompt and the manifest --------------------------------------------------------


def test_reported_paths_are_kb_relative_and_exist(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::{TAGS}")
    base = f"kb/reports/bundle-reviews/review-batch-{prepared.batch.batch_id}"
    # the prompt is kept once, named by its SHA-256 (what the store records)
    ((sha,),) = store_rows(ws, "SELECT prompt_sha256 FROM review_batches")
    assert prepared.prompt_path == f"kb/reports/bundle-reviews/prompts/{sha}.md"
    assert prepared.bundle_output_path == f"{base}/bundle-output.md"
    assert prepared.manifest_path == f"{base}/manifest.json"
    assert kb_path(ws, prepared.prompt_path).is_file()
    assert kb_path(ws, prepared.manifest_path).is_file()
    assert not kb_path(ws, prepared.bundle_output_path).exists()  # the executor writes it


def test_the_prompt_is_recorded_on_the_batch(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::clarity", f"{SEEDS}::claims")
    text = kb_path(ws, prepared.prompt_path).read_text(encoding="utf-8")
    (row,) = store_rows(
        ws, "SELECT prompt_sha256, prompt_chars, prompt_format_version FROM review_batches"
    )
    assert row == (hashlib.sha256(text.encode("utf-8")).hexdigest(), len(text), FORMAT_VERSION)


def test_each_batch_gets_its_own_token_stated_once_in_its_prompt(ws: Workspace) -> None:
    first = prepare(ws, f"{FROST}::clarity")
    second = prepare(ws, f"{FROST}::clarity")
    tokens = [first.batch.boundary_token, second.batch.boundary_token]
    assert tokens[0] != tokens[1]
    assert store_rows(ws, "SELECT boundary_token FROM review_batches ORDER BY id") == [
        (t,) for t in tokens
    ]
    for prepared in (first, second):
        text = kb_path(ws, prepared.prompt_path).read_text(encoding="utf-8")
        assert text.count(prepared.batch.boundary_token) == 1
        assert prompt_token(text) == prepared.batch.boundary_token


def test_the_prompt_lists_pairs_run_ids_and_the_output_path(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::clarity", f"{SEEDS}::clarity", f"{SEEDS}::{TITLE_CLAIM}")
    text = kb_path(ws, prepared.prompt_path).read_text(encoding="utf-8")
    expected = [Pair(r.note_path, g) for r in prepared.batch.runs for g in r.gate_ids]
    assert requested_pairs(text) == expected
    for run in prepared.batch.runs:
        assert f"\n### Note {run.note_path}\n\nReview run id: {run.review_run_id}\n" in text
    # Each gate definition is embedded once, however many notes it serves.
    assert text.count(f"### Gate {REPEATS}\n") == 1
    assert text.count(f"### Gate {TITLE_CLAIM}\n") == 1
    output = batch_dir(ws.config, prepared.batch.batch_id) / "bundle-output.md"
    assert f"`{output}`" in text


def test_render_batch_prompt_reproduces_the_published_prompt(ws: Workspace) -> None:
    plan = make_plan(ws.config.kb_root, [(FROST, [REPEATS, ABBREV]), (SEEDS, [OVERREACH])])
    created = create_batch(
        ws.store, plan, packing=Packing.EXPLICIT, runner="claude-workflow", partition=DEMO
    )
    prepared = publish_prompt(ws, plan, created)
    published = kb_path(ws, prepared.prompt_path).read_text(encoding="utf-8")
    output = str(batch_dir(ws.config, created.batch_id) / "bundle-output.md")
    run_ids = [run.review_run_id for run in created.runs]
    token = created.boundary_token
    again = render_batch_prompt(ws.config, plan, run_ids, token=token, output_path=output)
    assert again.text == published
    reply = render_batch_prompt(ws.config, plan, run_ids, token=token)
    assert "Reply with the blocks only" in reply.text
    assert str(output) not in reply.text
    assert requested_pairs(reply.text) == requested_pairs(published)


def test_the_prompt_embeds_the_texts_the_runs_record(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SKETCH}::{OVERREACH}", f"{DATE}::{OVERREACH}")
    text = kb_path(ws, prepared.prompt_path).read_text(encoding="utf-8")
    snapshots = store_rows(
        ws,
        "SELECT s.text FROM review_runs r JOIN snapshots s ON s.sha = r.reviewed_note_sha",
    )
    assert len(snapshots) == 2
    for (note_text,) in snapshots:
        assert note_text.strip("\n") in text


def test_the_manifest_matches_the_store(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::clarity", f"{FROST}::{TITLE_CLAIM}", f"{SEEDS}::{TAGS}")
    manifest = json.loads(kb_path(ws, prepared.manifest_path).read_text(encoding="utf-8"))
    batch_id = prepared.batch.batch_id
    (batch,) = store_rows(
        ws,
        "SELECT executor, requested_model_id, prompt_sha256, prompt_chars,"
        " prompt_format_version, boundary_token FROM review_batches",
    )
    assert (
        manifest["batch_id"],
        manifest["executor"],
        manifest["model_id"],
        manifest["prompt_sha256"],
        manifest["prompt_chars"],
        manifest["prompt_format_version"],
        manifest["boundary_token"],
    ) == (batch_id, *batch)
    assert manifest["prompt_format_version"] == "pairs-v2"
    assert manifest["boundary_token"] == prepared.batch.boundary_token
    runs = store_rows(ws, "SELECT id, note_path, reviewed_note_sha FROM review_runs ORDER BY id")
    gates = store_rows(
        ws, "SELECT review_run_id, gate_id, gate_sha FROM review_run_gates ORDER BY ordinal"
    )
    assert manifest["runs"] == [
        {
            "review_run_id": run_id,
            "note_path": note_path,
            "note_sha": note_sha,
            "gates": [{"gate_id": g, "gate_sha": s} for r, g, s in gates if r == run_id],
        }
        for run_id, note_path, note_sha in runs
    ]
    assert manifest["skipped"] == [
        {"note_path": FROST, "gate_id": TITLE_CLAIM, "reason": prepared.batch.skipped[0].reason}
    ]
    assert manifest["ingest_command"] == [
        "commonplace-ingest-batch-output",
        "--batch-id",
        str(batch_id),
        "--input-file",
        prepared.bundle_output_path,
    ]


def test_a_prompt_that_cannot_be_written_fails_the_runs(ws: Workspace) -> None:
    ws.config.reports_path.mkdir(parents=True)
    (ws.config.reports_path / "bundle-reviews").write_text("a file where a directory belongs\n")
    with pytest.raises(UserError, match="cannot write"):
        prepare(ws, f"{FROST}::{TAGS}", f"{SEEDS}::{TAGS}")
    runs = store_rows(ws, "SELECT status, failure_reason FROM review_runs")
    assert len(runs) == 2
    for status, reason in runs:
        assert status == "failed"
        assert reason.startswith("prompt not written: cannot write")
    assert store_rows(ws, "SELECT COUNT(*) FROM review_batches WHERE finished_at IS NULL") == [(0,)]
