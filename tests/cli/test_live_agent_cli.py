"""The live-agent path: `commonplace-create-review-run --with-prompt`, an agent
writing the output file, `commonplace-ingest-bundle-output`. Also the corpus
note whose own text holds sentinel-like lines, through the live and batch paths."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import (
    CLAIM_NOTE,
    EX_CLAIM_GATE,
    EX_CLAIM_NOTE,
    Cli,
    acceptances,
    assert_refused,
    prompt_pairs,
)
from helpers.db import dump, one, rows, store_of, stored_text
from helpers.reviews import review

from commonplace.protocol.grammar import Pair, block, end_line, start_line
from commonplace.protocol.prompt import prompt_token, requested_pairs

MODEL = "demo"
EX_OVERREACH = "claims/overreaching-generalization"
EX_TAGS = "metadata/tags-present"

ARCHITECTURE = "kb/reference/review-architecture.md"  # quotes the pair grammar
CORPUS_GATES = ("frontmatter/description-discrimination", "prose/source-residue")
# A sentinel-like line the architecture note itself contains.
NOTE_SENTINEL = "=== PAIR REVIEW START: {note_path} :: {gate_id} ==="


# --- helpers -----------------------------------------------------------------------------


def create_with_prompt(cli: Cli, kb: Path, note: str, *gates: str) -> dict[str, Any]:
    result = cli(
        "create-review-run",
        note,
        *gates,
        *("--runner", "live-agent", "--model", MODEL, "--with-prompt", "--json"),
        cwd=kb,
    )
    assert result.code == 0, result.err
    return cast(dict[str, Any], result.json())


def agent_output(kb: Path, created: dict[str, Any], *, skip: Collection[Pair] = ()) -> str:
    """The agent's reply: the first sentinel glued to a sentence, as agents do."""
    token = created["boundary_token"]
    blocks = [
        block(p, review("PASS"), token=token) for p in prompt_pairs(kb, created) if p not in skip
    ]
    return "I reviewed it." + "\n".join(blocks)


def write_output(kb: Path, created: dict[str, Any], text: str) -> str:
    (kb / created["bundle_output_path"]).write_text(text, encoding="utf-8")
    return str(created["bundle_output_path"])


def ingest(cli: Cli, kb: Path, run_id: int, input_file: str) -> Any:
    return cli(
        "ingest-bundle-output",
        *("--review-run-id", str(run_id), "--input-file", input_file, "--json"),
        cwd=kb,
    )


def status(kb: Path, run_id: int) -> tuple[str, str | None]:
    return cast(
        tuple[str, str | None],
        one(store_of(kb), "SELECT status, failure_reason FROM review_runs WHERE id = ?", (run_id,)),
    )


# --- create-review-run --with-prompt ----------------------------------------------------------


def test_with_prompt_writes_the_prompt_and_names_the_output(cli, example_kb: Path) -> None:
    created = create_with_prompt(cli, example_kb, EX_CLAIM_NOTE, "claims", EX_TAGS)
    run_id, batch_id = created["review_run_id"], created["batch_id"]
    base = f"kb/reports/bundle-reviews/review-batch-{batch_id}"
    assert created["prompt_path"].startswith("kb/reports/bundle-reviews/prompts/")
    assert created["bundle_output_path"] == f"{base}/bundle-output.md"
    assert created["gate_ids"] == [EX_OVERREACH, EX_CLAIM_GATE, EX_TAGS]
    assert created["skipped"] == []
    prompt = (example_kb / created["prompt_path"]).read_text(encoding="utf-8")
    assert requested_pairs(prompt) == [Pair(EX_CLAIM_NOTE, g) for g in created["gate_ids"]]
    assert f"Review run id: {run_id}\n" in prompt
    assert f"{example_kb / created['bundle_output_path']}`; that file is the output" in prompt
    assert not (example_kb / created["bundle_output_path"]).exists()
    assert one(store_of(example_kb), "SELECT packing, prompt_chars FROM review_batches") == (
        "note",
        len(prompt),
    )


def test_without_with_prompt_no_prompt_is_written(cli, example_kb: Path) -> None:
    result = cli(
        "create-review-run", EX_CLAIM_NOTE, EX_TAGS, "--runner", "live-agent", "--model", MODEL,
        "--json", cwd=example_kb,
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = cast(dict[str, Any], result.json())
    assert "prompt_path" not in payload and "bundle_output_path" not in payload
    assert not (example_kb / "kb/reports/bundle-reviews").exists()
    assert one(store_of(example_kb), "SELECT prompt_sha256 FROM review_batches") is None


# --- ingest-bundle-output ---------------------------------------------------------------------


def test_a_sentinel_glued_to_a_sentence_completes_the_run(cli, example_kb: Path) -> None:
    kb = example_kb
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, "claims", EX_TAGS)
    text = agent_output(kb, created)
    first = start_line(Pair(EX_CLAIM_NOTE, EX_OVERREACH), token=created["boundary_token"])
    assert text.startswith(f"I reviewed it.{first}\n")
    result = ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    assert result.code == 0, result.err
    payload = result.json()
    assert payload["review_run_id"] == created["review_run_id"]
    assert payload["status"] == "completed"
    assert payload["model_id"] == "demo-reviewer-1"
    assert "reason" not in payload
    assert acceptances(kb) == 3
    rationales = rows(store_of(kb), "SELECT rationale_markdown FROM gate_reviews")
    assert all(r == (review("PASS"),) for r in rationales)


def test_a_missing_pair_fails_the_whole_run(cli, example_kb: Path) -> None:
    kb = example_kb
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, "claims")
    text = agent_output(kb, created, skip=[Pair(EX_CLAIM_NOTE, EX_CLAIM_GATE)])
    result = ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    assert_refused(result, 1, mentions=f"missing pair reviews: {EX_CLAIM_GATE}")
    payload = result.json()
    assert (payload["status"], payload["reason"]) == (
        "failed",
        f"missing pair reviews: {EX_CLAIM_GATE}",
    )
    assert acceptances(kb) == 0
    assert one(store_of(kb), "SELECT COUNT(*) FROM gate_reviews") == 0
    assert not (kb / f"kb/reports/bundle-reviews/review-run-{created['review_run_id']}").exists()


def test_a_malformed_output_fails_the_run(cli, example_kb: Path) -> None:
    kb = example_kb
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, EX_TAGS)
    pair = Pair(EX_CLAIM_NOTE, EX_TAGS)
    text = f"{start_line(pair, token=created['boundary_token'])}\n{review('PASS')}\n"  # no END
    result = ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    assert_refused(result, 1, mentions="is never closed")
    assert status(kb, created["review_run_id"])[0] == "failed"
    assert acceptances(kb) == 0


def final_run(cli: Cli, kb: Path, how: str) -> int:
    """A run of the live-agent path that ended `completed` or `failed`."""
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, "claims")
    skip = [] if how == "completed" else [Pair(EX_CLAIM_NOTE, EX_OVERREACH)]
    ingest(
        cli,
        kb,
        created["review_run_id"],
        write_output(kb, created, agent_output(kb, created, skip=skip)),
    )
    run_id = int(created["review_run_id"])
    assert status(kb, run_id)[0] == how
    return run_id


@pytest.mark.parametrize("how", ["completed", "failed"])
def test_a_final_run_is_refused_and_nothing_changes(cli, example_kb: Path, how: str) -> None:
    kb = example_kb
    run_id = final_run(cli, kb, how)
    complete = kb / "complete.md"
    pairs = [Pair(EX_CLAIM_NOTE, EX_OVERREACH), Pair(EX_CLAIM_NOTE, EX_CLAIM_GATE)]
    token = one(store_of(kb), "SELECT boundary_token FROM review_batches ORDER BY id DESC")
    complete.write_text(
        "".join(block(p, review("FAIL"), token=token) for p in pairs), encoding="utf-8"
    )
    before = dump(store_of(kb))
    artifacts_before = sorted(p.name for p in (kb / "kb/reports/bundle-reviews").iterdir())
    result = ingest(cli, kb, run_id, str(complete))
    assert_refused(result, 1, mentions=f"it is already {how}; nothing changed")
    assert dump(store_of(kb)) == before
    assert sorted(p.name for p in (kb / "kb/reports/bundle-reviews").iterdir()) == artifacts_before


def test_ingest_bundle_output_refusals_change_nothing(cli, example_kb: Path) -> None:
    kb = example_kb
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, EX_TAGS)
    output = write_output(kb, created, agent_output(kb, created))
    before = dump(store_of(kb))
    assert_refused(ingest(cli, kb, 77, output), 1, mentions="review run 77 not found")
    assert_refused(
        ingest(cli, kb, created["review_run_id"], "missing.md"), 1, mentions="cannot read"
    )
    assert_refused(ingest(cli, kb, 0, output), 2, mentions="positive whole number")
    assert dump(store_of(kb)) == before


def test_the_reported_output_path_ingests_from_a_subdirectory(cli, example_kb: Path) -> None:
    """The KB-relative `bundle_output_path` works as `--input-file` from a subdirectory."""
    notes_dir = example_kb / "kb" / "notes"
    result = cli(
        "create-review-run", "seed-packets.md", EX_TAGS, "--runner", "live-agent",
        "--model", MODEL, "--with-prompt", "--json", cwd=notes_dir,
    )  # fmt: skip
    created = cast(dict[str, Any], result.json())
    output = write_output(example_kb, created, agent_output(example_kb, created))
    done = cli(
        "ingest-bundle-output", "--review-run-id", str(created["review_run_id"]),
        "--input-file", output, cwd=notes_dir,
    )  # fmt: skip
    assert done.code == 0, done.err


def test_the_run_files_after_a_live_ingest(cli, example_kb: Path) -> None:
    kb = example_kb
    created = create_with_prompt(cli, kb, EX_CLAIM_NOTE, "claims")
    text = agent_output(kb, created)
    ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    run_dir = kb / f"kb/reports/bundle-reviews/review-run-{created['review_run_id']}"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "bundle-output.md",
        "claims__overreaching-generalization.md",
        "claims__title-states-a-claim.md",
    ]
    assert (kb / created["bundle_output_path"]).read_text(encoding="utf-8") == text
    assert stored_text(store_of(kb), "review_batches", "raw_output") == text


# --- the corpus note that quotes the grammar ---------------------------------------------------


def quoting_review(decision: str) -> str:
    """A review that quotes the note's own grammar example in a code fence."""
    return (
        "### Summary\nThe note documents the pair grammar with an example:\n\n"
        f"```\n{NOTE_SENTINEL}\n## Result: PASS|WARN|FAIL|ERROR\n"
        "=== PAIR REVIEW END: {note_path} :: {gate_id} ===\n```\n\n"
        f"### Findings\n- {decision}: the example sits far from the prose that explains it\n\n"
        f"## Result: {decision}\n"
    )


def quoting_output(pairs: list[Pair], token: str) -> str:
    blocks = [block(p, quoting_review("WARN"), token=token) for p in pairs]
    return "Reviews follow.\n\n" + "\n".join(blocks)


def assert_quotes_kept(kb: Path, run_id: int) -> None:
    rationales = rows(
        store_of(kb),
        "SELECT decision, rationale_markdown FROM gate_reviews WHERE review_run_id = ?",
        (run_id,),
    )
    assert len(rationales) == len(CORPUS_GATES)
    for decision, rationale in rationales:
        assert decision == "warn"
        assert rationale == quoting_review("WARN")


def test_the_grammar_quoting_note_through_the_live_path(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    assert NOTE_SENTINEL in (kb / ARCHITECTURE).read_text(encoding="utf-8")
    created = create_with_prompt(cli, kb, ARCHITECTURE, *CORPUS_GATES)
    prompt = (kb / created["prompt_path"]).read_text(encoding="utf-8")
    assert NOTE_SENTINEL in prompt  # the note is embedded whole
    pairs = requested_pairs(prompt)
    assert pairs == [Pair(ARCHITECTURE, g) for g in CORPUS_GATES]
    assert prompt_token(prompt) == created["boundary_token"]
    text = "I reviewed it." + quoting_output(pairs, created["boundary_token"])
    result = ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    assert result.code == 0, result.err
    assert result.json()["status"] == "completed"
    assert_quotes_kept(kb, created["review_run_id"])
    assert acceptances(kb) == 2


def test_the_grammar_quoting_note_through_the_batch_path(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    pair_args = [f"{n}::{g}" for n in (ARCHITECTURE, CLAIM_NOTE) for g in CORPUS_GATES]
    prepared = cli(
        "prepare-review-batch", *pair_args, "--runner", "claude-workflow", "--model", MODEL,
        "--json", cwd=kb,
    )  # fmt: skip
    assert prepared.code == 0, prepared.err
    batch = cast(dict[str, Any], prepared.json())
    pairs = requested_pairs((kb / batch["prompt_path"]).read_text(encoding="utf-8"))
    assert len(pairs) == 4
    output = quoting_output(pairs, batch["boundary_token"])
    (kb / batch["bundle_output_path"]).write_text(output, encoding="utf-8")
    result = cli(
        "ingest-batch-output", "--batch-id", str(batch["batch_id"]), "--input-file",
        batch["bundle_output_path"], "--json", cwd=kb,
    )  # fmt: skip
    assert result.code == 0, result.err
    architecture_run, claim_run = (r["review_run_id"] for r in batch["runs"])
    assert cast(dict[str, Any], result.json())["completed"] == [architecture_run, claim_run]
    assert_quotes_kept(kb, architecture_run)
    assert acceptances(kb) == 4


def test_an_unfenced_quote_of_the_grammar_is_review_text(cli, corpus_kb: Path) -> None:
    """The counterpart: quoted without a fence, the note's example sentinel
    lacks the batch's token, so it is review text like any other (in pairs-v1
    it was a real START line and failed the run)."""
    kb = corpus_kb
    created = create_with_prompt(cli, kb, ARCHITECTURE, CORPUS_GATES[0])
    pair = Pair(ARCHITECTURE, CORPUS_GATES[0])
    token = created["boundary_token"]
    body = f"### Summary\nIt shows:\n{NOTE_SENTINEL}\n\n## Result: WARN"
    text = f"{start_line(pair, token=token)}\n{body}\n{end_line(pair, token=token)}\n"
    result = ingest(cli, kb, created["review_run_id"], write_output(kb, created, text))
    assert result.code == 0, result.err
    assert status(kb, created["review_run_id"])[0] == "completed"
    (stored,) = rows(store_of(kb), "SELECT decision, rationale_markdown FROM gate_reviews")
    assert stored == ("warn", body + "\n")
