"""The reviews current acceptances rest on (`commonplace.services.current`): the
warn queue holds exactly the current `warn`/`fail` reviews, whole rows of
completed runs only, carried forward by trivial-change acks, per partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, Cli, append, blob, commit_paths
from helpers.db import rows, store_of
from helpers.reviewed_corpus import (
    FOLDER,
    FOLDER_NOTE,
    MODEL,
    OTHER_MODEL,
    OTHER_MODEL_ID,
    SCENARIO,
    Plan,
    assert_whole_row,
    expected_queue,
    queue_of,
    review_pairs,
    scenario_kb,
    summary_of,
)
from helpers.reviews import review_text

from commonplace.errors import UserError
from commonplace.protocol.decisions import Finding
from commonplace.services.current import (
    current_reviews,
    findings_of,
    fix_queue,
)
from commonplace.workspace import open_workspace

# --- what the queue holds -----------------------------------------------------------------


def test_the_queue_is_exactly_the_warn_and_fail_reviews_with_their_findings(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    kb = scenario_kb(tmp_path_factory)
    entries = queue_of(kb)
    assert summary_of(entries) == expected_queue(SCENARIO)
    assert {e.model_id for e in entries} == {MODEL}
    assert {e.acceptance_kind for e in entries} == {"full-review"}
    for entry in entries:
        assert_whole_row(kb, entry)
        assert entry.reviewed_note_sha == entry.current_note_sha == blob(kb, entry.note_path)


def test_current_reviews_hold_every_decision_and_filter_by_note_and_decision(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with open_workspace(cwd=scenario_kb(tmp_path_factory)).store as store:
        everything = current_reviews(store)
        of_plain = current_reviews(store, note_paths=[PLAIN_NOTE])
        passes = current_reviews(store, decisions=["pass"], model_id=MODEL)
        none = current_reviews(store, model_id=OTHER_MODEL_ID)
    assert [(e.note_path, e.gate_id, e.decision) for e in everything] == sorted(
        (note, gate, decision.lower()) for (note, gate), (decision, _) in SCENARIO.items()
    )
    assert [(e.gate_id, e.decision) for e in of_plain] == [
        ("frontmatter/description-discrimination", "pass"),
        ("frontmatter/title-body-alignment", "fail"),
    ]
    assert {e.decision for e in passes} == {"pass"} and len(passes) == 3
    assert none == []


def test_a_store_that_does_not_exist_gives_an_empty_queue_and_stays_absent(
    corpus_kb: Path,
) -> None:
    assert queue_of(corpus_kb) == []
    assert not store_of(corpus_kb).exists()


# --- whole rows, completed runs ----------------------------------------------------------


def test_a_newer_review_of_the_pair_replaces_the_older_one_whole(cli: Cli, corpus_kb: Path) -> None:
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, corpus_kb, {pair: ("WARN", (("WARN", "first finding"),))}, summary="Old.")
    review_pairs(
        cli,
        corpus_kb,
        {pair: ("FAIL", (("FAIL", "second finding"), ("WARN", "another")))},
        summary="New.",
    )
    (entry,) = queue_of(corpus_kb)
    assert_whole_row(corpus_kb, entry)
    assert entry.decision == "fail"
    assert entry.findings == (Finding("fail", "second finding"), Finding("warn", "another"))
    assert "New." in entry.rationale_markdown and "Old." not in entry.rationale_markdown
    newest = rows(store_of(corpus_kb), "SELECT MAX(id) FROM gate_reviews")[0][0]
    assert entry.gate_review_id == newest


def test_reviews_of_running_and_failed_runs_never_appear(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    accepted = (CLAIM_NOTE, "frontmatter/claim-strength")
    review_pairs(cli, kb, {accepted: ("WARN", (("WARN", "accepted finding"),))})
    (before,) = queue_of(kb)

    # A split-path run: two of its three gates reviewed, so it is still running.
    created = cli(
        "create-review-run",
        CLAIM_NOTE,
        "frontmatter/claim-strength",
        "frontmatter/title-as-claim",
        "frontmatter/title-composability",
        "--runner",
        "live-agent",
        "--model",
        MODEL,
        "--json",
        cwd=kb,
    )
    assert created.code == 0, created.err
    run_id = str(cast(dict[str, Any], created.json())["review_run_id"])
    for gate, decision in (
        ("frontmatter/claim-strength", "PASS"),
        ("frontmatter/title-as-claim", "FAIL"),
    ):
        written = cli(
            "write-gate-review",
            "--review-run-id",
            run_id,
            "--gate",
            gate,
            cwd=kb,
            stdin=review_text(
                decision, (("FAIL", "unaccepted finding"),) if decision == "FAIL" else ()
            ),
        )
        assert written.code == 0, written.err
    assert queue_of(kb) == [before]

    # Finalizing without the third review fails the run; its reviews stay stored.
    assert cli("finalize-review-run", "--review-run-id", run_id, cwd=kb).code == 1
    assert rows(store_of(kb), "SELECT status FROM review_runs WHERE id = ?", (run_id,)) == [
        ("failed",)
    ]
    stored = rows(
        store_of(kb),
        "SELECT gate_id, decision FROM gate_reviews WHERE review_run_id = ? ORDER BY gate_id",
        (run_id,),
    )
    assert stored == [
        ("frontmatter/claim-strength", "pass"),
        ("frontmatter/title-as-claim", "fail"),
    ]
    assert queue_of(kb) == [before]
    assert_whole_row(kb, before)
    assert before.findings == (Finding("warn", "accepted finding"),)


def test_a_trivial_change_ack_carries_the_warn_forward_until_a_pass_replaces_it(
    cli: Cli, corpus_kb: Path
) -> None:
    kb = corpus_kb
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, kb, {pair: ("WARN", (("WARN", "the body wanders"),))})
    (reviewed,) = queue_of(kb)
    old_sha = blob(kb, PLAIN_NOTE)

    append(kb, PLAIN_NOTE, "\nA trivial trailing line.\n")
    commit_paths(kb, PLAIN_NOTE)
    acked = cli("ack-gate-review", PLAIN_NOTE, pair[1], "--model", MODEL, cwd=kb)
    assert acked.code == 0, acked.err

    (carried,) = queue_of(kb)
    assert carried.acceptance_kind == "trivial-change-ack"
    assert carried.current_note_sha == blob(kb, PLAIN_NOTE) != old_sha
    assert carried.reviewed_note_sha == old_sha
    assert (carried.gate_review_id, carried.decision, carried.findings) == (
        reviewed.gate_review_id,
        "warn",
        (Finding("warn", "the body wanders"),),
    )
    assert_whole_row(kb, carried)

    review_pairs(cli, kb, {pair: ("PASS", ())})
    assert queue_of(kb) == []


@pytest.mark.parametrize("first", ["PASS", None], ids=["after-a-pass", "never-reviewed"])
def test_an_ack_without_a_warn_behind_it_adds_nothing(
    cli: Cli, corpus_kb: Path, first: str | None
) -> None:
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    if first is not None:
        review_pairs(cli, corpus_kb, {pair: (first, ())})
    acked = cli("ack-gate-review", PLAIN_NOTE, pair[1], "--model", MODEL, cwd=corpus_kb)
    assert acked.code == 0, acked.err
    assert queue_of(corpus_kb) == []


# --- partitions and notes ----------------------------------------------------------------


def test_partitions_are_kept_apart(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    shared = (CLAIM_NOTE, "prose/source-residue")
    other = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, kb, {shared: ("WARN", (("WARN", "opus says"),))})
    review_pairs(
        cli, kb, {shared: ("PASS", ()), other: ("FAIL", (("FAIL", "gpt says"),))}, model=OTHER_MODEL
    )
    assert [(e.note_path, e.model_id) for e in queue_of(kb, model_id=MODEL)] == [
        (CLAIM_NOTE, MODEL)
    ]
    assert [(e.note_path, e.model_id) for e in queue_of(kb, model_id=OTHER_MODEL_ID)] == [
        (PLAIN_NOTE, OTHER_MODEL_ID)
    ]
    assert [(e.note_path, e.model_id) for e in queue_of(kb)] == [
        (CLAIM_NOTE, MODEL),
        (PLAIN_NOTE, OTHER_MODEL_ID),
    ]
    assert queue_of(kb, note_paths=[PLAIN_NOTE], model_id=MODEL) == []


def test_fix_queue_takes_notes_and_folders_by_path(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    plan: Plan = {
        (FOLDER_NOTE, "prose/source-residue"): ("WARN", ()),
        (f"{FOLDER}/README.md", "prose/source-residue"): ("FAIL", ()),
        (PLAIN_NOTE, "prose/source-residue"): ("WARN", ()),
    }
    review_pairs(cli, kb, plan)
    ws = open_workspace(cwd=kb / FOLDER)

    def notes(*refs: str, model: str | None = None) -> list[str]:
        return [e.note_path for e in fix_queue(ws, note_refs=refs, model=model)]

    assert notes() == [PLAIN_NOTE, f"{FOLDER}/README.md", FOLDER_NOTE]
    assert notes(".") == [f"{FOLDER}/README.md", FOLDER_NOTE]  # the working directory
    assert notes("create-memory-directly.md") == [FOLDER_NOTE]
    assert notes(FOLDER) == notes(FOLDER + "/") == [f"{FOLDER}/README.md", FOLDER_NOTE]
    assert notes(str(kb)) == notes()  # the KB root itself
    with pytest.raises(UserError, match="note not found"):  # a prefix of a folder's name
        notes(FOLDER[:-3])
    assert notes(PLAIN_NOTE, model=MODEL) == [PLAIN_NOTE]
    assert notes(PLAIN_NOTE, model=OTHER_MODEL) == []
    with pytest.raises(UserError, match="outside the knowledge base"):
        fix_queue(ws, note_refs=[str(kb.parent)])
    ws.store.close()


@pytest.mark.parametrize(
    ("stored", "findings"),
    [
        (None, ()),
        ("", ()),
        ("not json", ()),
        ('{"severity": "warn", "text": "x"}', ()),
        ("[]", ()),
        (
            '[{"severity": "warn", "text": "a"}, 3, {"text": "b"}, {"severity": "fail"}]',
            (Finding("warn", "a"), Finding("", "b"), Finding("fail", "")),
        ),
    ],
)
def test_findings_of_reads_what_is_stored_and_ignores_the_rest(
    stored: str | None, findings: tuple[Finding, ...]
) -> None:
    assert findings_of(stored) == findings
