"""Ingesting reviewer output (SPEC 7): the salvage policy, repeatable ingest,
scoping to a batch or to some of its runs, and the single-run refusal, through
the library against the example KB and a real store."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers.db import execute_sql, rows, stored_text
from helpers.db import statuses as statuses_of
from helpers.reviews import review
from helpers.store import (
    ABBREV,
    DATE,
    FROST,
    OVERREACH,
    REPEATS,
    SEEDS,
    TAGS,
    TITLE_CLAIM,
    prepare_batch,
)

from commonplace.errors import UserError
from commonplace.lifecycle import (
    ExecutionData,
    PendingReview,
    RunNotFinalizable,
    RunStatus,
    fail_run,
    record_and_finalize_run,
)
from commonplace.protocol.grammar import Pair, block
from commonplace.protocol.prompt import prompt_token, requested_pairs
from commonplace.services.batch import PreparedBatch
from commonplace.services.ingest import (
    IngestReport,
    finalize_from_output,
    ingest_batch_output,
    ingest_bundle_output,
    load_batch,
    load_runs,
)
from commonplace.services.runs import create_review_run
from commonplace.store.check import check_store
from commonplace.workspace import Workspace

pytestmark = pytest.mark.both_backends

# Three notes, two gates each.
BATCH_PAIRS = (
    f"{FROST}::clarity",
    f"{SEEDS}::claims",
    f"{DATE}::{OVERREACH}",
    f"{DATE}::{TAGS}",
)
PAIR_COUNT = 6


review_text = partial(review, summary="Checked the note.")


def prepare(ws: Workspace, *pairs: str) -> PreparedBatch:
    return prepare_batch(ws, *(pairs or BATCH_PAIRS))


class PromptPairs(list[Pair]):
    """The pairs a prompt requests, with the boundary token it states."""

    def __init__(self, pairs: list[Pair], token: str | None) -> None:
        super().__init__(pairs)
        self.token = token


def prompt_pairs(ws: Workspace, prepared: PreparedBatch) -> PromptPairs:
    text = (ws.config.kb_root / prepared.prompt_path).read_text(encoding="utf-8")
    assert prompt_token(text) == prepared.batch.boundary_token
    return PromptPairs(requested_pairs(text), prompt_token(text))


def output_for(
    pairs: PromptPairs,
    *,
    decisions: Mapping[Pair, str] | None = None,
    texts: Mapping[Pair, str] | None = None,
    skip: Collection[Pair] = (),
) -> str:
    """A reviewer's output document: prose, then one block per pair, with
    the token the prompt stated."""
    blocks = [
        block(
            pair,
            (texts or {}).get(pair) or review_text((decisions or {}).get(pair, "PASS")),
            token=pairs.token,
        )
        for pair in pairs
        if pair not in skip
    ]
    return "Here are the reviews.\n\n" + "\n".join(blocks)


def sql(ws: Workspace, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return rows(ws.store, query, params)


def run_rows(ws: Workspace, run_ids: Collection[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the store holds about these runs."""
    marks = ", ".join("?" * len(run_ids))
    ids = tuple(run_ids)
    return {
        "runs": sql(ws, f"SELECT * FROM review_runs WHERE id IN ({marks}) ORDER BY id", ids),
        "reviews": sql(
            ws, f"SELECT * FROM gate_reviews WHERE review_run_id IN ({marks}) ORDER BY id", ids
        ),
        "accepted": sql(
            ws,
            "SELECT e.* FROM acceptance_events e JOIN gate_reviews r ON r.id ="
            f" e.accepted_review_id WHERE r.review_run_id IN ({marks}) ORDER BY e.id",
            ids,
        ),
    }


def acceptances(ws: Workspace) -> int:
    return sql(ws, "SELECT COUNT(*) FROM acceptance_events")[0][0]


def statuses(ws: Workspace) -> dict[int, str]:
    return statuses_of(ws.store)


def run_ids(prepared: PreparedBatch) -> list[int]:
    return [r.review_run_id for r in prepared.batch.runs]


def ingest(ws: Workspace, text: str, **scope: Any) -> IngestReport:
    return ingest_batch_output(ws, text.encode("utf-8"), **scope)


# --- the salvage policy --------------------------------------------------------------


def test_a_complete_output_completes_every_run(ws: Workspace) -> None:
    prepared = prepare(ws)
    pairs = prompt_pairs(ws, prepared)
    assert len(pairs) == PAIR_COUNT
    output = output_for(pairs)
    report = ingest(ws, output, batch_id=prepared.batch.batch_id)
    assert report.batch_ids == (prepared.batch.batch_id,)
    assert report.completed == run_ids(prepared)
    assert report.failed == []
    assert report.already_final == ()
    assert [o.accepted for o in report.outcomes] == [2, 2, 2]
    assert acceptances(ws) == PAIR_COUNT
    ((finished,),) = sql(ws, "SELECT finished_at FROM review_batches")
    assert stored_text(ws.store, "review_batches", "raw_output") == output
    assert finished is not None
    assert check_store(ws.store).ok


def test_a_missing_pair_fails_only_its_run(ws: Workspace) -> None:
    prepared = prepare(ws)
    pairs = prompt_pairs(ws, prepared)
    lost = Pair(SEEDS, TITLE_CLAIM)
    report = ingest(ws, output_for(pairs, skip=[lost]), batch_id=prepared.batch.batch_id)
    first, second, third = run_ids(prepared)
    assert report.completed == [first, third]
    assert report.failed == [(second, f"missing pair reviews: {TITLE_CLAIM}")]
    assert acceptances(ws) == 4
    assert sql(ws, "SELECT COUNT(*) FROM gate_reviews WHERE review_run_id = ?", (second,)) == [(0,)]
    # The block that did arrive is kept on the failed run.
    kept = stored_text(ws.store, "review_runs", "raw_bundle_markdown", second)
    assert block(Pair(SEEDS, OVERREACH), review_text(), token=pairs.token) in kept
    assert TITLE_CLAIM not in kept


def test_a_run_missing_every_pair_keeps_no_document(ws: Workspace) -> None:
    prepared = prepare(ws)
    pairs = prompt_pairs(ws, prepared)
    text = output_for(pairs, skip=[p for p in pairs if p.note_path == FROST])
    report = ingest(ws, text, batch_id=prepared.batch.batch_id)
    first = run_ids(prepared)[0]
    assert report.failed == [(first, f"missing pair reviews: {REPEATS}, {ABBREV}")]
    assert stored_text(ws.store, "review_runs", "raw_bundle_markdown", first) is None


def test_a_malformed_output_fails_every_running_run(ws: Workspace) -> None:
    prepared = prepare(ws)
    pairs = prompt_pairs(ws, prepared)
    nested = output_for(pairs).replace(
        "Checked the note.",
        "Checked.\n" + block(Pair(FROST, TAGS), review_text(), token=pairs.token),
        1,
    )
    report = ingest(ws, nested, batch_id=prepared.batch.batch_id)
    assert report.completed == []
    assert [run_id for run_id, _ in report.failed] == run_ids(prepared)
    for _, reason in report.failed:
        assert reason.startswith("malformed output: line ")
        assert "blocks cannot nest" in reason
    assert acceptances(ws) == 0
    assert sql(ws, "SELECT COUNT(*) FROM gate_reviews") == [(0,)]
    # The untrustworthy output is kept for inspection all the same.
    assert stored_text(ws.store, "review_batches", "raw_output") == nested
    assert check_store(ws.store).ok


def test_finalize_from_output_takes_text_and_execution_data(ws: Workspace) -> None:
    prepared = prepare(ws)
    scope = load_batch(ws.store, prepared.batch.batch_id)
    telemetry = {"session_id": "abc", "models": ["demo-reviewer-1"]}
    report = finalize_from_output(
        ws.config,
        ws.store,
        scope,
        output_for(prompt_pairs(ws, prepared)),
        execution=ExecutionData(telemetry=telemetry, debug_log="ran once"),
    )
    assert report.completed == run_ids(prepared)
    for stored, log in sql(ws, "SELECT telemetry_json, debug_log FROM review_runs"):
        assert json.loads(stored) == telemetry
        assert log == "ran once"


# --- decisions --------------------------------------------------------------------------


def test_error_and_unknown_results_are_stored_but_not_accepted(ws: Workspace) -> None:
    prepared = prepare(ws, f"{FROST}::clarity", f"{SEEDS}::{OVERREACH}")
    pairs = prompt_pairs(ws, prepared)
    texts = {
        Pair(FROST, REPEATS): review_text("ERROR"),
        Pair(FROST, ABBREV): "### Summary\nI could not decide.\n",
        Pair(SEEDS, OVERREACH): review_text("FAIL", "'every seed' from one packet"),
    }
    report = ingest(ws, output_for(pairs, texts=texts), batch_id=prepared.batch.batch_id)
    assert report.completed == run_ids(prepared)
    decisions = sql(ws, "SELECT gate_id, decision FROM gate_reviews ORDER BY id")
    assert decisions == [(REPEATS, "error"), (ABBREV, "unknown"), (OVERREACH, "fail")]
    assert sql(ws, "SELECT note_path, gate_id FROM acceptance_events") == [(SEEDS, OVERREACH)]
    assert [o.accepted_gate_ids for o in report.outcomes] == [(), (OVERREACH,)]


def test_findings_are_stored_structured(ws: Workspace) -> None:
    prepared = prepare(ws, f"{SEEDS}::{OVERREACH}")
    text = (
        "### Summary\nTwo problems.\n\n### Findings\n- WARN: 'always' in the second paragraph\n"
        "- FAIL: the title generalises from one packet\n- INFO: a minor aside\n\n## Result: FAIL\n"
    )
    pairs = prompt_pairs(ws, prepared)
    ingest(ws, output_for(pairs, texts={pairs[0]: text}), batch_id=prepared.batch.batch_id)
    (findings, rationale) = sql(ws, "SELECT findings_json, rationale_markdown FROM gate_reviews")[0]
    assert json.loads(findings) == [
        {"severity": "warn", "text": "'always' in the second paragraph"},
        {"severity": "fail", "text": "the title generalises from one packet"},
        {"severity": "info", "text": "a minor aside"},
    ]
    assert rationale == text


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope", [{}, {"batch_id": 1, "review_run_ids": [1]}], ids=["neither", "both"]
)
def test_scope_is_a_batch_or_runs(ws: Workspace, scope: dict[str, Any]) -> None:
    prepared = prepare(ws)
    with pytest.raises(UserError, match="either a batch"):
        ingest(ws, output_for(prompt_pairs(ws, prepared)), **scope)
    assert set(statuses(ws).values()) == {"running"}


def test_load_batch_and_load_runs(ws: Workspace) -> None:
    prepared = prepare(ws)
    first, second, third = run_ids(prepared)
    batch = load_batch(ws.store, prepared.batch.batch_id)
    assert [(r.review_run_id, r.note_path, r.gate_ids) for r in batch] == [
        (r.review_run_id, r.note_path, r.gate_ids) for r in prepared.batch.runs
    ]
    assert {r.status for r in batch} == {RunStatus.RUNNING}
    assert [r.review_run_id for r in load_runs(ws.store, [third, first, third])] == [third, first]
    assert load_runs(ws.store, [second])[0].pairs == [
        Pair(SEEDS, OVERREACH),
        Pair(SEEDS, TITLE_CLAIM),
    ]


def test_unknown_batches_and_runs_are_refused(ws: Workspace) -> None:
    prepared = prepare(ws)
    with pytest.raises(UserError, match="review batch 7 not found"):
        load_batch(ws.store, 7)
    with pytest.raises(UserError, match="review run 41, 42 not found"):
        load_runs(ws.store, [run_ids(prepared)[0], 41, 42])
    with pytest.raises(UserError, match="review run 42 not found"):
        ingest(
            ws, output_for(prompt_pairs(ws, prepared)), review_run_ids=[run_ids(prepared)[0], 42]
        )
    assert set(statuses(ws).values()) == {"running"}


def test_two_runs_of_one_note_are_refused(ws: Workspace) -> None:
    (one,) = run_ids(prepare(ws, f"{FROST}::{TAGS}"))
    (other,) = run_ids(prepare(ws, f"{FROST}::clarity"))
    with pytest.raises(UserError, match=f"review runs {one} and {other} both review {FROST}"):
        load_runs(ws.store, [one, other])


def test_a_subset_leaves_its_batch_mates_running(ws: Workspace) -> None:
    prepared = prepare(ws)
    first, second, third = run_ids(prepared)
    report = ingest(ws, output_for(prompt_pairs(ws, prepared)), review_run_ids=[second])
    assert report.completed == [second]
    assert statuses(ws) == {first: "running", second: "completed", third: "running"}
    assert acceptances(ws) == 2


def test_a_subset_still_refuses_pairs_outside_its_batch(ws: Workspace) -> None:
    prepared = prepare(ws)
    other = prepare(ws, f"{SEEDS}::{TAGS}")
    stray = block(Pair(SEEDS, TAGS), review_text(), token=prepared.batch.boundary_token)
    text = output_for(prompt_pairs(ws, prepared)) + stray
    report = ingest(ws, text, review_run_ids=[run_ids(prepared)[0]])
    ((_, reason),) = report.failed
    assert f"block for {SEEDS} :: {TAGS}, which was not requested" in reason
    assert statuses(ws)[other.batch.runs[0].review_run_id] == "running"


def test_a_block_with_another_batchs_token_is_text_to_this_batch(ws: Workspace) -> None:
    prepared = prepare(ws)
    other = prepare(ws, f"{SEEDS}::{TAGS}")
    theirs = block(Pair(SEEDS, TAGS), review_text("FAIL"), token=other.batch.boundary_token)
    text = output_for(prompt_pairs(ws, prepared)) + theirs
    report = ingest(ws, text, batch_id=prepared.batch.batch_id)
    assert report.completed == run_ids(prepared)
    assert statuses(ws)[other.batch.runs[0].review_run_id] == "running"
    # ... and each batch of a scope reads its own blocks with its own token
    both = [run_ids(prepared)[0], other.batch.runs[0].review_run_id]
    report = ingest(ws, theirs, review_run_ids=[both[1]])
    assert report.completed == [both[1]]
    assert sql(ws, "SELECT decision FROM gate_reviews WHERE review_run_id = ?", (both[1],)) == [
        ("fail",)
    ]


def test_a_v1_batch_prepared_before_the_token_still_ingests_with_v1_rules(
    ws: Workspace,
) -> None:
    prepared = prepare(ws)
    # what a batch prepared before the upgrade looks like: no token, pairs-v1
    execute_sql(
        ws.store,
        "UPDATE review_batches SET boundary_token = NULL, prompt_format_version = 'pairs-v1'",
    )
    pairs = prompt_pairs(ws, prepared)
    v1 = PromptPairs(list(pairs), None)
    tokened = output_for(pairs, decisions=dict.fromkeys(pairs, "FAIL"))
    report = ingest(ws, output_for(v1) + tokened, batch_id=prepared.batch.batch_id)
    assert report.completed == run_ids(prepared)
    assert set(sql(ws, "SELECT decision FROM gate_reviews")) == {("pass",)}
    document = stored_text(ws.store, "review_runs", "raw_bundle_markdown", 1)
    assert "=== PAIR REVIEW START: " in document  # the run's document stays v1


# --- repeatable ingest ------------------------------------------------------------------


def test_ingesting_again_finishes_what_is_left(ws: Workspace) -> None:
    prepared = prepare(ws)
    first, second, third = run_ids(prepared)
    output = output_for(prompt_pairs(ws, prepared))
    ingest(ws, output, review_run_ids=[first, third])
    before = run_rows(ws, [first, third])
    report = ingest(ws, output, batch_id=prepared.batch.batch_id)
    assert [r.review_run_id for r in report.already_final] == [first, third]
    assert [o.review_run_id for o in report.outcomes] == [second]
    assert report.completed == [first, second, third]
    assert report.failed == []
    assert run_rows(ws, [first, third]) == before
    assert acceptances(ws) == PAIR_COUNT
    again = ingest(ws, output, batch_id=prepared.batch.batch_id)
    assert again.outcomes == ()
    assert again.completed == [first, second, third]
    assert acceptances(ws) == PAIR_COUNT


def test_ingesting_after_a_crash_in_finalization(ws: Workspace) -> None:
    """A run the crashed ingest finalized (through the lifecycle) is final:
    ingesting again leaves it and finishes the others."""
    prepared = prepare(ws)
    first, second, third = run_ids(prepared)
    pairs = prompt_pairs(ws, prepared)
    record_and_finalize_run(
        ws.store,
        second,
        reviews=[PendingReview.from_text(p.gate_id, review_text()) for p in pairs[2:4]],
    )
    fail_run(ws.store, third, "abandoned")
    before = run_rows(ws, [second, third])
    report = ingest(ws, output_for(pairs), batch_id=prepared.batch.batch_id)
    assert [r.review_run_id for r in report.already_final] == [second, third]
    assert report.completed == [first, second]
    assert report.failed == [(third, "abandoned")]
    assert run_rows(ws, [second, third]) == before
    per_pair = sql(
        ws,
        "SELECT r.review_run_id, e.gate_id, COUNT(*) FROM acceptance_events e"
        " JOIN gate_reviews r ON r.id = e.accepted_review_id GROUP BY 1, 2",
    )
    assert {count for _, _, count in per_pair} == {1}
    assert len(per_pair) == 4


def test_a_malformed_second_output_leaves_final_runs_alone(ws: Workspace) -> None:
    prepared = prepare(ws)
    first, second, third = run_ids(prepared)
    ingest(ws, output_for(prompt_pairs(ws, prepared)), review_run_ids=[first])
    before = run_rows(ws, [first])
    report = ingest(ws, "=== PAIR REVIEW END: a.md :: b ===\n", batch_id=prepared.batch.batch_id)
    assert report.completed == [first]
    assert [run_id for run_id, _ in report.failed] == [second, third]
    assert run_rows(ws, [first]) == before


# --- one run, all or nothing ---------------------------------------------------------------


def live_run(ws: Workspace, *gates: str) -> tuple[int, list[Pair]]:
    created = create_review_run(
        ws, note=SEEDS, gate_refs=gates, runner="live-agent", model="demo", with_prompt=True
    )
    assert created.prompt is not None
    return created.batch.runs[0].review_run_id, prompt_pairs(ws, created.prompt)


def test_ingest_bundle_output_completes_a_run(ws: Workspace) -> None:
    run_id, pairs = live_run(ws, "claims")
    outcome = ingest_bundle_output(ws, run_id, output_for(pairs).encode()).outcomes[0]
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.accepted_gate_ids == (OVERREACH, TITLE_CLAIM)


def test_ingest_bundle_output_is_all_or_nothing(ws: Workspace) -> None:
    run_id, pairs = live_run(ws, "claims")
    outcome = ingest_bundle_output(ws, run_id, output_for(pairs, skip=pairs[1:]).encode()).outcomes[
        0
    ]
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason == f"missing pair reviews: {TITLE_CLAIM}"
    assert acceptances(ws) == 0
    assert sql(ws, "SELECT COUNT(*) FROM gate_reviews") == [(0,)]


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_ingest_bundle_output_refuses_a_final_run(ws: Workspace, final: str) -> None:
    run_id, pairs = live_run(ws, "claims")
    if final == "completed":
        ingest_bundle_output(ws, run_id, output_for(pairs).encode())
    else:
        fail_run(ws.store, run_id, "the agent gave up")
    before = run_rows(ws, [run_id])
    with pytest.raises(RunNotFinalizable, match=f"already {final}; nothing changed"):
        ingest_bundle_output(ws, run_id, output_for(pairs).encode())
    assert run_rows(ws, [run_id]) == before


def test_ingest_bundle_output_of_an_unknown_run(ws: Workspace) -> None:
    live_run(ws, "claims")
    with pytest.raises(UserError, match="review run 9 not found"):
        ingest_bundle_output(ws, 9, b"anything")


def test_reviews_of_an_ingested_run_point_at_its_versions(ws: Workspace, example_kb: Path) -> None:
    run_id, pairs = live_run(ws, OVERREACH)
    ingest_bundle_output(ws, run_id, output_for(pairs).encode())
    review_row = sql(
        ws,
        "SELECT v.gate_sha, v.reviewed_note_sha, v.reviewed_note_commit, v.model_id"
        " FROM gate_reviews v",
    )
    run_row = sql(
        ws,
        "SELECT g.gate_sha, r.reviewed_note_sha, r.reviewed_note_commit, r.model_id"
        " FROM review_runs r JOIN review_run_gates g ON g.review_run_id = r.id",
    )
    assert review_row == run_row
    assert review_row[0][3] == "demo-reviewer-1"
