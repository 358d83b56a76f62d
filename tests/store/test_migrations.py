"""The schema of SPEC 5: tables, contract columns, CHECK constraints, triggers."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.backends import current_target
from helpers.db import STORE_TABLES
from helpers.store import NOW, insert_batch

from commonplace.git import blob_sha
from commonplace.store.connection import Store
from commonplace.store.migrations import MIGRATIONS

NOTE_TEXT = "---\ndescription: x\n---\n\n# X\n"
GATE_TEXT = "---\ndescription: g\n---\n\nLook.\n"
NOTE_SHA = blob_sha(NOTE_TEXT.encode())
GATE_SHA = blob_sha(GATE_TEXT.encode())

CONTRACT_COLUMNS = {
    "review_batches": {
        "id",
        "packing",
        "executor",
        "requested_model",
        "requested_effort",
        "prompt_sha256",
        "prompt_chars",
        "prompt_format_version",
        "created_at",
        "finished_at",
        "telemetry_json",
        "debug_log",
    },
    "review_runs": {
        "id",
        "batch_id",
        "note_path",
        "model_id",
        "runner",
        "reviewed_note_sha",
        "reviewed_note_commit",
        "started_at",
        "completed_at",
        "status",
        "failure_reason",
        "telemetry_json",
        "raw_bundle_markdown",
        "debug_log",
        "rekeyed_from",
        "host",
        "pid",
    },
    "review_run_gates": {"review_run_id", "gate_id", "gate_sha", "ordinal"},
    "gate_reviews": {
        "id",
        "review_run_id",
        "note_path",
        "gate_id",
        "model_id",
        "decision",
        "rationale_markdown",
        "findings_json",
        "gate_sha",
        "reviewed_note_sha",
        "reviewed_note_commit",
        "reviewed_at",
        "review_kind",
    },
    "acceptance_events": {
        "id",
        "note_path",
        "gate_id",
        "model_id",
        "accepted_review_id",
        "accepted_note_sha",
        "accepted_note_commit",
        "accepted_gate_sha",
        "accepted_at",
        "acceptance_kind",
    },
    "snapshots": {"sha", "text"},
    "model_alias_resolutions": {
        "requested_model",
        "requested_effort",
        "resolved_model_id",
        "observed_at",
        "batch_id",
    },
    "current_gate_acceptances": {
        "note_path",
        "gate_id",
        "model_id",
        "accepted_review_id",
        "accepted_note_sha",
        "accepted_gate_sha",
        "acceptance_kind",
    },
}


# The tests reading SQLite's catalog (a store never written reads as an empty
# SQLite schema on either backend); `check` verifies the PostgreSQL schema.
CATALOG = "reads SQLite's catalog (sqlite_master, PRAGMA)"


# What each backend says when a constraint or a trigger refuses a change.
REFUSALS = {
    "CHECK": "CHECK constraint|violates check constraint",
    "FOREIGN KEY": "FOREIGN KEY constraint|violates foreign key constraint",
    "UNIQUE": "UNIQUE constraint|violates unique constraint",
    "append-only": "append-only",
}


def refused(kind: str | None = None) -> Any:
    """pytest.raises for the refusal of a change by the schema, on either backend."""
    errors: list[type[Exception]] = [sqlite3.IntegrityError]
    with contextlib.suppress(ImportError):
        import psycopg

        errors += [psycopg.errors.IntegrityError, psycopg.errors.RaiseException]
    return pytest.raises(tuple(errors), match=REFUSALS[kind] if kind else None)


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[Store]:
    with Store(current_target() or tmp_path / "store.sqlite") as store:
        store.migrate()
        yield store


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _seed(conn: sqlite3.Connection) -> tuple[int, int]:
    """A batch and one running run with one gate; returns (batch id, run id)."""
    conn.executemany(
        "INSERT INTO snapshots (sha, text) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(NOTE_SHA, NOTE_TEXT), (GATE_SHA, GATE_TEXT)],
    )
    batch_id = insert_batch(conn)
    run_id = _insert_run(conn, batch_id)
    conn.execute(
        "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
        " VALUES (?, 'lens/gate', ?, 0)",
        (run_id, GATE_SHA),
    )
    return batch_id, run_id


def _insert_run(
    conn: sqlite3.Connection,
    batch_id: int | None,
    status: str = "running",
    completed_at: str | None = None,
    failure_reason: str | None = None,
) -> int:
    run_id = conn.execute(
        "INSERT INTO review_runs (batch_id, note_path, model_id, runner, reviewed_note_sha,"
        " started_at, status, completed_at, failure_reason)"
        " VALUES (?, 'kb/notes/x.md', 'demo', 'live-agent', ?, ?, ?, ?, ?) RETURNING id",
        (batch_id, NOTE_SHA, NOW, status, completed_at, failure_reason),
    ).fetchone()[0]
    assert run_id is not None
    return run_id


def _insert_review(conn: sqlite3.Connection, run_id: int, decision: str = "pass") -> int:
    review_id = conn.execute(
        "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
        " rationale_markdown, gate_sha, reviewed_note_sha, reviewed_at)"
        " VALUES (?, 'kb/notes/x.md', 'lens/gate', 'demo', ?, 'ok', ?, ?, ?) RETURNING id",
        (run_id, decision, GATE_SHA, NOTE_SHA, NOW),
    ).fetchone()[0]
    assert review_id is not None
    return review_id


def _insert_event(
    conn: sqlite3.Connection,
    *,
    kind: str = "trivial-change-ack",
    review_id: int | None = None,
    note_sha: str = NOTE_SHA,
    model_id: str = "demo",
    gate_id: str = "lens/gate",
    note_path: str = "kb/notes/x.md",
) -> int:
    event_id = conn.execute(
        "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
        " accepted_note_sha, accepted_gate_sha, accepted_at, acceptance_kind)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (note_path, gate_id, model_id, review_id, note_sha, GATE_SHA, NOW, kind),
    ).fetchone()[0]
    assert event_id is not None
    return event_id


@pytest.mark.sqlite_only(CATALOG)
def test_blank_store_has_every_table_and_view(store: Store) -> None:
    with store.read() as conn:
        objects = {(row[0], row[1]) for row in conn.execute("SELECT type, name FROM sqlite_master")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    for table in STORE_TABLES:
        assert ("table", table) in objects
    assert ("view", "current_gate_acceptances") in objects


@pytest.mark.parametrize("table", sorted(CONTRACT_COLUMNS))
@pytest.mark.sqlite_only(CATALOG)
def test_contract_column_names(store: Store, table: str) -> None:
    with store.read() as conn:
        missing = CONTRACT_COLUMNS[table] - _columns(conn, table)
    assert not missing


@pytest.mark.sqlite_only(CATALOG)
def test_ids_use_autoincrement(store: Store) -> None:
    with store.read() as conn:
        sql = {
            row[0]: row[1]
            for row in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'")
        }
    for table in ("review_batches", "review_runs", "gate_reviews", "acceptance_events"):
        assert "AUTOINCREMENT" in sql[table].upper(), table


def test_a_valid_run_lifecycle_is_accepted_by_the_constraints(store: Store) -> None:
    with store.write() as conn:
        batch_id, run_id = _seed(conn)
        conn.execute(
            "UPDATE review_runs SET status = 'completed', completed_at = ? WHERE id = ?",
            (NOW, run_id),
        )
        failed = _insert_run(conn, batch_id, "failed", NOW, "abandoned")
        statuses = dict(conn.execute("SELECT id, status FROM review_runs"))
    assert statuses == {run_id: "completed", failed: "failed"}


@pytest.mark.parametrize(
    ("status", "completed_at", "failure_reason"),
    [
        ("running", NOW, None),
        ("running", None, "why"),
        ("failed", NOW, None),
        ("failed", NOW, ""),
        ("failed", None, "why"),
        ("completed", NOW, "why"),
        ("completed", None, None),
        ("paused", None, None),
    ],
)
def test_run_status_checks(
    store: Store, status: str, completed_at: str | None, failure_reason: str | None
) -> None:
    with store.write() as conn:
        batch_id, _ = _seed(conn)
    with refused("CHECK"), store.write() as conn:
        _insert_run(conn, batch_id, status, completed_at, failure_reason)


def test_run_status_check_also_guards_updates(store: Store) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
    with refused(), store.write() as conn:
        conn.execute("UPDATE review_runs SET status = 'failed' WHERE id = ?", (run_id,))
    with store.read() as conn:
        row = conn.execute("SELECT status, completed_at FROM review_runs").fetchone()
    assert tuple(row) == ("running", None)


def test_run_needs_an_existing_batch_and_snapshot(store: Store) -> None:
    with refused("FOREIGN KEY"), store.write() as conn:
        _insert_run(conn, 999)


@pytest.mark.parametrize("decision", ["pass", "warn", "fail", "error", "unknown"])
def test_known_decisions_are_stored(store: Store, decision: str) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
        _insert_review(conn, run_id, decision)
    with store.read() as conn:
        assert conn.execute("SELECT decision FROM gate_reviews").fetchone()[0] == decision


@pytest.mark.parametrize("decision", ["PASS", "maybe", "", "ok"])
def test_bad_decisions_are_rejected(store: Store, decision: str) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
    with refused("CHECK"), store.write() as conn:
        _insert_review(conn, run_id, decision)


def test_gate_review_unique_per_run_and_gate(store: Store) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
        _insert_review(conn, run_id)
    with refused("UNIQUE"), store.write() as conn:
        _insert_review(conn, run_id, "warn")


def test_gate_review_must_be_of_a_gate_in_the_run(store: Store) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
    with refused("FOREIGN KEY"), store.write() as conn:
        conn.execute(
            "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
            " rationale_markdown, gate_sha, reviewed_note_sha, reviewed_at)"
            " VALUES (?, 'kb/notes/x.md', 'lens/other', 'demo', 'pass', 'ok', ?, ?, ?)",
            (run_id, GATE_SHA, NOTE_SHA, NOW),
        )


def test_run_gate_ordinal_unique_per_run(store: Store) -> None:
    with store.write() as conn:
        _, run_id = _seed(conn)
    with refused("UNIQUE"), store.write() as conn:
        conn.execute(
            "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
            " VALUES (?, 'lens/second', ?, 0)",
            (run_id, GATE_SHA),
        )


@pytest.mark.parametrize(
    "kind",
    ["trivial-change-ack", "gate-migration", "migration-import", "manual-override"],
)
def test_acceptance_kinds_without_a_review(store: Store, kind: str) -> None:
    with store.write() as conn:
        _insert_event(conn, kind=kind)
    with store.read() as conn:
        assert conn.execute("SELECT acceptance_kind FROM acceptance_events").fetchone()[0] == kind


@pytest.mark.parametrize("kind", ["full", "ack", "", "FULL-REVIEW"])
def test_bad_acceptance_kinds_are_rejected(store: Store, kind: str) -> None:
    with refused("CHECK"), store.write() as conn:
        _insert_event(conn, kind=kind)


def test_full_review_acceptance_needs_a_review(store: Store) -> None:
    with refused("CHECK"), store.write() as conn:
        _insert_event(conn, kind="full-review", review_id=None)
    with store.write() as conn:
        _, run_id = _seed(conn)
        review_id = _insert_review(conn, run_id)
        _insert_event(conn, kind="full-review", review_id=review_id)
    with store.read() as conn:
        assert conn.execute("SELECT accepted_review_id FROM acceptance_events").fetchone()[0] == (
            review_id
        )


def test_full_review_acceptance_needs_an_existing_review(store: Store) -> None:
    with refused("FOREIGN KEY"), store.write() as conn:
        _insert_event(conn, kind="full-review", review_id=12345)


def test_acceptance_events_cannot_be_deleted(store: Store) -> None:
    with store.write() as conn:
        event_id = _insert_event(conn)
    with refused("append-only"), store.write() as conn:
        conn.execute("DELETE FROM acceptance_events WHERE id = ?", (event_id,))
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM acceptance_events").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("accepted_note_sha", "0" * 40),
        ("accepted_gate_sha", "1" * 40),
        ("accepted_note_commit", "2" * 40),
        ("accepted_at", "2030-01-01T00:00:00.000Z"),
        ("acceptance_kind", "manual-override"),
        ("accepted_review_id", None),
    ],
)
def test_what_was_accepted_cannot_be_updated(store: Store, column: str, value: object) -> None:
    with store.write() as conn:
        event_id = _insert_event(conn)
        before = tuple(conn.execute("SELECT * FROM acceptance_events").fetchone())
    with refused("append-only"), store.write() as conn:
        conn.execute(f"UPDATE acceptance_events SET {column} = ? WHERE id = ?", (value, event_id))
    with store.read() as conn:
        assert tuple(conn.execute("SELECT * FROM acceptance_events").fetchone()) == before


def test_keys_of_acceptance_events_can_be_rekeyed(store: Store) -> None:
    with store.write() as conn:
        event_id = _insert_event(conn)
    with store.write() as conn:
        conn.execute(
            "UPDATE acceptance_events SET model_id = 'claude-opus-4-6', note_path = ? WHERE id = ?",
            ("kb/notes/moved.md", event_id),
        )
    with store.read() as conn:
        row = conn.execute("SELECT note_path, model_id, accepted_note_sha FROM acceptance_events")
        assert tuple(row.fetchone()) == ("kb/notes/moved.md", "claude-opus-4-6", NOTE_SHA)


def test_current_gate_acceptances_is_the_latest_event_per_key(store: Store) -> None:
    other_sha = "f" * 40
    with store.write() as conn:
        _insert_event(conn, note_sha=NOTE_SHA)
        latest_x = _insert_event(conn, note_sha=other_sha)
        only_other_model = _insert_event(conn, model_id="other-model")
        only_other_gate = _insert_event(conn, gate_id="lens/second")
        older_y = _insert_event(conn, note_path="kb/notes/y.md", note_sha=other_sha)
        latest_y = _insert_event(conn, note_path="kb/notes/y.md", note_sha=NOTE_SHA)
    with store.read() as conn:
        rows = {
            (r["note_path"], r["gate_id"], r["model_id"]): (r["id"], r["accepted_note_sha"])
            for r in conn.execute("SELECT * FROM current_gate_acceptances")
        }
    assert rows == {
        ("kb/notes/x.md", "lens/gate", "demo"): (latest_x, other_sha),
        ("kb/notes/x.md", "lens/gate", "other-model"): (only_other_model, NOTE_SHA),
        ("kb/notes/x.md", "lens/second", "demo"): (only_other_gate, NOTE_SHA),
        ("kb/notes/y.md", "lens/gate", "demo"): (latest_y, NOTE_SHA),
    }
    assert older_y < latest_y


def test_snapshots_are_keyed_by_sha(store: Store) -> None:
    with store.write() as conn:
        conn.execute("INSERT INTO snapshots (sha, text) VALUES (?, ?)", (NOTE_SHA, NOTE_TEXT))
    with refused("UNIQUE"), store.write() as conn:
        conn.execute("INSERT INTO snapshots (sha, text) VALUES (?, ?)", (NOTE_SHA, "other"))


def test_migrations_are_ordered_and_named() -> None:
    names = [m.name for m in MIGRATIONS]
    assert names[0] == "m001_initial"
    assert len(set(names)) == len(names)
    assert all(m.statements for m in MIGRATIONS)
