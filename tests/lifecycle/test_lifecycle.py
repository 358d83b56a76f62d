"""The lifecycle of review runs (SPEC 6), against real git KBs and real stores."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import reviews
from helpers.backends import current_target
from helpers.db import STORE_TABLES
from helpers.kb import head
from helpers.store import (
    ABBREV,
    DATE,
    DEMO,
    FROST,
    OVERREACH,
    REPEATS,
    SKETCH,
    TAGS,
    TITLE_CLAIM,
    create_runs,
    make_plan,
    start_run,
)

from commonplace.errors import UserError
from commonplace.kb.files import read_file
from commonplace.lifecycle import (
    ABANDONED,
    ExecutionData,
    Packing,
    PendingReview,
    RunNotFinalizable,
    RunStatus,
    attach_execution_data,
    create_batch,
    fail_run,
    reap_stale_runs,
    record_and_finalize_run,
    record_gate_review,
    record_prompt,
)
from commonplace.lifecycle.partitions import Partition
from commonplace.lifecycle.targets import Plan, RunTarget
from commonplace.protocol.decisions import Decision
from commonplace.store.check import check_store
from commonplace.store.connection import Store

ALL_GATES = (OVERREACH, TITLE_CLAIM, REPEATS, ABBREV, TAGS)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# The tables a run writes to (model alias resolutions are not among them).
TABLES = tuple(t for t in STORE_TABLES if t != "model_alias_resolutions")


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[Store]:
    with Store(current_target() or tmp_path / "db" / "review-store.sqlite") as store:
        yield store


def review_text(decision: str, finding: str | None = None) -> str:
    """A review with one WARN `finding`, if any, whatever its decision."""
    findings = [("WARN", finding)] if finding else []
    return reviews.review_text(decision, findings, "Looked at it.", none="None.")


def dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.read() as conn:
        return {
            t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in TABLES
        }


def run_row(store: Store, run_id: int) -> dict[str, object]:
    with store.read() as conn:
        return dict(conn.execute("SELECT * FROM review_runs WHERE id = ?", (run_id,)).fetchone())


def rows(store: Store, sql: str, *args: object) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sql, args)]


# --- create ---------------------------------------------------------------------------


def test_create_batch_inserts_batch_runs_gates_and_snapshots(
    example_kb: Path, store: Store
) -> None:
    partition = Partition(requested_model="gpt-5-5", effort="xhigh", model="gpt-5-5")
    created = create_runs(
        store,
        example_kb,
        [(SKETCH, [OVERREACH, TITLE_CLAIM]), (FROST, [TITLE_CLAIM, TAGS])],
        partition=partition,
    )
    assert created.runner == "live-agent"
    assert created.model_id == "gpt-5-5-xhigh"
    assert [(r.note_path, r.gate_ids, r.model_id) for r in created.runs] == [
        (SKETCH, (OVERREACH, TITLE_CLAIM), "gpt-5-5-xhigh"),
        (FROST, (TAGS,), "gpt-5-5-xhigh"),
    ]
    assert [(s.note_path, s.gate_id) for s in created.skipped] == [(FROST, TITLE_CLAIM)]
    assert "title-as-claim" in created.skipped[0].reason

    (batch,) = rows(store, "SELECT * FROM review_batches")
    assert batch["id"] == created.batch_id
    assert batch["packing"] == "explicit"
    assert batch["executor"] == "live-agent"
    assert (batch["requested_model"], batch["requested_effort"]) == ("gpt-5-5", "xhigh")
    assert batch["requested_model_id"] == "gpt-5-5-xhigh"
    assert TIMESTAMP.match(str(batch["created_at"]))
    assert batch["finished_at"] is None

    commit = head(example_kb)
    runs = rows(store, "SELECT * FROM review_runs ORDER BY id")
    assert [r["id"] for r in runs] == [r.review_run_id for r in created.runs]
    for run, note in zip(runs, (SKETCH, FROST), strict=True):
        assert run["batch_id"] == created.batch_id
        assert run["note_path"] == note
        assert run["model_id"] == "gpt-5-5-xhigh"
        assert run["runner"] == "live-agent"
        assert run["status"] == "running"
        assert run["completed_at"] is None and run["failure_reason"] is None
        assert run["reviewed_note_sha"] == read_file(example_kb, note).sha
        assert run["reviewed_note_commit"] == commit
        assert run["host"] is None and run["pid"] is None
        assert TIMESTAMP.match(str(run["started_at"]))

    gates = rows(
        store,
        "SELECT review_run_id, gate_id, gate_sha, ordinal FROM review_run_gates"
        " ORDER BY review_run_id, ordinal",
    )
    gate_sha = {
        g: read_file(example_kb, f"kb/instructions/review-gates/{g}.md").sha for g in ALL_GATES
    }
    first, second = created.runs
    assert gates == [
        {
            "review_run_id": first.review_run_id,
            "gate_id": OVERREACH,
            "gate_sha": gate_sha[OVERREACH],
            "ordinal": 0,
        },
        {
            "review_run_id": first.review_run_id,
            "gate_id": TITLE_CLAIM,
            "gate_sha": gate_sha[TITLE_CLAIM],
            "ordinal": 1,
        },
        {
            "review_run_id": second.review_run_id,
            "gate_id": TAGS,
            "gate_sha": gate_sha[TAGS],
            "ordinal": 0,
        },
    ]

    snapshots = {r["sha"]: r["text"] for r in rows(store, "SELECT * FROM snapshots")}
    expected_files = [SKETCH, FROST] + [
        f"kb/instructions/review-gates/{g}.md" for g in (OVERREACH, TITLE_CLAIM, TAGS)
    ]
    assert snapshots == {
        read_file(example_kb, k).sha: read_file(example_kb, k).text for k in expected_files
    }


def test_create_batch_can_record_the_owning_process(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])], owned=True)
    run = run_row(store, created.runs[0].review_run_id)
    assert run["host"] == socket.gethostname()
    assert run["pid"] == os.getpid()


def test_create_batch_needs_a_runner_and_writes_nothing(example_kb: Path, store: Store) -> None:
    plan = make_plan(example_kb, [(SKETCH, [TAGS])])
    with pytest.raises(UserError, match="runner"):
        create_batch(store, plan, packing=Packing.NOTE, runner="  ", partition=DEMO)
    assert not store.exists


def test_create_batch_is_all_or_nothing(example_kb: Path, store: Store) -> None:
    plan = make_plan(example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS])])
    good, bad = plan.targets
    broken = Plan((good, RunTarget(bad.note, bad.note_commit, bad.gates * 2)), ())
    with pytest.raises(Exception, match=r"UNIQUE|unique constraint"):  # SQLite's or PostgreSQL's
        create_batch(store, broken, packing=Packing.EXPLICIT, runner="x", partition=DEMO)
    assert all(not v for v in dump(store).values())


def test_snapshots_are_shared_between_batches(example_kb: Path, store: Store) -> None:
    create_runs(store, example_kb, [(SKETCH, [TAGS])])
    create_runs(store, example_kb, [(SKETCH, [TAGS])])
    assert len(rows(store, "SELECT sha FROM snapshots")) == 2
    assert len(rows(store, "SELECT id FROM review_runs")) == 2


def test_record_prompt(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    record_prompt(store, created.batch_id, sha256="ab" * 32, chars=1234, version="3")
    (batch,) = rows(
        store, "SELECT prompt_sha256, prompt_chars, prompt_format_version FROM review_batches"
    )
    assert batch == {"prompt_sha256": "ab" * 32, "prompt_chars": 1234, "prompt_format_version": "3"}


# --- record one gate review ----------------------------------------------------------------


def test_record_gate_review_parses_and_stores(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [OVERREACH, TAGS])
    text = review_text("WARN", "Always sketches are better overreaches.")
    recorded = record_gate_review(store, run_id, OVERREACH, text)
    assert recorded.review_run_id == run_id
    assert recorded.gate_id == OVERREACH
    assert recorded.decision is Decision.WARN

    (review,) = rows(store, "SELECT * FROM gate_reviews")
    assert review["id"] == recorded.gate_review_id
    assert review["review_run_id"] == run_id
    assert review["note_path"] == SKETCH
    assert review["model_id"] == "demo-reviewer-1"
    assert review["decision"] == "warn"
    assert review["review_kind"] == "full-review"
    assert "Always sketches are better overreaches." in str(review["rationale_markdown"])
    assert str(review["rationale_markdown"]).endswith("## Result: WARN\n")
    assert json.loads(str(review["findings_json"])) == [
        {"severity": "warn", "text": "Always sketches are better overreaches."}
    ]
    run = run_row(store, run_id)
    assert review["reviewed_note_sha"] == run["reviewed_note_sha"]
    assert review["reviewed_note_commit"] == run["reviewed_note_commit"] == head(example_kb)
    assert (
        review["gate_sha"]
        == read_file(example_kb, f"kb/instructions/review-gates/{OVERREACH}.md").sha
    )
    assert TIMESTAMP.match(str(review["reviewed_at"]))
    assert run["status"] == "running"
    assert rows(store, "SELECT * FROM acceptance_events") == []


def test_record_gate_review_with_an_explicit_decision(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    recorded = record_gate_review(
        store, created.runs[0].review_run_id, TAGS, "Looks fine.", Decision.PASS
    )
    assert recorded.decision is Decision.PASS
    (review,) = rows(store, "SELECT decision, rationale_markdown FROM gate_reviews")
    assert review == {"decision": "pass", "rationale_markdown": "Looks fine.\n\n## Result: PASS\n"}


def test_record_gate_review_without_a_result_line_is_unknown(
    example_kb: Path, store: Store
) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    recorded = record_gate_review(store, created.runs[0].review_run_id, TAGS, "No verdict here.")
    assert recorded.decision is Decision.UNKNOWN
    (review,) = rows(store, "SELECT decision, rationale_markdown FROM gate_reviews")
    assert review == {"decision": "unknown", "rationale_markdown": "No verdict here.\n"}


def test_record_gate_review_refuses_a_gate_outside_the_set(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    before = dump(store)
    with pytest.raises(UserError, match=f"{OVERREACH} is not part of review run") as info:
        record_gate_review(store, created.runs[0].review_run_id, OVERREACH, review_text("PASS"))
    assert "nothing written" in info.value.message
    assert dump(store) == before


def test_record_gate_review_refuses_a_second_review(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    record_gate_review(store, run_id, TAGS, review_text("PASS"))
    before = dump(store)
    with pytest.raises(UserError, match="already has a review"):
        record_gate_review(store, run_id, TAGS, review_text("FAIL"))
    assert dump(store) == before
    assert [r["decision"] for r in rows(store, "SELECT decision FROM gate_reviews")] == ["pass"]


def test_record_gate_review_needs_a_running_run(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    fail_run(store, run_id, "given up")
    before = dump(store)
    with pytest.raises(RunNotFinalizable, match="already failed"):
        record_gate_review(store, run_id, TAGS, review_text("PASS"))
    with pytest.raises(RunNotFinalizable, match="not found"):
        record_gate_review(store, run_id + 100, TAGS, review_text("PASS"))
    assert dump(store) == before


def test_record_gate_review_refuses_empty_text(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    before = dump(store)
    with pytest.raises(UserError, match="empty"):
        record_gate_review(store, created.runs[0].review_run_id, TAGS, "  \n")
    assert dump(store) == before


def test_record_gate_review_on_a_missing_store_creates_nothing(store: Store) -> None:
    with pytest.raises(UserError, match="no review store"):
        record_gate_review(store, 1, TAGS, review_text("PASS"))
    assert not store.exists


# --- record and finalize -------------------------------------------------------------------


def test_finalize_completes_and_accepts_only_real_verdicts(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, list(ALL_GATES))
    decisions = dict(zip(ALL_GATES, ("FAIL", "ERROR", "PASS", "maybe", "WARN"), strict=True))
    reviews = [PendingReview.from_text(g, review_text(d)) for g, d in decisions.items()]
    outcome = record_and_finalize_run(store, run_id, reviews=reviews)

    assert outcome.status is RunStatus.COMPLETED
    assert outcome.review_run_id == run_id
    assert outcome.model_id == "demo-reviewer-1"
    assert outcome.reason is None
    assert outcome.rekeyed_from is None
    assert outcome.accepted == 3
    assert outcome.accepted_gate_ids == (OVERREACH, REPEATS, TAGS)

    run = run_row(store, run_id)
    assert run["status"] == "completed"
    assert TIMESTAMP.match(str(run["completed_at"]))
    assert run["failure_reason"] is None

    stored = {
        r["gate_id"]: r["decision"]
        for r in rows(store, "SELECT gate_id, decision FROM gate_reviews")
    }
    assert stored == {
        OVERREACH: "fail",
        TITLE_CLAIM: "error",
        REPEATS: "pass",
        ABBREV: "unknown",
        TAGS: "warn",
    }
    events = rows(
        store,
        "SELECT e.*, r.gate_sha AS review_gate_sha, r.reviewed_note_sha AS review_note_sha,"
        " r.decision FROM acceptance_events e JOIN gate_reviews r ON r.id = e.accepted_review_id"
        " ORDER BY e.id",
    )
    assert [e["gate_id"] for e in events] == [OVERREACH, REPEATS, TAGS]
    for event in events:
        assert event["acceptance_kind"] == "full-review"
        assert event["note_path"] == SKETCH
        assert event["model_id"] == "demo-reviewer-1"
        assert event["accepted_note_sha"] == event["review_note_sha"] == run["reviewed_note_sha"]
        assert event["accepted_note_commit"] == head(example_kb)
        assert event["accepted_gate_sha"] == event["review_gate_sha"]
        assert event["accepted_at"] == run["completed_at"]
    assert check_store(store).ok


def test_finalize_after_the_split_path(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    record_gate_review(store, run_id, TAGS, review_text("PASS"))
    record_gate_review(store, run_id, ABBREV, review_text("WARN"))
    outcome = record_and_finalize_run(store, run_id)
    assert (outcome.status, outcome.accepted) == (RunStatus.COMPLETED, 2)
    assert outcome.accepted_gate_ids == (TAGS, ABBREV)


def test_finalize_with_missing_gates_fails_the_run_and_keeps_nothing(
    example_kb: Path, store: Store
) -> None:
    run_id = start_run(store, example_kb, SKETCH, [OVERREACH, TAGS, ABBREV])
    outcome = record_and_finalize_run(
        store, run_id, reviews=[PendingReview.from_text(TAGS, review_text("PASS"))]
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason is not None
    assert "missing gate reviews" in outcome.reason
    assert OVERREACH in outcome.reason and ABBREV in outcome.reason
    assert TAGS not in outcome.reason
    assert outcome.accepted == 0
    run = run_row(store, run_id)
    assert run["status"] == "failed"
    assert run["failure_reason"] == outcome.reason
    assert run["completed_at"] is not None
    assert rows(store, "SELECT * FROM gate_reviews") == []
    assert rows(store, "SELECT * FROM acceptance_events") == []
    assert check_store(store).ok


def test_finalize_refusal_keeps_earlier_split_reviews(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [OVERREACH, TAGS, ABBREV])
    record_gate_review(store, run_id, OVERREACH, review_text("PASS"))
    outcome = record_and_finalize_run(
        store, run_id, reviews=[PendingReview.from_text(TAGS, review_text("PASS"))]
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason == f"missing gate reviews: {ABBREV}"
    assert [r["gate_id"] for r in rows(store, "SELECT gate_id FROM gate_reviews")] == [OVERREACH]
    assert rows(store, "SELECT * FROM acceptance_events") == []


def test_finalize_with_a_foreign_gate_fails_the_run(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    outcome = record_and_finalize_run(
        store,
        run_id,
        reviews=[
            PendingReview.from_text(TAGS, review_text("PASS")),
            PendingReview.from_text(ABBREV, review_text("PASS")),
        ],
    )
    assert outcome.status is RunStatus.FAILED
    assert f"gate {ABBREV} is not part of review run {run_id}" in str(outcome.reason)
    assert rows(store, "SELECT * FROM gate_reviews") == []
    assert rows(store, "SELECT * FROM acceptance_events") == []


def test_finalize_with_a_gate_sha_mismatch_fails_the_run(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    record_gate_review(store, run_id, ABBREV, review_text("PASS"))
    with store.write() as conn:
        conn.execute(
            "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
            " rationale_markdown, gate_sha, reviewed_note_sha, reviewed_at)"
            " SELECT id, note_path, ?, model_id, 'pass', 'ok', ?, reviewed_note_sha, started_at"
            " FROM review_runs WHERE id = ?",
            (TAGS, "0" * 40, run_id),
        )
    outcome = record_and_finalize_run(store, run_id)
    assert outcome.status is RunStatus.FAILED
    assert outcome.reason == f"gate provenance mismatch: {TAGS}"
    assert rows(store, "SELECT * FROM acceptance_events") == []


def test_finalize_rekeys_to_the_actual_partition(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    record_gate_review(store, run_id, TAGS, review_text("PASS"))
    outcome = record_and_finalize_run(
        store,
        run_id,
        reviews=[PendingReview.from_text(ABBREV, review_text("WARN"))],
        actual_model_id="claude-opus-4-6",
    )
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.model_id == "claude-opus-4-6"
    assert outcome.rekeyed_from == "demo-reviewer-1"
    run = run_row(store, run_id)
    assert (run["model_id"], run["rekeyed_from"]) == ("claude-opus-4-6", "demo-reviewer-1")
    assert {r["model_id"] for r in rows(store, "SELECT model_id FROM gate_reviews")} == {
        "claude-opus-4-6"
    }
    events = rows(store, "SELECT gate_id, model_id FROM acceptance_events ORDER BY id")
    assert events == [
        {"gate_id": TAGS, "model_id": "claude-opus-4-6"},
        {"gate_id": ABBREV, "model_id": "claude-opus-4-6"},
    ]
    # The requested partition stays on the batch; it is not a key of anything accepted.
    (batch,) = rows(store, "SELECT requested_model_id FROM review_batches")
    assert batch["requested_model_id"] == "demo-reviewer-1"
    assert check_store(store).ok


def test_finalize_does_not_rekey_to_the_same_partition(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    outcome = record_and_finalize_run(
        store,
        run_id,
        reviews=[PendingReview.from_text(TAGS, review_text("PASS"))],
        actual_model_id="demo-reviewer-1",
    )
    assert outcome.rekeyed_from is None
    assert run_row(store, run_id)["rekeyed_from"] is None


def test_a_refused_finalize_does_not_rekey(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    outcome = record_and_finalize_run(
        store,
        run_id,
        reviews=[PendingReview.from_text(TAGS, review_text("PASS"))],
        actual_model_id="claude-opus-4-6",
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.model_id == "demo-reviewer-1"
    run = run_row(store, run_id)
    assert (run["model_id"], run["rekeyed_from"]) == ("demo-reviewer-1", None)


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_finalizing_a_final_run_changes_nothing(example_kb: Path, store: Store, final: str) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    if final == "completed":
        record_and_finalize_run(
            store, run_id, reviews=[PendingReview.from_text(TAGS, review_text("PASS"))]
        )
    else:
        fail_run(store, run_id, "crashed")
    before = dump(store)
    with pytest.raises(RunNotFinalizable, match=f"already {final}"):
        record_and_finalize_run(
            store,
            run_id,
            reviews=[PendingReview.from_text(TAGS, review_text("FAIL"))],
            actual_model_id="other-model",
            execution=ExecutionData(telemetry={"x": 1}, debug_log="late"),
        )
    assert dump(store) == before


def test_a_second_finalizer_through_another_connection_loses(
    example_kb: Path, store: Store
) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    record_gate_review(store, run_id, TAGS, review_text("PASS"))
    with store.another() as other:
        first = record_and_finalize_run(other, run_id)
        assert first.status is RunStatus.COMPLETED
    before = dump(store)
    with pytest.raises(RunNotFinalizable):
        record_and_finalize_run(store, run_id)
    assert dump(store) == before
    assert len(rows(store, "SELECT * FROM acceptance_events")) == 1


def test_finalize_attaches_execution_data(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    record_and_finalize_run(
        store,
        run_id,
        reviews=[PendingReview.from_text(TAGS, review_text("PASS"))],
        execution=ExecutionData(telemetry={"b": 2, "a": 1}, debug_log="log", raw_output="raw"),
        bundle_markdown="the run's blocks",
    )
    run = run_row(store, run_id)
    assert json.loads(str(run["telemetry_json"])) == {"a": 1, "b": 2}
    assert (run["debug_log"], run["raw_bundle_markdown"]) == ("log", "the run's blocks")
    assert rows(store, "SELECT raw_output FROM review_batches") == [{"raw_output": "raw"}]


def test_a_refused_finalize_still_keeps_execution_data(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS, ABBREV])
    outcome = record_and_finalize_run(
        store,
        run_id,
        execution=ExecutionData(telemetry={"model": "m"}, raw_output="raw"),
        bundle_markdown="partial blocks",
    )
    assert outcome.status is RunStatus.FAILED
    run = run_row(store, run_id)
    assert json.loads(str(run["telemetry_json"])) == {"model": "m"}
    assert run["raw_bundle_markdown"] == "partial blocks"
    assert rows(store, "SELECT raw_output FROM review_batches") == [{"raw_output": "raw"}]


# --- fail ----------------------------------------------------------------------------------


def test_fail_run(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    outcome = fail_run(
        store, run_id, "usage exhausted", execution=ExecutionData(debug_log="429 x3")
    )
    assert (outcome.status, outcome.reason, outcome.model_id) == (
        RunStatus.FAILED,
        "usage exhausted",
        "demo-reviewer-1",
    )
    run = run_row(store, run_id)
    assert (run["status"], run["failure_reason"], run["debug_log"]) == (
        "failed",
        "usage exhausted",
        "429 x3",
    )
    assert TIMESTAMP.match(str(run["completed_at"]))
    with pytest.raises(RunNotFinalizable, match="already failed"):
        fail_run(store, run_id, "again")
    assert run_row(store, run_id)["failure_reason"] == "usage exhausted"


def test_fail_run_without_a_reason_still_has_one(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])])
    outcome = fail_run(store, created.runs[0].review_run_id, "   ")
    assert outcome.reason
    assert run_row(store, created.runs[0].review_run_id)["failure_reason"] == outcome.reason


# --- execution data ----------------------------------------------------------------------------


def test_attach_execution_data_coalesces(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS])])
    ids = [r.review_run_id for r in created.runs]
    attach_execution_data(
        store,
        ExecutionData(telemetry={"cost": 0.5}, debug_log="first log", raw_output="raw one"),
        review_run_ids=ids,
        batch_id=created.batch_id,
    )
    attach_execution_data(
        store,
        ExecutionData(debug_log="second log"),
        review_run_ids=ids[:1],
        batch_id=created.batch_id,
    )
    runs = rows(
        store,
        "SELECT id, telemetry_json, debug_log, raw_bundle_markdown, status,"
        " model_id FROM review_runs ORDER BY id",
    )
    assert [json.loads(str(r["telemetry_json"])) for r in runs] == [{"cost": 0.5}] * 2
    assert [r["debug_log"] for r in runs] == ["second log", "first log"]
    assert [r["raw_bundle_markdown"] for r in runs] == [None, None]
    assert {r["status"] for r in runs} == {"running"}
    assert {r["model_id"] for r in runs} == {"demo-reviewer-1"}
    (batch,) = rows(store, "SELECT telemetry_json, debug_log, raw_output FROM review_batches")
    assert json.loads(str(batch["telemetry_json"])) == {"cost": 0.5}
    assert (batch["debug_log"], batch["raw_output"]) == ("second log", "raw one")

    attach_execution_data(
        store,
        ExecutionData(telemetry={"cost": 0.75}),
        review_run_ids=ids,
        batch_id=created.batch_id,
    )
    runs = rows(store, "SELECT telemetry_json, debug_log, raw_bundle_markdown FROM review_runs")
    assert [json.loads(str(r["telemetry_json"])) for r in runs] == [{"cost": 0.75}] * 2
    assert [(r["debug_log"], r["raw_bundle_markdown"]) for r in runs] == [
        ("second log", None),
        ("first log", None),
    ]
    (batch,) = rows(store, "SELECT telemetry_json, debug_log FROM review_batches")
    assert (json.loads(str(batch["telemetry_json"])), batch["debug_log"]) == (
        {"cost": 0.75},
        "second log",
    )


def test_attach_execution_data_to_a_final_run_does_not_fail(example_kb: Path, store: Store) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    fail_run(store, run_id, "timeout")
    attach_execution_data(store, ExecutionData(telemetry={"late": True}), review_run_ids=[run_id])
    run = run_row(store, run_id)
    assert (run["status"], run["failure_reason"]) == ("failed", "timeout")
    assert json.loads(str(run["telemetry_json"])) == {"late": True}


def test_attach_execution_data_needs_a_store(store: Store) -> None:
    with pytest.raises(UserError):
        attach_execution_data(store, ExecutionData(debug_log="x"), review_run_ids=[1])
    assert not store.exists


# --- batches --------------------------------------------------------------------------------


def test_batch_finishes_when_its_last_run_is_final(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS])])
    first, second = (r.review_run_id for r in created.runs)
    record_and_finalize_run(
        store, first, reviews=[PendingReview.from_text(TAGS, review_text("PASS"))]
    )
    assert rows(store, "SELECT finished_at FROM review_batches") == [{"finished_at": None}]
    fail_run(store, second, "crashed")
    (batch,) = rows(store, "SELECT finished_at FROM review_batches")
    assert batch["finished_at"] == run_row(store, second)["completed_at"]


# --- reap ---------------------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_reap_with_zero_age_fails_every_running_run(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS]), (FROST, [TAGS])])
    done, first, second = (r.review_run_id for r in created.runs)
    record_and_finalize_run(
        store, done, reviews=[PendingReview.from_text(TAGS, review_text("PASS"))]
    )
    assert reap_stale_runs(store, older_than=timedelta(0)) == [first, second]
    for run_id in (first, second):
        run = run_row(store, run_id)
        assert (run["status"], run["failure_reason"]) == ("failed", ABANDONED)
    assert ABANDONED == "abandoned"
    assert run_row(store, done)["status"] == "completed"
    assert rows(store, "SELECT finished_at IS NOT NULL AS f FROM review_batches") == [{"f": 1}]
    assert reap_stale_runs(store, older_than=timedelta(0)) == []


def test_reap_keeps_young_runs(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS])], owned=True)
    assert reap_stale_runs(store, older_than=timedelta(hours=2)) == []
    assert run_row(store, created.runs[0].review_run_id)["status"] == "running"


def test_reap_runs_of_a_dead_process_on_this_host(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS]), (FROST, [TAGS])])
    dead_here, alive_here, dead_elsewhere = (r.review_run_id for r in created.runs)
    pid = _dead_pid()
    with store.write() as conn:
        conn.executemany(
            "UPDATE review_runs SET host = ?, pid = ? WHERE id = ?",
            [
                (socket.gethostname(), pid, dead_here),
                (socket.gethostname(), os.getpid(), alive_here),
                ("another-host.invalid", pid, dead_elsewhere),
            ],
        )
    assert reap_stale_runs(store, older_than=timedelta(hours=2), dry_run=True) == [dead_here]
    assert run_row(store, dead_here)["status"] == "running"
    assert reap_stale_runs(store, older_than=timedelta(hours=2)) == [dead_here]
    assert run_row(store, dead_here)["failure_reason"] == "abandoned"
    assert run_row(store, alive_here)["status"] == "running"
    assert run_row(store, dead_elsewhere)["status"] == "running"


def test_reap_dry_run_changes_nothing(example_kb: Path, store: Store) -> None:
    created = create_runs(store, example_kb, [(SKETCH, [TAGS]), (DATE, [TAGS])])
    before = dump(store)
    ids = reap_stale_runs(store, older_than=timedelta(0), dry_run=True)
    assert ids == [r.review_run_id for r in created.runs]
    assert dump(store) == before


def test_reap_on_a_missing_store_creates_nothing(store: Store) -> None:
    assert reap_stale_runs(store, older_than=timedelta(0)) == []
    assert not store.exists
