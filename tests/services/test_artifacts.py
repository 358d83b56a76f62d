"""Review artifacts under the reports directory (SPEC 9): the writers, and what
an ingest leaves on disk for batches and runs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers.reviews import review
from helpers.store import ABBREV, FROST, OVERREACH, REPEATS, SEEDS, TAGS, TITLE_CLAIM
from helpers.store import prepare_batch as prepare

from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.lifecycle import PendingReview, RunStatus, record_and_finalize_run
from commonplace.protocol.grammar import Pair, block, run_document
from commonplace.protocol.parser import parse_output
from commonplace.protocol.prompt import prompt_token, requested_pairs
from commonplace.services import artifacts
from commonplace.services.batch import PreparedBatch
from commonplace.services.ingest import ingest_batch_output, ingest_bundle_output
from commonplace.services.runs import create_review_run
from commonplace.store.batches import batch_output
from commonplace.store.runs import stored_document
from commonplace.workspace import Workspace

review_text = partial(review, finding="the second paragraph", summary="Checked.")


def output_for(ws: Workspace, prepared: PreparedBatch, *, skip: tuple[Pair, ...] = ()) -> str:
    prompt = (ws.config.kb_root / prepared.prompt_path).read_text(encoding="utf-8")
    decisions = ["PASS", "WARN", "FAIL"]
    token = prompt_token(prompt)
    return "".join(
        block(pair, review_text(decisions[i % 3]), token=token)
        for i, pair in enumerate(requested_pairs(prompt))
        if pair not in skip
    )


def document_of(ws: Workspace, run_id: int) -> str | None:
    """A run's document as the store reads it (long ones are kept compressed)."""
    with ws.store.read() as conn:
        return stored_document(conn, run_id)


def output_of(ws: Workspace, batch_id: int) -> str | None:
    with ws.store.read() as conn:
        return batch_output(conn, batch_id)


def column(ws: Workspace, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """The first column of a query's rows; the whole row when it has several."""
    conn = sqlite3.connect(ws.store.path)
    try:
        return [row[0] if len(row) == 1 else row for row in conn.execute(sql, params)]
    finally:
        conn.close()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- the writers ---------------------------------------------------------------------------


def test_artifact_locations(example_kb: Path) -> None:
    config = load_config(example_kb)
    reviews = example_kb / "kb" / "reports" / "bundle-reviews"
    assert artifacts.batch_dir(config, 7) == reviews / "review-batch-7"
    assert artifacts.run_dir(config, 12) == reviews / "review-run-12"
    assert artifacts.kb_relative(config, reviews / "x.md") == "kb/reports/bundle-reviews/x.md"
    outside = example_kb.parent / "elsewhere.md"
    assert artifacts.kb_relative(config, outside) == str(outside)


def test_write_text_creates_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.md"
    artifacts.write_text(Config(tmp_path), target, "first\r\nline\n")
    assert target.read_bytes() == b"first\r\nline\n"
    artifacts.write_text(Config(tmp_path), target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert listing(target.parent) == ["out.md"]


def test_write_text_failure_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory belongs\n")
    with pytest.raises(UserError, match="cannot write"):
        artifacts.write_text(Config(tmp_path), tmp_path / "blocker" / "out.md", "text\n")
    directory = tmp_path / "dir"
    (directory / "out.md").mkdir(parents=True)  # a directory where the file belongs
    with pytest.raises(UserError, match="cannot write"):
        artifacts.write_text(Config(tmp_path), directory / "out.md", "text\n")
    assert listing(directory) == ["out.md"]


def test_write_batch_files(example_kb: Path) -> None:
    config = load_config(example_kb)
    manifest = {"batch_id": 3, "runs": [{"review_run_id": 5}]}
    prompt_path, manifest_path = artifacts.write_batch_files(
        config, 3, prompt="# Prompt\n", manifest=manifest
    )
    sha = hashlib.sha256(b"# Prompt\n").hexdigest()
    assert prompt_path == config.reports_path / f"bundle-reviews/prompts/{sha}.md"
    assert prompt_path.read_text(encoding="utf-8") == "# Prompt\n"
    assert manifest_path == artifacts.batch_dir(config, 3) / "manifest.json"
    text = manifest_path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    named = f"kb/reports/bundle-reviews/prompts/{sha}.md"
    assert json.loads(text) == {**manifest, "prompt_file": named}
    # without a prompt, the manifest says none was kept
    _, manifest_path = artifacts.write_batch_files(config, 4, prompt=None, manifest=manifest)
    assert json.loads(manifest_path.read_text(encoding="utf-8"))["prompt_file"] is None


def test_keep_raw_output_never_overwrites(example_kb: Path) -> None:
    config = load_config(example_kb)
    path = artifacts.batch_dir(config, 2) / "bundle-output.md"
    artifacts.keep_raw_output(config, 2, "first output\n")
    assert path.read_text(encoding="utf-8") == "first output\n"
    artifacts.keep_raw_output(config, 2, "second output\n")
    assert path.read_text(encoding="utf-8") == "first output\n"


def test_write_run_files(example_kb: Path) -> None:
    config = load_config(example_kb)
    texts = [(OVERREACH, review_text("WARN")), (TITLE_CLAIM, review_text("PASS"))]
    document = run_document(4, SEEDS, texts, token="Some-batch-token")
    directory = artifacts.write_run_files(config, 4, document, texts)
    assert directory == artifacts.run_dir(config, 4)
    assert listing(directory) == [
        "bundle-output.md",
        "claims__overreaching-generalization.md",
        "claims__title-states-a-claim.md",
    ]
    assert (directory / "bundle-output.md").read_text(encoding="utf-8") == document
    written = (directory / "claims__overreaching-generalization.md").read_text(encoding="utf-8")
    assert written == review_text("WARN")


# --- what an ingest leaves behind ----------------------------------------------------------


def test_a_completed_run_gets_its_document_and_one_file_per_gate(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims", f"{FROST}::clarity")
    seeds_run, frost_run = (r.review_run_id for r in prepared.batch.runs)
    ingest_batch_output(ws, output_for(ws, prepared).encode(), batch_id=prepared.batch.batch_id)
    directory = artifacts.run_dir(ws.config, seeds_run)
    assert listing(directory) == [
        "bundle-output.md",
        "claims__overreaching-generalization.md",
        "claims__title-states-a-claim.md",
    ]
    document = (directory / "bundle-output.md").read_text(encoding="utf-8")
    assert document_of(ws, seeds_run) == document
    assert f"Review run id: {seeds_run}\n" in document
    for gate_id, rationale in zip(
        (OVERREACH, TITLE_CLAIM),
        column(
            ws, "SELECT rationale_markdown FROM gate_reviews WHERE review_run_id = ?", (seeds_run,)
        ),
        strict=True,
    ):
        per_gate = directory / (gate_id.replace("/", "__") + ".md")
        assert per_gate.read_text(encoding="utf-8") == rationale
    # The document is valid pair grammar holding exactly the run's pairs.
    pairs = [Pair(SEEDS, OVERREACH), Pair(SEEDS, TITLE_CLAIM)]
    parsed = parse_output(document, pairs, token=prepared.batch.boundary_token)
    assert parsed.missing == ()
    assert listing(artifacts.run_dir(ws.config, frost_run)) == [
        "bundle-output.md",
        "clarity__description-repeats-title.md",
        "clarity__undefined-abbreviation.md",
    ]


def test_the_run_document_is_re_ingestable(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims")
    (run,) = prepared.batch.runs
    ingest_batch_output(ws, output_for(ws, prepared).encode(), batch_id=prepared.batch.batch_id)
    document = (artifacts.run_dir(ws.config, run.review_run_id) / "bundle-output.md").read_bytes()
    # Into its own batch: the same blocks, so ingesting it again changes nothing.
    again = ingest_batch_output(ws, document, batch_id=prepared.batch.batch_id)
    assert [r.review_run_id for r in again.already_final] == [run.review_run_id]
    by_run = (
        "SELECT decision || ':' || rationale_markdown FROM gate_reviews WHERE review_run_id = ?"
    )
    bodies = parse_output(
        document.decode(),
        [Pair(SEEDS, g) for g in run.gate_ids],
        token=prepared.batch.boundary_token,
    ).bodies
    rationales = "SELECT rationale_markdown FROM gate_reviews WHERE review_run_id = ?"
    assert list(bodies.values()) == column(ws, rationales, (run.review_run_id,))
    # Into a later batch it is a replay: its blocks carry the old token.
    fresh = create_review_run(ws, note=SEEDS, gate_refs=["claims"], runner="x", model="demo")
    fresh_id = fresh.batch.runs[0].review_run_id
    outcome = ingest_bundle_output(ws, fresh_id, document).outcomes[0]
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason == (
        "no sentinel line carries the batch's boundary token (4 without it)"
        " (missing pair reviews: claims/overreaching-generalization, claims/title-states-a-claim)"
    )
    assert column(ws, by_run, (fresh_id,)) == []


def test_failed_runs_get_no_run_directory(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims", f"{FROST}::clarity")
    seeds_run, frost_run = (r.review_run_id for r in prepared.batch.runs)
    output = output_for(ws, prepared, skip=(Pair(FROST, ABBREV),))
    report = ingest_batch_output(ws, output.encode(), batch_id=prepared.batch.batch_id)
    assert report.completed == [seeds_run]
    assert not artifacts.run_dir(ws.config, frost_run).exists()
    # What did arrive is kept in the store, not as artifacts.
    kept = str(document_of(ws, frost_run))
    token = prepared.batch.boundary_token
    assert block(Pair(FROST, REPEATS), review_text("FAIL"), token=token) in kept


def test_a_malformed_output_writes_no_run_directory(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims")
    output = output_for(ws, prepared) + output_for(ws, prepared)  # every block twice
    report = ingest_batch_output(ws, output.encode(), batch_id=prepared.batch.batch_id)
    assert "a second block" in report.failed[0][1]
    assert not (ws.config.reports_path / "bundle-reviews" / "review-run-1").exists()
    batch_output = artifacts.batch_dir(ws.config, prepared.batch.batch_id) / "bundle-output.md"
    assert batch_output.read_text(encoding="utf-8") == output


def test_the_raw_output_is_kept_on_the_batch_and_beside_the_prompt(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims", f"{FROST}::{TAGS}")
    output = "Preamble from the executor.\n\n" + output_for(ws, prepared)
    ingest_batch_output(ws, output.encode(), batch_id=prepared.batch.batch_id)
    assert output_of(ws, prepared.batch.batch_id) == output
    kept = ws.config.kb_root / prepared.bundle_output_path
    assert kept.read_text(encoding="utf-8") == output
    assert listing(kept.parent) == ["bundle-output.md", "manifest.json"]
    assert (ws.config.kb_root / prepared.prompt_path).is_file()  # kept once, by content


def test_the_executors_own_output_file_is_not_overwritten(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::claims")
    written = ws.config.kb_root / prepared.bundle_output_path
    original = "Executor's notes.\n\n" + output_for(ws, prepared)
    written.write_text(original, encoding="utf-8")
    edited = original.replace("Executor's notes.", "Edited copy.")
    ingest_batch_output(ws, edited.encode(), batch_id=prepared.batch.batch_id)
    assert written.read_text(encoding="utf-8") == original
    assert output_of(ws, prepared.batch.batch_id) == edited


def test_ingesting_again_restores_files_a_crash_kept_from_being_written(ws: Workspace) -> None:
    """A crash between a run's commit and its files: the next ingest writes them."""
    prepared = prepare(ws, f"{SEEDS}::claims", f"{FROST}::clarity")
    seeds_run, frost_run = (r.review_run_id for r in prepared.batch.runs)
    texts = [(OVERREACH, review_text("WARN")), (TITLE_CLAIM, review_text("PASS"))]
    document = run_document(seeds_run, SEEDS, texts, token=prepared.batch.boundary_token)
    record_and_finalize_run(
        ws.store,
        seeds_run,
        reviews=[PendingReview.from_text(g, t) for g, t in texts],
        bundle_markdown=document,
    )
    assert not artifacts.run_dir(ws.config, seeds_run).exists()
    report = ingest_batch_output(
        ws, output_for(ws, prepared).encode(), batch_id=prepared.batch.batch_id
    )
    assert report.completed == [seeds_run, frost_run]
    directory = artifacts.run_dir(ws.config, seeds_run)
    assert (directory / "bundle-output.md").read_text(encoding="utf-8") == document
    per_gate = directory / "claims__overreaching-generalization.md"
    assert per_gate.read_text(encoding="utf-8") == review_text("WARN")


def test_the_background_writer_writes_in_order_and_turns_failures_into_warnings(
    tmp_path: Path,
) -> None:
    written: list[str] = []

    def note(name: str) -> None:
        written.append(name)

    def refuse(name: str) -> None:
        raise UserError(f"cannot write {name}")

    def crash(name: str) -> None:
        raise RuntimeError(name)

    with artifacts.BackgroundWriter() as writer:
        writer.submit(note, "first")
        writer.submit(refuse, "second")
        writer.submit(crash, "third")
        writer.submit(
            artifacts.write_text, Config(tmp_path), tmp_path / "deep" / "fourth.md", "four\n"
        )
        writer.submit(note, "fifth")
    assert written == ["first", "fifth"]
    assert (tmp_path / "deep" / "fourth.md").read_text(encoding="utf-8") == "four\n"
    assert writer.warnings[0] == "cannot write second"
    assert "RuntimeError: third" in writer.warnings[1]
    assert len(writer.warnings) == 2
