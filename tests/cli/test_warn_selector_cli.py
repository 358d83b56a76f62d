"""`commonplace-warn-selector [NOTE...] [--model M] [--json]`, the fix queue:
the current accepted `warn`/`fail` reviews of the corpus with their findings,
exactly as the reviewer wrote them; whole rows of completed runs only; notes,
folders and paths of deleted notes; partitions; refusals without tracebacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import (
    CLAIM_NOTE,
    EX_NOTE,
    PLAIN_NOTE,
    Cli,
    Result,
    append,
    assert_refused,
    blob,
    commit_paths,
)
from helpers.db import rows, store_of
from helpers.fake_runners import add_reviewer
from helpers.groups import REAPS_ORPHANS
from helpers.kb import git
from helpers.reviewed_corpus import (
    FOLDER,
    FOLDER_NOTE,
    LOOP_NOTE,
    MODEL,
    SCENARIO,
    Plan,
    review_pairs,
    scenario_kb,
)
from helpers.reviews import review_text

from commonplace.protocol.grammar import Pair, block

pytestmark = pytest.mark.both_backends
# The reviewed corpus made once per session keeps its store as a file in the KB.
SHARED = "reads the session's reviewed-corpus store, a file made once per session"

KEYS = {
    "note_path",
    "gate_id",
    "model_id",
    "decision",
    "findings",
    "gate_review_id",
    "review_run_id",
    "reviewed_at",
    "reviewed_note_sha",
    "acceptance_kind",
    "rationale_markdown",
    "suggested_revision",
    "note_changed",
    "note_deleted",
}


def select(cli: Cli, kb: Path, *args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    result = cli("warn-selector", *args, "--json", cwd=cwd or kb)
    assert result.code == 0, result.err
    assert result.err == ""
    return cast(list[dict[str, Any]], result.json())


def expected(plan: Plan) -> list[tuple[str, str, str, list[dict[str, str]]]]:
    """What the reviewer wrote: (note, gate, decision, findings) of each warn
    or fail review, sorted by note then gate."""
    return sorted(
        (
            note,
            gate,
            decision.lower(),
            [{"severity": s.lower(), "text": t} for s, t in findings],
        )
        for (note, gate), (decision, findings) in plan.items()
        if decision in ("WARN", "FAIL")
    )


def listed(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, list[dict[str, str]]]]:
    return [(e["note_path"], e["gate_id"], e["decision"], e["findings"]) for e in entries]


@pytest.mark.sqlite_only(SHARED)
def test_the_queue_lists_exactly_the_warn_and_fail_findings(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    entries = select(cli, kb)
    assert listed(entries) == expected(SCENARIO)
    for entry in entries:
        assert set(entry) == KEYS
        assert (entry["model_id"], entry["acceptance_kind"]) == (MODEL, "full-review")
        assert entry["reviewed_note_sha"] == blob(kb, entry["note_path"])
        # every field from the one gate review the entry names
        (row,) = rows(
            store_of(kb),
            "SELECT r.note_path, r.gate_id, r.model_id, r.decision, r.review_run_id,"
            " r.reviewed_at, r.reviewed_note_sha, run.status FROM gate_reviews r"
            " JOIN review_runs run ON run.id = r.review_run_id WHERE r.id = ?",
            (entry["gate_review_id"],),
        )
        assert row == (
            entry["note_path"],
            entry["gate_id"],
            entry["model_id"],
            entry["decision"],
            entry["review_run_id"],
            entry["reviewed_at"],
            entry["reviewed_note_sha"],
            "completed",
        )


@pytest.mark.sqlite_only(SHARED)
def test_the_text_shows_each_note_its_reviews_and_findings(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = cli("warn-selector", cwd=scenario_kb(tmp_path_factory))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == CLAIM_NOTE
    assert lines[1] == f"  [fail] frontmatter/title-as-claim ({MODEL})"
    assert lines[2].startswith("    - fail: the title “")
    assert f"  [warn] sentence/stock-phrases ({MODEL})" in lines
    assert lines[-1] == "4 review(s) to act on"
    assert sum(line.startswith("    - ") for line in lines) == 5
    assert [line for line in lines if not line.startswith(" ")][:-1] == [
        CLAIM_NOTE,
        PLAIN_NOTE,
        LOOP_NOTE,
    ]


def test_without_a_store_the_queue_is_empty_and_no_store_is_made(cli: Cli, corpus_kb: Path) -> None:
    assert select(cli, corpus_kb) == []
    result = cli("warn-selector", "--model", MODEL, cwd=corpus_kb)
    assert (result.code, result.out) == (0, "0 review(s) to act on\n")
    assert not store_of(corpus_kb).exists()


# --- completed runs only --------------------------------------------------------------------


@REAPS_ORPHANS
def test_running_and_failed_runs_never_appear(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    created = cli(
        "create-review-run",
        PLAIN_NOTE,
        "prose/source-residue",
        "prose/pseudo-formalism",
        "--runner",
        "live-agent",
        "--model",
        MODEL,
        "--json",
        cwd=kb,
    )
    assert created.code == 0, created.err
    run_id = str(cast(dict[str, Any], created.json())["review_run_id"])
    written = cli(
        "write-gate-review",
        "--review-run-id",
        run_id,
        "--gate",
        "prose/source-residue",
        cwd=kb,
        stdin=review_text("FAIL", (("FAIL", "written, never accepted"),)),
    )
    assert written.code == 0, written.err
    assert select(cli, kb) == []  # a split-path run still running

    reaped = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=kb)
    assert reaped.code == 0, reaped.err
    assert rows(store_of(kb), "SELECT status FROM review_runs") == [("failed",)]
    assert rows(store_of(kb), "SELECT decision FROM gate_reviews") == [("fail",)]
    assert select(cli, kb) == []

    # An output missing a pair fails that run only: its other reviews stay out.
    prepared = cli(
        "prepare-review-batch",
        f"{PLAIN_NOTE}::prose/source-residue",
        f"{PLAIN_NOTE}::prose/pseudo-formalism",
        f"{LOOP_NOTE}::prose/source-residue",
        "--runner",
        "live-agent",
        "--model",
        MODEL,
        "--json",
        cwd=kb,
    )
    assert prepared.code == 0, prepared.err
    payload = cast(dict[str, Any], prepared.json())
    token = payload["boundary_token"]
    output = block(
        Pair(PLAIN_NOTE, "prose/source-residue"), review_text("WARN"), token=token
    ) + block(
        Pair(LOOP_NOTE, "prose/source-residue"),
        review_text("WARN", (("WARN", "kept"),)),
        token=token,
    )
    (kb / payload["bundle_output_path"]).write_text(output, encoding="utf-8")
    ingested = cli(
        "ingest-batch-output",
        "--batch-id",
        str(payload["batch_id"]),
        "--input-file",
        payload["bundle_output_path"],
        cwd=kb,
    )
    assert ingested.code == 1
    assert listed(select(cli, kb)) == [
        (LOOP_NOTE, "prose/source-residue", "warn", [{"severity": "warn", "text": "kept"}])
    ]


# --- acks and later reviews -----------------------------------------------------------------


def test_an_ack_keeps_the_entry_and_a_later_pass_removes_it(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, kb, {pair: SCENARIO[pair]})
    (before,) = select(cli, kb)
    old_sha = blob(kb, PLAIN_NOTE)

    append(kb, PLAIN_NOTE, "\nA trivial trailing line.\n")
    commit_paths(kb, PLAIN_NOTE)
    acked = cli("ack-gate-review", PLAIN_NOTE, pair[1], "--model", MODEL, cwd=kb)
    assert acked.code == 0, acked.err
    (after,) = select(cli, kb)
    # the review judged the earlier text: the ack carries it forward, marked changed
    assert after == {**before, "acceptance_kind": "trivial-change-ack", "note_changed": True}
    assert after["reviewed_note_sha"] == old_sha != blob(kb, PLAIN_NOTE)
    text = cli("warn-selector", cwd=kb).out
    assert f"  [fail] {pair[1]} ({MODEL}, via trivial-change-ack) (note changed since)" in text

    review_pairs(cli, kb, {pair: ("PASS", ())})
    assert select(cli, kb) == []
    review_pairs(cli, kb, {pair: ("WARN", (("WARN", "back again"),))})
    assert listed(select(cli, kb)) == [
        (*pair, "warn", [{"severity": "warn", "text": "back again"}])
    ]


# --- which notes, which partition -----------------------------------------------------------

FOLDER_PLAN: Plan = {
    (FOLDER_NOTE, "prose/source-residue"): ("WARN", (("WARN", "in the folder"),)),
    (f"{FOLDER}/README.md", "prose/source-residue"): ("FAIL", (("FAIL", "the folder's readme"),)),
    (PLAIN_NOTE, "prose/source-residue"): ("WARN", (("WARN", "outside the folder"),)),
    (LOOP_NOTE, "prose/source-residue"): ("FAIL", (("FAIL", "to be deleted"),)),
}


@pytest.fixture
def folder_kb(cli: Cli, corpus_kb: Path) -> Path:
    review_pairs(cli, corpus_kb, FOLDER_PLAN)
    return corpus_kb


def notes_of(entries: list[dict[str, Any]]) -> list[str]:
    return [e["note_path"] for e in entries]


def test_notes_and_folders_narrow_the_queue(cli: Cli, folder_kb: Path) -> None:
    kb = folder_kb
    everything = notes_of(select(cli, kb))
    assert everything == sorted(note for note, _ in FOLDER_PLAN)
    assert notes_of(select(cli, kb, PLAIN_NOTE)) == [PLAIN_NOTE]
    assert notes_of(select(cli, kb, FOLDER)) == [f"{FOLDER}/README.md", FOLDER_NOTE]
    assert notes_of(select(cli, kb, FOLDER_NOTE, PLAIN_NOTE)) == [PLAIN_NOTE, FOLDER_NOTE]
    assert notes_of(select(cli, kb, "kb/notes")) == everything
    assert notes_of(select(cli, kb, ".")) == everything
    notes = kb / "kb" / "notes"
    assert notes_of(select(cli, kb, "agent-memory-requirements", cwd=notes)) == [
        f"{FOLDER}/README.md",
        FOLDER_NOTE,
    ]
    assert notes_of(select(cli, kb, "create-memory-directly.md", cwd=notes / FOLDER[9:])) == [
        FOLDER_NOTE
    ]
    missing = cli("warn-selector", "kb/notes/no-such-note.md", cwd=kb)
    assert_refused(missing, 1, mentions="note not found: kb/notes/no-such-note.md")


def test_a_deleted_notes_path_still_finds_its_reviews(cli: Cli, folder_kb: Path) -> None:
    kb = folder_kb
    git(kb, "rm", "-q", LOOP_NOTE)
    git(kb, "commit", "-q", "-m", "remove a note")
    assert notes_of(select(cli, kb, LOOP_NOTE)) == [LOOP_NOTE]
    assert LOOP_NOTE in notes_of(select(cli, kb))


@pytest.mark.parametrize("where", ["parent", "absolute", "dotdot"])
def test_a_path_outside_the_kb_is_refused(cli: Cli, folder_kb: Path, where: str) -> None:
    kb = folder_kb
    path = {"parent": str(kb.parent), "absolute": "/", "dotdot": "../elsewhere.md"}[where]
    result = cli("warn-selector", path, cwd=kb)
    assert_refused(result, 1, mentions="outside the knowledge base")
    assert result.out == ""
    as_json: Result = cli("warn-selector", path, "--json", cwd=kb)
    assert_refused(as_json, 1)
    assert cast(dict[str, Any], as_json.json())["exit_code"] == 1


def test_the_model_picks_the_partition(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    pair = (CLAIM_NOTE, "prose/source-residue")
    review_pairs(cli, kb, {pair: ("WARN", (("WARN", "no effort"),))})
    review_pairs(cli, kb, {pair: ("FAIL", (("FAIL", "high effort"),))}, extra=("--effort", "high"))
    review_pairs(cli, kb, {pair: ("PASS", ())}, model="gpt-5.5")

    def found(*args: str) -> list[tuple[str, str]]:
        return [(e["model_id"], e["decision"]) for e in select(cli, kb, *args)]

    assert found() == [(MODEL, "warn"), (f"{MODEL}-high", "fail")]
    assert found("--model", MODEL) == [(MODEL, "warn")]
    assert found("--model", MODEL, "--effort", "high") == [(f"{MODEL}-high", "fail")]
    assert found("--model", "gpt-5.5") == []
    assert found(CLAIM_NOTE, "--model", "claude-opus-4.6") == [(MODEL, "warn")]  # normalized


def test_after_a_sweep_and_a_relocation(cli: Cli, swept_kb: Path) -> None:
    """The example KB after a stand-in sweep: the queue is its warn reviews,
    and it follows a note that moves."""
    kb = swept_kb
    warned = rows(
        store_of(kb),
        "SELECT id, note_path, gate_id, decision FROM gate_reviews"
        " WHERE decision IN ('warn', 'fail') ORDER BY note_path, gate_id",
    )
    assert warned, "the stand-in warns on some pairs"
    entries = select(cli, kb)
    assert [
        (e["gate_review_id"], e["note_path"], e["gate_id"], e["decision"]) for e in entries
    ] == [tuple(row) for row in warned]
    assert all(e["findings"] and e["findings"][0]["severity"] == "warn" for e in entries)

    old = entries[0]["note_path"]
    new = old.replace("kb/notes/", "kb/notes/moved-")
    moved = cli("relocate-note", old, new, cwd=kb)
    assert moved.code == 0, moved.err
    git(kb, "commit", "-q", "-m", "move")  # relocate-note staged it with git mv
    gone = cli("warn-selector", old, cwd=kb)  # no file, no history left: a mistake
    assert_refused(gone, 1, mentions=f"did you mean {new}?")
    assert [e["gate_review_id"] for e in select(cli, kb, new)] == [
        e["gate_review_id"] for e in entries if e["note_path"] == old
    ]


def test_a_rekeyed_run_is_found_through_the_model_that_was_asked_for(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    add_reviewer(
        example_kb, "swap", tmp_path / "state", "--model", "served-model", "--decision", "WARN"
    )
    done = cli(
        "run-review-bundle",
        EX_NOTE,
        "clarity",
        "--runner",
        "swap",
        "--model",
        "asked",
        "--quiet",
        cwd=example_kb,
    )
    assert done.code == 0, done.err
    entries = select(cli, example_kb, "--model", "asked")
    assert [(e["gate_id"], e["model_id"]) for e in entries] == [
        ("clarity/description-repeats-title", "served-model"),
        ("clarity/undefined-abbreviation", "served-model"),
    ]
    assert select(cli, example_kb, "--model", "served-model") == entries


def test_a_config_alias_names_the_partition(cli: Cli, example_kb: Path) -> None:
    pair = (EX_NOTE, "clarity/undefined-abbreviation")
    review_pairs(cli, example_kb, {pair: ("WARN", (("WARN", "GDD"),))}, model="demo")
    (entry,) = select(cli, example_kb, "--model", "demo")
    assert entry["model_id"] == "demo-reviewer-1"
    assert select(cli, example_kb, "--model", "demo-reviewer-1") == [entry]


# --- rationale, suggested revision, changed notes, --fail-on ----------------------------------


def test_entries_carry_the_rationale_and_suggested_revision_and_mark_changed_notes(
    cli: Cli, corpus_kb: Path
) -> None:
    kb = corpus_kb
    revision = "\n".join(f"line {i}" for i in range(1, 10))
    body = review_text(
        "WARN",
        (("WARN", "a warning"),),
        summary=f"Why.\n\n### Suggested Revision\n{revision}\n",
    )
    pair = (PLAIN_NOTE, "prose/source-residue")
    created = cli(
        "create-review-run", PLAIN_NOTE, pair[1], "--runner", "live-agent", "--model", MODEL,
        "--json", cwd=kb,
    )  # fmt: skip
    run_id = str(cast(dict[str, Any], created.json())["review_run_id"])
    written = cli(
        "write-gate-review", "--review-run-id", run_id, "--gate", pair[1], cwd=kb, stdin=body
    )
    assert written.code == 0, written.err
    assert cli("finalize-review-run", "--review-run-id", run_id, cwd=kb).code == 0

    (entry,) = select(cli, kb)
    assert entry["suggested_revision"] == revision
    assert "### Suggested Revision" in entry["rationale_markdown"]
    assert (entry["note_changed"], entry["note_deleted"]) == (False, False)
    text = cli("warn-selector", cwd=kb).out
    assert "    suggested revision:\n      line 1\n" in text
    assert "      line 6\n      ... (3 more line(s); --full shows all)" in text
    assert "line 7" not in text and "(note changed since)" not in text
    full = cli("warn-selector", "--full", cwd=kb).out
    assert "      line 9\n" in full and "more line(s)" not in full

    append(kb, PLAIN_NOTE, "\nEdited after the review.\n")
    (entry,) = select(cli, kb)
    assert (entry["note_changed"], entry["note_deleted"]) == (True, False)
    assert f"  [warn] {pair[1]} ({MODEL}) (note changed since)" in cli("warn-selector", cwd=kb).out

    (kb / PLAIN_NOTE).unlink()
    (entry,) = select(cli, kb, PLAIN_NOTE)  # a deleted note's path is still known
    assert (entry["note_changed"], entry["note_deleted"]) == (True, True)
    assert "(note deleted since)" in cli("warn-selector", cwd=kb).out


def test_fail_on_exits_1_after_listing_when_a_decision_at_or_above_is_listed(
    cli: Cli, corpus_kb: Path
) -> None:
    kb = corpus_kb
    review_pairs(cli, kb, {(PLAIN_NOTE, "prose/source-residue"): ("WARN", (("WARN", "w"),))})
    assert cli("warn-selector", cwd=kb).code == 0
    warned = cli("warn-selector", "--fail-on", "warn", cwd=kb)
    assert warned.code == 1 and warned.out.endswith("1 review(s) to act on\n")
    assert warned.err == ""
    assert cli("warn-selector", "--fail-on", "fail", cwd=kb).code == 0
    review_pairs(cli, kb, {(CLAIM_NOTE, "prose/source-residue"): ("FAIL", (("FAIL", "f"),))})
    failed = cli("warn-selector", "--fail-on", "fail", "--json", cwd=kb)
    assert failed.code == 1 and len(cast(list[Any], failed.json())) == 2
    assert cli("warn-selector", PLAIN_NOTE, "--fail-on", "fail", cwd=kb).code == 0
    bad = cli("warn-selector", "--fail-on", "info", cwd=kb)
    assert_refused(bad, 2)


def test_a_named_note_that_names_nothing_is_refused_with_the_close_path(
    cli: Cli, corpus_kb: Path
) -> None:
    result = cli("warn-selector", PLAIN_NOTE.replace("prompts", "prompt"), cwd=corpus_kb)
    assert_refused(result, 1, mentions="note not found")
    assert f"did you mean {PLAIN_NOTE}?" in result.err
    assert result.out == ""
