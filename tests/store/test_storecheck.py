"""`review-store check` and `stats`: a healthy store passes, injected damage is named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers.store import (
    ABBREV,
    DATE,
    FROST,
    NOW,
    SEEDS,
    SKETCH,
    TAGS,
    insert_batch,
    kb_state,
    start_run,
)

from commonplace.git import blob_sha
from commonplace.kb.files import read_file
from commonplace.kb.gates import load_gates
from commonplace.lifecycle import (
    PendingReview,
    fail_run,
    record_and_finalize_run,
    record_gate_review,
)
from commonplace.services.ack import ack_pairs
from commonplace.store.check import check_store, store_stats
from commonplace.store.connection import Store
from commonplace.store.migrations import MIGRATIONS


def text(decision: str) -> str:
    return f"Checked.\n\n## Result: {decision}\n"


def healthy(store: Store, kb: Path) -> dict[str, int]:
    """A completed, a failed and a running run, and an ack in another partition."""
    done = start_run(store, kb, SKETCH, [TAGS, ABBREV])
    record_and_finalize_run(
        store,
        done,
        reviews=[
            PendingReview.from_text(TAGS, text("PASS")),
            PendingReview.from_text(ABBREV, text("WARN")),
        ],
    )
    failed = start_run(store, kb, DATE, [TAGS])
    fail_run(store, failed, "crashed")
    running = start_run(store, kb, FROST, [TAGS])
    config, git = kb_state(kb)
    ack_pairs(
        store, git, note=read_file(kb, SEEDS), gates=load_gates(config, [TAGS]), model_id="gpt-5-5"
    )
    return {"done": done, "failed": failed, "running": running}


def test_a_healthy_store_passes(store: Store, example_kb: Path) -> None:
    healthy(store, example_kb)
    report = check_store(store)
    assert report.violations == ()
    assert report.ok
    assert report.running_runs == 1
    assert report.schema_version == len(MIGRATIONS)


def test_checking_a_missing_store_creates_nothing(store: Store) -> None:
    report = check_store(store)
    assert report.ok
    assert report.running_runs == 0
    assert not store.exists


def test_store_stats(store: Store, example_kb: Path) -> None:
    healthy(store, example_kb)
    stats = store_stats(store)
    size = stats.pop("store_bytes")
    assert isinstance(size, int) and size > 8192  # pages (SQLite) or relations (PostgreSQL)
    assert stats == {
        "schema_version": len(MIGRATIONS),
        "batches": 3,
        "runs": {"completed": 1, "failed": 1, "running": 1},
        "gate_reviews": {"pass": 1, "warn": 1},
        "acceptance_events": {"full-review": 2, "trivial-change-ack": 1},
        "partitions": {"demo-reviewer-1": 2, "gpt-5-5": 1},
        "snapshots": 6,
        "relocations": 0,
        "labels": {},
    }


def test_stats_of_a_missing_store(store: Store) -> None:
    stats = store_stats(store)
    assert stats["batches"] == 0 and stats["runs"] == {} and stats["snapshots"] == 0
    assert not store.exists


def test_a_completed_run_missing_a_gate_review(store: Store) -> None:
    note_text, gate_text = "---\ndescription: n\n---\n", "Gate.\n"
    note_sha, gate_sha = blob_sha(note_text.encode()), blob_sha(gate_text.encode())
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO snapshots (sha, text) VALUES (?, ?)",
            [(note_sha, note_text), (gate_sha, gate_text)],
        )
        batch = insert_batch(conn, executor="x", model="m")
        run = conn.execute(
            "INSERT INTO review_runs (batch_id, note_path, model_id, runner, reviewed_note_sha,"
            " started_at, completed_at, status) VALUES (?, 'kb/notes/n.md', 'm', 'x', ?, ?, ?,"
            " 'completed') RETURNING id",
            (batch, note_sha, NOW, NOW),
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
            " VALUES (?, ?, ?, ?)",
            [(run, "lens/a", gate_sha, 0), (run, "lens/b", gate_sha, 1)],
        )
        conn.execute(
            "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
            " rationale_markdown, gate_sha, reviewed_note_sha, reviewed_at)"
            " VALUES (?, 'kb/notes/n.md', 'lens/a', 'm', 'pass', 'ok', ?, ?, ?)",
            (run, gate_sha, note_sha, NOW),
        )
    report = check_store(store)
    assert not report.ok
    assert report.violations == (f"completed review run {run} has no review of its gate lens/b",)


def test_a_review_of_another_gate_version_does_not_cover_the_gate(
    store: Store, example_kb: Path
) -> None:
    ids = healthy(store, example_kb)
    with store.write() as conn:
        conn.execute(
            "UPDATE gate_reviews SET gate_sha = ? WHERE review_run_id = ? AND gate_id = ?",
            ("0" * 40, ids["done"], ABBREV),
        )
    violations = check_store(store).violations
    assert f"completed review run {ids['done']} has no review of its gate {ABBREV}" in violations


def test_a_full_review_acceptance_from_a_failed_run(store: Store, example_kb: Path) -> None:
    healthy(store, example_kb)
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    review = record_gate_review(store, run_id, TAGS, text("PASS"))
    fail_run(store, run_id, "timeout")
    with store.write() as conn:
        event = conn.execute(
            "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
            " accepted_note_sha, accepted_note_commit, accepted_gate_sha, accepted_at,"
            " acceptance_kind) SELECT note_path, gate_id, model_id, id, reviewed_note_sha,"
            " reviewed_note_commit, gate_sha, ?, 'full-review' FROM gate_reviews WHERE id = ?"
            " RETURNING id",
            (NOW, review.gate_review_id),
        ).fetchone()[0]
    assert check_store(store).violations == (
        f"full-review acceptance {event} comes from a review run that is failed",
    )


def test_an_acceptance_that_does_not_match_its_review(store: Store, example_kb: Path) -> None:
    ids = healthy(store, example_kb)
    with store.write() as conn:
        review_id, note_sha, gate_sha = conn.execute(
            "SELECT id, reviewed_note_sha, gate_sha FROM gate_reviews"
            " WHERE review_run_id = ? AND gate_id = ?",
            (ids["done"], TAGS),
        ).fetchone()
        event = conn.execute(
            "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
            " accepted_note_sha, accepted_gate_sha, accepted_at, acceptance_kind)"
            " VALUES (?, ?, 'demo-reviewer-1', ?, ?, ?, ?, 'full-review') RETURNING id",
            (DATE, TAGS, review_id, note_sha, gate_sha, NOW),
        ).fetchone()[0]
    assert check_store(store).violations == (
        f"acceptance {event} does not match the review {review_id} it accepts",
    )


def test_an_acceptance_of_an_unknown_decision(store: Store, example_kb: Path) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    record_and_finalize_run(store, run_id, reviews=[PendingReview.from_text(TAGS, "no verdict")])
    with store.write() as conn:
        review_id = conn.execute("SELECT id FROM gate_reviews").fetchone()[0]
        event = conn.execute(
            "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
            " accepted_note_sha, accepted_gate_sha, accepted_at, acceptance_kind)"
            " SELECT note_path, gate_id, model_id, id, reviewed_note_sha, gate_sha, ?,"
            " 'full-review' FROM gate_reviews WHERE id = ? RETURNING id",
            (NOW, review_id),
        ).fetchone()[0]
    assert check_store(store).violations == (
        f"acceptance {event} accepts a review whose decision is unknown",
    )


def test_a_gate_review_in_another_partition_than_its_run(store: Store, example_kb: Path) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    review = record_gate_review(store, run_id, TAGS, text("PASS"))
    with store.write() as conn:
        conn.execute(
            "UPDATE gate_reviews SET model_id = 'other' WHERE id = ?", (review.gate_review_id,)
        )
    assert check_store(store).violations == (
        f"gate review {review.gate_review_id} does not match its review run {run_id}",
    )


def test_a_run_without_gates_and_a_batch_without_runs(store: Store, example_kb: Path) -> None:
    run_id = start_run(store, example_kb, SKETCH, [TAGS])
    with store.write() as conn:
        conn.execute("DELETE FROM review_run_gates WHERE review_run_id = ?", (run_id,))
        empty = insert_batch(conn, packing="gate", executor="x", model="m")
    assert check_store(store).violations == (
        f"review run {run_id} has no gates",
        f"review batch {empty} has no runs",
    )


def test_a_snapshot_that_does_not_hash_to_its_key(store: Store, example_kb: Path) -> None:
    healthy(store, example_kb)
    with store.write() as conn:
        conn.execute("INSERT INTO snapshots (sha, text) VALUES (?, ?)", ("0" * 40, "tampered"))
    assert check_store(store).violations == (f"snapshot {'0' * 40} does not hash to its key",)


@pytest.mark.sqlite_only("writes an orphan row through a raw connection with foreign keys off")
def test_orphan_rows_are_reported(store: Store, example_kb: Path) -> None:
    healthy(store, example_kb)
    store.close()
    raw = sqlite3.connect(store.path)  # foreign keys are off by default here
    raw.execute(
        "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
        " VALUES (999, 'lens/x', ?, 0)",
        (blob_sha(b"Gate.\n"),),
    )
    raw.commit()
    raw.close()
    with store.read() as conn:
        (rowid,) = conn.execute(
            "SELECT rowid FROM review_run_gates WHERE review_run_id = 999"
        ).fetchone()
    assert sorted(check_store(store).violations) == [
        f"review_run_gates row {rowid} points at a missing review_runs row",
        f"review_run_gates row {rowid} points at a missing snapshots row",
    ]
