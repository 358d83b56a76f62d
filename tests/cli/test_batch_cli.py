"""`commonplace-prepare-review-batch` and `commonplace-ingest-batch-output`: an
external orchestrator's batch from prepare to ingest, with the salvage policy,
malformed outputs, repeatable ingest (also after a real SIGKILL), and refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import Cli, acceptances, assert_refused, prepare, prompt_pairs
from helpers.commands import console_script
from helpers.db import Target, dump, one, polling, rows, store_of, stored_text
from helpers.db import statuses as statuses_of
from helpers.kb import commit_all
from helpers.reviews import review
from helpers.store import ABBREV, DATE, FROST, OVERREACH, REPEATS, SEEDS, SKETCH, TAGS, TITLE_CLAIM

from commonplace.protocol.grammar import Pair, block, end_line, start_line
from commonplace.protocol.prompt import prompt_token

pytestmark = pytest.mark.both_backends

RUNNER = "claude-workflow"
MODEL = "demo"  # the example KB's alias of demo-reviewer-1


NOTES = (FROST, SEEDS, DATE)
GATES = (OVERREACH, TAGS)
THREE_BY_TWO = tuple(f"{note}::{gate}" for note in NOTES for gate in GATES)


# --- helpers -----------------------------------------------------------------------------


def reviewer_output(
    kb: Path, prepared: dict[str, Any], *, skip: Collection[Pair] = (), decision: str = "WARN"
) -> str:
    """What a reviewer that read the prompt writes: prose, then a block per pair."""
    blocks = [
        block(p, review(decision), token=prepared["boundary_token"])
        for p in prompt_pairs(kb, prepared)
        if p not in skip
    ]
    return "I reviewed every pair.\n\n" + "\n".join(blocks)


def write_output(kb: Path, prepared: dict[str, Any], content: str | bytes) -> str:
    """The output at the batch's `bundle_output_path`, where an executor writes it."""
    path = kb / prepared["bundle_output_path"]
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(prepared["bundle_output_path"])


def ingest(cli: Cli, kb: Path, *scope: str, input_file: str) -> Any:
    return cli("ingest-batch-output", *scope, "--input-file", input_file, "--json", cwd=kb)


def batch_scope(prepared: dict[str, Any]) -> tuple[str, str]:
    return ("--batch-id", str(prepared["batch_id"]))


def run_ids(prepared: dict[str, Any]) -> list[int]:
    return [r["review_run_id"] for r in prepared["runs"]]


def statuses(kb: Path) -> dict[int, str]:
    return statuses_of(store_of(kb))


def rows_of_runs(kb: Path, ids: Collection[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the store holds about these runs."""
    marks, params = ", ".join("?" * len(ids)), tuple(ids)
    db = store_of(kb)
    return {
        "runs": rows(db, f"SELECT * FROM review_runs WHERE id IN ({marks}) ORDER BY id", params),
        "gates": rows(
            db, f"SELECT * FROM review_run_gates WHERE review_run_id IN ({marks})", params
        ),
        "reviews": rows(
            db, f"SELECT * FROM gate_reviews WHERE review_run_id IN ({marks}) ORDER BY id", params
        ),
        "accepted": rows(
            db,
            "SELECT e.* FROM acceptance_events e JOIN gate_reviews r ON r.id ="
            f" e.accepted_review_id WHERE r.review_run_id IN ({marks}) ORDER BY e.id",
            params,
        ),
    }


def assert_store_checks(cli: Cli, kb: Path) -> None:
    result = cli("review-store", "check", "--json", cwd=kb)
    assert result.code == 0, result.out + result.err
    assert cast(dict[str, Any], result.json())["violations"] == []


def assert_nothing_written(kb: Path) -> None:
    assert not store_of(kb).exists()
    assert not (kb / "kb" / "reports").exists()


def accepted_once_per_pair(kb: Path) -> bool:
    counts = rows(
        store_of(kb),
        "SELECT r.review_run_id, e.gate_id, COUNT(*) FROM acceptance_events e"
        " JOIN gate_reviews r ON r.id = e.accepted_review_id GROUP BY 1, 2",
    )
    return all(count == 1 for *_, count in counts)


# --- acceptance: 3 notes x 2 gates, one pair missing --------------------------------------


def test_three_notes_two_gates_one_batch_one_pair_missing(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    assert {"batch_id", "runs", "skipped", "prompt_path", "bundle_output_path"} <= set(prepared)
    assert prepared["skipped"] == []
    assert [(r["note_path"], r["gate_ids"]) for r in prepared["runs"]] == [
        (note, list(GATES)) for note in NOTES
    ]
    assert all(set(r) == {"review_run_id", "note_path", "gate_ids"} for r in prepared["runs"])
    assert len(set(run_ids(prepared))) == 3
    assert (kb / prepared["prompt_path"]).is_file()

    lost = Pair(SEEDS, TAGS)
    output = write_output(kb, prepared, reviewer_output(kb, prepared, skip=[lost]))
    result = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert_refused(result, 1, mentions=f"missing pair reviews: {TAGS}")
    payload = result.json()
    first, second, third = run_ids(prepared)
    assert payload["batch_id"] == prepared["batch_id"]
    assert payload["completed"] == [first, third]
    assert payload["failed"] == [
        {"review_run_id": second, "reason": f"missing pair reviews: {TAGS}"}
    ]
    assert acceptances(kb) == 4
    assert statuses(kb) == {first: "completed", second: "failed", third: "completed"}
    assert_store_checks(cli, kb)


def test_a_complete_output_completes_the_batch(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    result = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert result.code == 0, result.err
    assert result.err == ""
    payload = result.json()
    assert payload["batch_id"] == prepared["batch_id"]
    assert payload["completed"] == run_ids(prepared)
    assert payload["failed"] == []
    assert payload["already_final"] == []
    assert acceptances(kb) == 6
    assert rows(store_of(kb), "SELECT DISTINCT decision, model_id FROM gate_reviews") == [
        ("warn", "demo-reviewer-1")
    ]


def test_output_on_stdin_and_human_messages(cli, example_kb: Path) -> None:
    kb = example_kb
    result = cli(
        "prepare-review-batch", *THREE_BY_TWO, "--runner", RUNNER, "--model", MODEL, cwd=kb
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    output_path = next(line for line in lines if line.startswith("write the output to: "))
    output_path = output_path.removeprefix("write the output to: ")
    assert f"then: commonplace-ingest-batch-output --batch-id 1 --input-file {output_path}" in lines
    prompt_path = next(line for line in lines if line.startswith("prompt: "))
    prepared = {"prompt_path": prompt_path.removeprefix("prompt: ")}
    prompt = (kb / prepared["prompt_path"]).read_text(encoding="utf-8")
    prepared["boundary_token"] = prompt_token(prompt)  # what a reviewer reads it from
    assert f"boundary token: {prepared['boundary_token']}" in lines
    text = reviewer_output(kb, prepared, skip=[Pair(DATE, OVERREACH)])
    done = cli("ingest-batch-output", "--batch-id", "1", "--input-file", "-", cwd=kb, stdin=text)
    assert done.code == 1
    assert "batch 1: 2 completed, 1 failed" in done.out
    assert_refused(done, 1, mentions=f"review run 3 failed: missing pair reviews: {OVERREACH}")


# --- malformed outputs fail every run of the batch -----------------------------------------


def _blocks(kb: Path, prepared: dict[str, Any]) -> list[str]:
    return [
        block(p, review("PASS"), token=prepared["boundary_token"])
        for p in prompt_pairs(kb, prepared)
    ]


def nested(kb: Path, prepared: dict[str, Any]) -> str:
    first, *rest = _blocks(kb, prepared)
    inner = block(Pair(FROST, REPEATS), review("PASS"), token=prepared["boundary_token"])
    return first.replace("### Findings", inner + "### Findings") + "".join(rest)


def unterminated(kb: Path, prepared: dict[str, Any]) -> str:
    text = "".join(_blocks(kb, prepared))
    return text[: text.rindex("=== PAIR REVIEW END")]


def duplicate(kb: Path, prepared: dict[str, Any]) -> str:
    blocks = _blocks(kb, prepared)
    return "".join(blocks) + blocks[2]


def unexpected(kb: Path, prepared: dict[str, Any]) -> str:
    return "".join(_blocks(kb, prepared)) + block(
        Pair(SKETCH, TAGS), review("PASS"), token=prepared["boundary_token"]
    )


def unrequested_gate(kb: Path, prepared: dict[str, Any]) -> str:
    return "".join(_blocks(kb, prepared)) + block(
        Pair(FROST, REPEATS), review("PASS"), token=prepared["boundary_token"]
    )


def stray_end(kb: Path, prepared: dict[str, Any]) -> str:
    return (
        end_line(Pair(FROST, TAGS), token=prepared["boundary_token"])
        + "\n"
        + "".join(_blocks(kb, prepared))
    )


def outside(kb: Path, prepared: dict[str, Any]) -> str:
    return "".join(_blocks(kb, prepared)) + block(
        Pair("../../etc/passwd", TAGS), review("PASS"), token=prepared["boundary_token"]
    )


def empty_body(kb: Path, prepared: dict[str, Any]) -> str:
    pairs = prompt_pairs(kb, prepared)
    token = prepared["boundary_token"]
    hollow = f"{start_line(pairs[-1], token=token)}\n\n   \n{end_line(pairs[-1], token=token)}\n"
    return "".join(_blocks(kb, prepared)[:-1]) + hollow


def mismatched_end(kb: Path, prepared: dict[str, Any]) -> str:
    pairs = prompt_pairs(kb, prepared)
    text = "".join(_blocks(kb, prepared))
    return text.replace(
        end_line(pairs[0], token=prepared["boundary_token"]),
        end_line(pairs[1], token=prepared["boundary_token"]),
        1,
    )


MALFORMED = {
    "nested": (nested, "blocks cannot nest"),
    "unterminated": (unterminated, "is never closed"),
    "duplicate": (duplicate, "a second block"),
    "unexpected-pair": (unexpected, "which was not requested"),
    "unrequested-gate": (unrequested_gate, "which was not requested"),
    "end-without-start": (stray_end, "without its START"),
    "path-outside-kb": (outside, "names a path outside the knowledge base"),
    "empty-body": (empty_body, "is empty"),
    "mismatched-end": (mismatched_end, "does not match the open block"),
    "binary-garbage": (lambda kb, p: bytes(range(256)) * 8, "binary data"),
    "not-utf8": (lambda kb, p: b"\xff\xfe review \xc3\x28 done\n", "not UTF-8"),
    "empty-file": (lambda kb, p: b"", "the output is empty"),
    "byte-order-mark-only": (lambda kb, p: b"\xef\xbb\xbf\n", "the output is empty"),
    "whitespace-only": (lambda kb, p: "\n  \n\t\n", "the output is empty"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_output_fails_every_run(cli, example_kb: Path, case: str) -> None:
    kb = example_kb
    make, message = MALFORMED[case]
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    output = write_output(kb, prepared, make(kb, prepared))
    result = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert_refused(result, 1, mentions=message)
    payload = result.json()
    assert payload["completed"] == []
    assert [f["review_run_id"] for f in payload["failed"]] == run_ids(prepared)
    for failure in payload["failed"]:
        assert failure["reason"].startswith("malformed output: ")
        assert message in failure["reason"]
    assert acceptances(kb) == 0
    assert one(store_of(kb), "SELECT COUNT(*) FROM gate_reviews") == 0
    assert set(statuses(kb).values()) == {"failed"}
    assert not list((kb / "kb/reports/bundle-reviews").glob("review-run-*"))
    assert_store_checks(cli, kb)


# --- repeatable ingest ----------------------------------------------------------------------


def test_ingesting_again_finishes_what_a_partial_ingest_left(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    first, second, third = run_ids(prepared)
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    partial = ingest(cli, kb, "--review-run-ids", str(first), str(third), input_file=output)
    assert partial.code == 0, partial.err
    assert partial.json()["completed"] == [first, third]
    assert statuses(kb)[second] == "running"
    before = rows_of_runs(kb, [first, third])

    again = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert again.code == 0, again.err
    payload = again.json()
    # Each run is listed once: finished now, or already final before.
    assert payload["completed"] == [second]
    assert payload["already_final"] == [first, third]
    assert payload["failed"] == []
    assert rows_of_runs(kb, [first, third]) == before
    assert acceptances(kb) == 6
    assert accepted_once_per_pair(kb)

    third_time = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert third_time.code == 0, third_time.err
    assert third_time.json()["already_final"] == [first, second, third]
    assert acceptances(kb) == 6
    assert_store_checks(cli, kb)


def test_a_run_that_already_failed_keeps_the_batch_failing(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    first, second, third = run_ids(prepared)
    incomplete = reviewer_output(kb, prepared, skip=[Pair(SEEDS, OVERREACH)])
    ingest(cli, kb, *batch_scope(prepared), input_file=write_output(kb, prepared, incomplete))
    before = rows_of_runs(kb, run_ids(prepared))
    complete = kb / "complete.md"
    complete.write_text(reviewer_output(kb, prepared), encoding="utf-8")
    again = ingest(cli, kb, *batch_scope(prepared), input_file=str(complete))
    assert_refused(again, 1, mentions=f"missing pair reviews: {OVERREACH}")
    assert again.json()["already_final"] == [first, second, third]
    assert rows_of_runs(kb, run_ids(prepared)) == before


def many_notes(kb: Path, count: int) -> list[str]:
    """`count` extra committed notes in the example KB; their keys."""
    folder = kb / "kb" / "notes" / "generated"
    folder.mkdir()
    keys = []
    for i in range(count):
        name = f"bed-{i:02d}-gets-its-own-row-in-the-planting-log.md"
        (folder / name).write_text(
            f"---\ndescription: Planting log of bed {i}\ntype: kb/types/note.md\n"
            f"traits: []\ntags: [beds]\n---\n\n# Bed {i} gets its own row\n\n"
            f"Bed {i} is sown in April and always does well.\n",
            encoding="utf-8",
        )
        keys.append(f"kb/notes/generated/{name}")
    commit_all(kb, "many notes")
    return keys


def kill_once_runs_are_final(proc: subprocess.Popen[bytes], db: Target, count: int) -> None:
    """SIGKILL the ingest as soon as it has finished `count` runs (or let it
    end if it is faster than the polling)."""
    with polling(db) as value:
        while proc.poll() is None:
            done = value("SELECT COUNT(*) FROM review_runs WHERE status <> 'running'")
            if (done or 0) >= count:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    proc.wait(timeout=120)


@pytest.mark.parametrize("kill_after", [1, 20], ids=["first-run", "mid-batch"])
def test_ingest_killed_with_sigkill_then_ingested_again(
    cli, example_kb: Path, kill_after: int
) -> None:
    kb, db = example_kb, store_of(example_kb)
    notes = many_notes(kb, 40)
    prepared = prepare(cli, kb, *(f"{n}::{g}" for n in notes for g in GATES))
    assert len(prepared["runs"]) == 40
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    proc = subprocess.Popen(
        [
            console_script("commonplace-ingest-batch-output"),
            *batch_scope(prepared),
            *("--input-file", output),
        ],
        cwd=kb,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_once_runs_are_final(proc, db, kill_after)

    again = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert again.code == 0, again.err
    finished = again.json()
    assert sorted(finished["completed"] + finished["already_final"]) == run_ids(prepared)
    assert set(statuses(kb).values()) == {"completed"}
    assert acceptances(kb) == 80
    assert accepted_once_per_pair(kb)
    assert_store_checks(cli, kb)
    for run_id in run_ids(prepared):  # files a kill kept from being written are restored
        assert (kb / f"kb/reports/bundle-reviews/review-run-{run_id}/bundle-output.md").is_file()


def test_two_racing_ingests_of_one_batch_finish_each_run_once(cli, example_kb: Path) -> None:
    kb = example_kb
    notes = many_notes(kb, 20)
    prepared = prepare(cli, kb, *(f"{n}::{TAGS}" for n in notes))
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    command = [
        console_script("commonplace-ingest-batch-output"),
        *batch_scope(prepared),
        *("--input-file", output, "--json"),
    ]
    procs = [
        subprocess.Popen(command, cwd=kb, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    payloads = [json.loads(out) for out, _ in results]
    assert all(sorted(p["completed"] + p["already_final"]) == run_ids(prepared) for p in payloads)
    # Every run was finished by exactly one of them; the other found it final.
    assert sorted(payloads[0]["completed"] + payloads[1]["completed"]) == run_ids(prepared)
    assert sorted(payloads[0]["already_final"] + payloads[1]["already_final"]) == run_ids(prepared)
    assert acceptances(kb) == 20
    assert accepted_once_per_pair(kb)
    assert_store_checks(cli, kb)


# --- prepare: what it reports and refuses --------------------------------------------------


def test_prepare_expands_lenses_collapses_duplicates_and_reports_skips(
    cli, example_kb: Path
) -> None:
    prepared = prepare(
        cli,
        example_kb,
        f"{FROST}::clarity",
        f"{FROST}::{ABBREV}.md",
        f"{FROST} :: clarity",
        f"{FROST}::claims",
        f"{SEEDS}::{TITLE_CLAIM}",
    )
    assert [(r["note_path"], r["gate_ids"]) for r in prepared["runs"]] == [
        (FROST, [REPEATS, ABBREV, OVERREACH]),
        (SEEDS, [TITLE_CLAIM]),
    ]
    (skipped,) = prepared["skipped"]
    assert (skipped["note_path"], skipped["gate_id"]) == (FROST, TITLE_CLAIM)
    assert "title-as-claim" in skipped["reason"]
    assert one(store_of(example_kb), "SELECT COUNT(*) FROM review_run_gates") == 4


def test_prepare_reports_kb_relative_paths_from_a_subdirectory(cli, example_kb: Path) -> None:
    notes_dir = example_kb / "kb" / "notes"
    prepared = prepare(cli, example_kb, "frost-dates.md::metadata", cwd=notes_dir)
    batch = f"kb/reports/bundle-reviews/review-batch-{prepared['batch_id']}"
    assert prepared["runs"][0]["note_path"] == FROST
    assert prepared["prompt_path"].startswith("kb/reports/bundle-reviews/prompts/")
    assert prepared["bundle_output_path"] == f"{batch}/bundle-output.md"
    assert (example_kb / prepared["prompt_path"]).is_file()


def test_the_reported_output_path_ingests_from_where_prepare_ran(cli, example_kb: Path) -> None:
    """The KB-relative `bundle_output_path` works as `--input-file` from a subdirectory."""
    notes_dir = example_kb / "kb" / "notes"
    prepared = prepare(cli, example_kb, "frost-dates.md::metadata", cwd=notes_dir)
    output = write_output(example_kb, prepared, reviewer_output(example_kb, prepared))
    result = cli(
        "ingest-batch-output", *batch_scope(prepared), "--input-file", output, cwd=notes_dir
    )
    assert result.code == 0, result.err


VALID = f"{SEEDS}::{TAGS}"


def dirty_gate(kb: Path) -> str:
    gate = kb / "kb" / "instructions" / "review-gates" / f"{ABBREV}.md"
    gate.write_text(gate.read_text(encoding="utf-8") + "\nAlso flag units.\n", encoding="utf-8")
    return f"{FROST}::{ABBREV}"


# case -> (the pair arguments, given the KB; what the error names)
PREPARE_REFUSALS = {
    "missing-note": (lambda kb: [VALID, "kb/notes/no-such-note.md::metadata"], "no-such-note"),
    "missing-gate": (lambda kb: [VALID, f"{FROST}::claims/no-such-gate"], "claims/no-such-gate"),
    "dirty-gate": (lambda kb: [VALID, dirty_gate(kb)], f"dirty gates are fatal: {ABBREV}"),
    "outside-kb": (lambda kb: [VALID, f"../outside.md::{TAGS}"], "outside"),
    "no-separator": (lambda kb: [VALID, "no-separator"], "not a pair"),
    "no-note": (lambda kb: [VALID, "::gate"], "not a pair"),
    "no-gate": (lambda kb: [VALID, "note::"], "not a pair"),
    "all-inapplicable": (lambda kb: [f"{FROST}::{TITLE_CLAIM}"], "no applicable gates"),
}


@pytest.mark.parametrize("case", list(PREPARE_REFUSALS))
def test_prepare_refusals_write_nothing(cli, example_kb: Path, case: str) -> None:
    make, mention = PREPARE_REFUSALS[case]
    (example_kb.parent / "outside.md").write_text("---\ndescription: x\n---\n# Outside\n")
    result = cli(
        "prepare-review-batch",
        *make(example_kb),
        "--runner",
        RUNNER,
        "--model",
        MODEL,
        "--json",
        cwd=example_kb,
    )
    assert_refused(result, 1, mentions=mention)
    assert_nothing_written(example_kb)


def test_prepare_refuses_a_dirty_gate_into_an_existing_store(cli, example_kb: Path) -> None:
    prepare(cli, example_kb, f"{SEEDS}::{TAGS}")
    before = dump(store_of(example_kb))
    reports = sorted(p.name for p in (example_kb / "kb/reports/bundle-reviews").iterdir())
    result = cli(
        "prepare-review-batch",
        dirty_gate(example_kb),
        *("--runner", RUNNER, "--model", MODEL),
        cwd=example_kb,
    )
    assert_refused(result, 1, mentions=ABBREV)
    assert dump(store_of(example_kb)) == before
    assert sorted(p.name for p in (example_kb / "kb/reports/bundle-reviews").iterdir()) == reports


# --- ingest: scope and refusals --------------------------------------------------------------


def test_a_subset_ingest_ignores_batch_mates_and_leaves_them_running(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    first, second, third = run_ids(prepared)
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    result = ingest(cli, kb, "--review-run-ids", str(second), input_file=output)
    assert result.code == 0, result.err
    assert result.json()["completed"] == [second]
    assert statuses(kb) == {first: "running", second: "completed", third: "running"}
    assert acceptances(kb) == 2
    # A batch-mate's pair missing from the output does not fail the subset either.
    lacking = kb / "lacking.md"
    lacking.write_text(reviewer_output(kb, prepared, skip=[Pair(FROST, TAGS)]), encoding="utf-8")
    result = ingest(cli, kb, "--review-run-ids", str(third), input_file=str(lacking))
    assert result.code == 0, result.err
    assert statuses(kb) == {first: "running", second: "completed", third: "completed"}


def test_two_runs_of_one_note_are_refused(cli, example_kb: Path) -> None:
    kb = example_kb
    one_batch = prepare(cli, kb, f"{FROST}::{TAGS}")
    other = prepare(cli, kb, f"{FROST}::clarity")
    output = write_output(kb, one_batch, reviewer_output(kb, one_batch))
    before = dump(store_of(kb))
    ids = (str(run_ids(one_batch)[0]), str(run_ids(other)[0]))
    result = ingest(cli, kb, "--review-run-ids", *ids, input_file=output)
    assert_refused(result, 1, mentions=f"both review {FROST}")
    assert dump(store_of(kb)) == before


INGEST_REFUSALS = {
    "unknown-run": (("--review-run-ids", "1", "99"), 1, "review run 99 not found"),
    "unknown-batch": (("--batch-id", "99"), 1, "review batch 99 not found"),
    "batch-and-runs": (("--batch-id", "1", "--review-run-ids", "1"), 2, "not allowed with"),
    "no-scope": ((), 2, "required"),
    "zero-batch": (("--batch-id", "0"), 2, "positive whole number"),
}


@pytest.mark.parametrize("case", list(INGEST_REFUSALS))
def test_ingest_refusals_change_nothing(cli, example_kb: Path, case: str) -> None:
    kb = example_kb
    scope, code, mention = INGEST_REFUSALS[case]
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    before = dump(store_of(kb))
    result = ingest(cli, kb, *scope, input_file=output)
    assert_refused(result, code, mentions=mention)
    assert dump(store_of(kb)) == before


def test_a_missing_input_file_leaves_the_runs_untouched(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    before = dump(store_of(kb))
    result = ingest(cli, kb, *batch_scope(prepared), input_file="kb/reports/nowhere.md")
    assert_refused(result, 1, mentions="cannot read kb/reports/nowhere.md")
    assert dump(store_of(kb)) == before
    assert set(statuses(kb).values()) == {"running"}


# --- artifacts after ingest ------------------------------------------------------------------


def test_artifacts_after_ingest(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    first, second, third = run_ids(prepared)
    text = reviewer_output(kb, prepared, skip=[Pair(DATE, TAGS)])
    ingest(cli, kb, *batch_scope(prepared), input_file=write_output(kb, prepared, text))
    reviews_dir = kb / "kb" / "reports" / "bundle-reviews"
    assert sorted(p.name for p in (reviews_dir / f"review-run-{first}").iterdir()) == [
        "bundle-output.md",
        "claims__overreaching-generalization.md",
        "metadata__tags-present.md",
    ]
    assert (reviews_dir / f"review-run-{second}" / "bundle-output.md").is_file()
    assert not (reviews_dir / f"review-run-{third}").exists()
    # The executor's file stays as written, and the store has the same text.
    assert (kb / prepared["bundle_output_path"]).read_text(encoding="utf-8") == text
    assert stored_text(store_of(kb), "review_batches", "raw_output") == text
    kept = stored_text(store_of(kb), "review_runs", "raw_bundle_markdown", third)
    assert start_line(Pair(DATE, OVERREACH), token=prepared["boundary_token"]) in kept
    assert start_line(Pair(DATE, TAGS), token=prepared["boundary_token"]) not in kept


def test_a_runs_document_cannot_complete_a_later_run(cli, example_kb: Path) -> None:
    """A run's document is valid grammar for its own batch only: replayed
    into a later batch, its blocks carry the old token and count for nothing."""
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    ingest(
        cli,
        kb,
        *batch_scope(prepared),
        input_file=write_output(kb, prepared, reviewer_output(kb, prepared)),
    )
    seeds_run = run_ids(prepared)[1]
    document = f"kb/reports/bundle-reviews/review-run-{seeds_run}/bundle-output.md"
    created = cli(
        "create-review-run",
        SEEDS,
        *GATES,
        "--runner",
        "live-agent",
        "--model",
        MODEL,
        "--json",
        cwd=kb,
    )
    fresh = cast(dict[str, Any], created.json())["review_run_id"]
    result = cli(
        "ingest-bundle-output",
        "--review-run-id",
        str(fresh),
        "--input-file",
        document,
        "--json",
        cwd=kb,
    )
    assert result.code == 1, result.err
    payload = cast(dict[str, Any], result.json())
    assert payload["status"] == "failed"
    assert payload["reason"].startswith("no sentinel line carries the batch's boundary token")
    assert "(missing pair reviews: " in payload["reason"]
    sql = "SELECT gate_id FROM gate_reviews WHERE review_run_id = ?"
    assert rows(store_of(kb), sql, (fresh,)) == []
    # Into its own batch it ingests again: every run is already final.
    again = ingest(cli, kb, *batch_scope(prepared), input_file=document)
    assert again.code == 0, again.err
    assert seeds_run in again.json()["already_final"]


def test_files_that_cannot_be_written_are_a_warning_not_a_failure(cli, example_kb: Path) -> None:
    kb = example_kb
    prepared = prepare(cli, kb, *THREE_BY_TWO)
    first = run_ids(prepared)[0]
    blocked = kb / "kb/reports/bundle-reviews" / f"review-run-{first}"
    blocked.write_text("a file where the run's directory would go\n", encoding="utf-8")
    output = write_output(kb, prepared, reviewer_output(kb, prepared))
    result = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert result.code == 0, result.err
    assert result.json()["completed"] == run_ids(prepared)
    assert "warning: cannot write" in result.err and "Traceback" not in result.err
    assert acceptances(kb) == 6
    # Once the obstacle is gone, ingesting again rewrites the files from the store.
    blocked.unlink()
    again = ingest(cli, kb, *batch_scope(prepared), input_file=output)
    assert again.code == 0 and again.json()["already_final"] == run_ids(prepared)
    assert (blocked / "bundle-output.md").is_file()
