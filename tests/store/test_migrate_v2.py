"""Upgrading a real schema-2 store (tests/review/fixtures/store-v2.sqlite, made by
the previous release; see fixtures/README.md) to the current schema: every row
and id survives, the store stays consistent, what was fresh stays fresh, and
its batches (pairs-v1, no boundary token) still ingest with the v1 grammar."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers.db import STORE_TABLES, execute_sql
from helpers.groups import REAPS_ORPHANS

from commonplace.protocol.grammar import Pair, block
from commonplace.store.connection import Store
from commonplace.store.migrations import MIGRATIONS
from commonplace.store.runs import stored_document

FIXTURE = Path(__file__).parent / "fixtures" / "store-v2.sqlite"
V2_TABLES = (*(t for t in STORE_TABLES if t != "note_relocations"), "sqlite_sequence")
SEQUENCES = {"review_batches": 17, "review_runs": 17, "gate_reviews": 24, "acceptance_events": 26}
FROST = "kb/notes/frost-dates.md"
SEEDS = "kb/notes/seed-packets.md"
NEWER = "newer than this commonplace-review understands"
CATALOG = ("claims", "clarity", "metadata")  # the example KB's lenses
# The previous release knew no type gates: each example note's type/note pair
# is new, never reviewed, whatever the store held.
TYPE_PAIRS = [
    (f"kb/notes/{name}.md", "type/note", "missing-review")
    for name in (
        "a-rough-sketch-beats-a-long-description-of-a-bed-layout",
        "date-every-entry-before-writing-anything-else",
        "frost-dates",
        "seed-packets",
        "topics/compost-readings-are-only-comparable-at-the-same-depth",
    )
]

pytestmark = pytest.mark.sqlite_only("the committed v2 fixture is a SQLite file")


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    """A copy of the fixture: tests never write to the original."""
    copy = tmp_path / "store-v2.sqlite"
    shutil.copyfile(FIXTURE, copy)
    return copy


def read(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read-only, so that looking never changes the file."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# Columns added later: review_batches.boundary_token (schema 4, NULL on every
# batch migrated); the global identities and the run leases (schema 5).
CURRENT = len(MIGRATIONS)
IDENTIFIED = (
    "review_batches",
    "review_runs",
    "gate_reviews",
    "acceptance_events",
    "model_alias_resolutions",
)


def v2_columns(table: str) -> str:
    return ", ".join(row[1] for row in read(FIXTURE, f"PRAGMA table_info({table})"))


def full_dump(db: Path, tables: tuple[str, ...] = V2_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in rowid order (ids included), with the
    columns schema 2 had."""
    return {
        t: read(
            db,
            f"SELECT rowid, {v2_columns(t) if t != 'sqlite_sequence' else '*'}"
            f" FROM {t} ORDER BY rowid",
        )
        for t in tables
    }


def schema(db: Path) -> dict[str, str]:
    return dict(read(db, "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def user_version(db: Path) -> int:
    return int(read(db, "PRAGMA user_version")[0][0])


def test_the_fixture_is_what_its_readme_says() -> None:
    assert user_version(FIXTURE) == 2
    assert "note_relocations" not in schema(FIXTURE)
    assert dict(read(FIXTURE, "SELECT name, seq FROM sqlite_sequence")) == SEQUENCES
    assert read(
        FIXTURE,
        "SELECT model_id, runner, status, COUNT(*) FROM review_runs"
        " GROUP BY model_id, runner, status ORDER BY 1, 3",
    ) == [
        ("demo-model", "stand-in", "completed", 15),
        ("split-model", "live-agent", "failed", 1),
        ("split-model", "live-agent", "running", 1),
    ]
    assert read(
        FIXTURE,
        "SELECT model_id, acceptance_kind, COUNT(*) FROM acceptance_events"
        " GROUP BY 1, 2 ORDER BY 1",
    ) == [("demo-model", "full-review", 24), ("other-model", "trivial-change-ack", 2)]
    assert read(FIXTURE, "SELECT COUNT(*) FROM review_batches") == [(17,)]
    assert read(FIXTURE, "SELECT COUNT(*) FROM gate_reviews") == [(24,)]


def test_migrate_keeps_every_row_and_id(cli, v2: Path, example_kb: Path) -> None:
    before, old_schema = full_dump(v2), schema(v2)
    result = cli("review-store", "migrate", "--db", str(v2), "--json", cwd=example_kb)
    assert result.code == 0, result.err
    assert result.json() == {"path": str(v2), "from_version": 2, "to_version": CURRENT}
    assert CURRENT == 9

    assert user_version(v2) == CURRENT
    assert full_dump(v2) == before  # includes sqlite_sequence: ids never repeat
    assert read(v2, "SELECT DISTINCT boundary_token FROM review_batches") == [(None,)]
    for table in IDENTIFIED:  # every old row got its global identity
        uids = [uid for (uid,) in read(v2, f"SELECT uid FROM {table}")]
        assert all(isinstance(u, str) and len(u) == 32 for u in uids)
        assert len(set(uids)) == len(uids)
    new_schema = schema(v2)
    # The old objects are exactly as they were; the migrations only add.
    added = {"review_batches": ["boundary_token", "uid"], "review_runs": ["uid"]}
    added["review_runs"] += ["owner_started_at", "lease_expires_at"]
    added["review_batches"] += ["provider_job_id", "provider_custom_id"]  # M006
    added["review_batches"] += ["raw_output_z", "debug_log_z"]  # M007
    added["review_runs"] += ["raw_bundle_markdown_z"]
    for table in IDENTIFIED:
        old = v2_columns(table).split(", ")
        columns = [row[1] for row in read(v2, f"PRAGMA table_info({table})")]
        assert columns == old + added.get(table, ["uid"])
    altered = set(IDENTIFIED)
    assert {k: new_schema[k] for k in old_schema if k not in altered} == {
        k: v for k, v in old_schema.items() if k not in altered
    }
    assert set(new_schema) - set(old_schema) == {
        "note_relocations",
        "note_relocations_by_path",
        "acceptance_events_uid_fixed",
        *(f"{table}_by_uid" for table in (*IDENTIFIED, "note_relocations")),
        "provider_jobs",
        "provider_jobs_by_uid",
        "provider_jobs_by_job",
        "review_batches_by_provider_job",
        "labels",  # M008
        "labels_by_uid",
        "labels_by_pair",
        "labels_by_acceptance",
        "labels_append_only_update",
        "labels_append_only_delete",
        "acceptance_marks",  # M009
        "acceptance_marks_on_insert",
        "acceptance_marks_on_rekey",
    }
    # every note with acceptances got its mark, and only those
    assert read(v2, "SELECT model_id, note_path FROM acceptance_marks ORDER BY 1, 2") == read(
        v2, "SELECT DISTINCT model_id, note_path FROM acceptance_events ORDER BY 1, 2"
    )
    assert read(v2, "SELECT COUNT(*) FROM note_relocations") == [(0,)]
    columns = [r[1] for r in read(v2, "PRAGMA table_info(note_relocations)")]
    assert columns == [
        "id",
        "old_path",
        "new_path",
        "relocated_at",
        "review_runs",
        "gate_reviews",
        "acceptance_events",
        "uid",
    ]

    again = cli("review-store", "migrate", "--db", str(v2), "--json", cwd=example_kb)
    assert again.json() == {"path": str(v2), "from_version": CURRENT, "to_version": CURRENT}
    assert full_dump(v2) == before


def test_the_library_reports_the_versions(v2: Path) -> None:
    with Store(v2) as store:
        assert store.migrate() == (2, CURRENT)
        assert store.migrate() == (CURRENT, CURRENT)


def test_check_passes_after_the_migration(cli, v2: Path, example_kb: Path) -> None:
    assert cli("review-store", "migrate", "--db", str(v2), cwd=example_kb).code == 0
    check = cli("review-store", "check", "--db", str(v2), "--json", cwd=example_kb)
    assert check.code == 0, check.out
    assert check.json() == {
        "ok": True,
        "schema_version": CURRENT,
        "violations": [],
        "running_runs": 1,
    }


def _stale(cli, kb: Path, db: Path, model: str) -> list[tuple[str, str, str]]:
    result = cli("review-target-selector", "--model", model, "--db", str(db), "--json", cwd=kb)
    assert result.code == 0, result.err
    return [(p["note_path"], p["gate_id"], p["reason"]) for p in result.json()]


def test_what_was_fresh_stays_fresh(cli, v2: Path, example_kb: Path) -> None:
    assert cli("review-store", "migrate", "--db", str(v2), cwd=example_kb).code == 0
    # The sweep accepted every applicable catalog pair of the example KB for demo-model.
    assert _stale(cli, example_kb, v2, "demo-model") == TYPE_PAIRS
    # other-model has the two acked pairs of the frost note, and nothing else.
    other = _stale(cli, example_kb, v2, "other-model")
    assert len(other) == 22 + len(TYPE_PAIRS)
    assert {r for _, _, r in other} == {"missing-review"}
    assert all(
        (FROST, g) not in {(n, gate) for n, gate, _ in other}
        for g in ("clarity/description-repeats-title", "clarity/undefined-abbreviation")
    )
    # Running and failed runs accept nothing.
    split = _stale(cli, example_kb, v2, "split-model")
    assert len(split) == 24 + len(TYPE_PAIRS) and {r for _, _, r in split} == {"missing-review"}


@pytest.mark.parametrize(
    "command",
    [
        ("review-target-selector", "--model", "demo-model", "--json"),
        ("review-target-selector", *CATALOG, "--model", "demo-model", "--fail-on-stale"),
        ("review-store", "stats", "--json"),
        ("review-store", "check"),
        ("reap-stale-runs", "--dry-run", "--json"),
    ],
    ids=["selector", "selector-fail-on-stale", "stats", "check", "reap-dry-run"],
)
def test_read_commands_open_the_v2_store(
    cli, v2: Path, example_kb: Path, command: tuple[str, ...]
) -> None:
    before = full_dump(v2)
    result = cli(*command, "--db", str(v2), cwd=example_kb)
    assert result.code == 0, result.out + result.err
    assert "Traceback" not in result.err
    assert full_dump(v2) == before


def test_stats_after_the_migration(cli, v2: Path, example_kb: Path) -> None:
    stats = cli("review-store", "stats", "--db", str(v2), "--json", cwd=example_kb)
    assert stats.code == 0, stats.err
    payload = stats.json()
    assert payload["schema_version"] == CURRENT
    assert payload["batches"] == 17
    assert payload["runs"] == {"completed": 15, "failed": 1, "running": 1}
    assert payload["acceptance_events"] == {"full-review": 24, "trivial-change-ack": 2}
    assert payload["relocations"] == 0


def test_new_rows_get_ids_after_the_old_ones(cli, v2: Path, example_kb: Path) -> None:
    assert cli("review-store", "migrate", "--db", str(v2), cwd=example_kb).code == 0
    db = ("--db", str(v2))
    note = "kb/notes/date-every-entry-before-writing-anything-else.md"
    created = cli(
        "create-review-run",
        note,
        "metadata",
        "--runner",
        "live-agent",
        "--model",
        "fresh-model",
        *db,
        "--json",
        cwd=example_kb,
    )
    assert created.code == 0, created.err
    run_id = created.json()["review_run_id"]
    assert (run_id, created.json()["batch_id"]) == (18, 18)
    written = cli(
        "write-gate-review",
        "--review-run-id",
        str(run_id),
        "--gate",
        "metadata/tags-present",
        *db,
        "--json",
        cwd=example_kb,
        stdin="### Summary\nTags are fine.\n\n### Findings\n- none\n\n## Result: PASS\n",
    )
    assert written.code == 0, written.err
    assert written.json()["gate_review_id"] == 25
    done = cli("finalize-review-run", "--review-run-id", str(run_id), *db, cwd=example_kb)
    assert done.code == 0, done.err
    assert read(v2, "SELECT MAX(id) FROM acceptance_events") == [(27,)]
    assert dict(read(v2, "SELECT name, seq FROM sqlite_sequence")) == {
        "review_batches": 18,
        "review_runs": 18,
        "gate_reviews": 25,
        "acceptance_events": 27,
    }
    assert cli("review-store", "check", *db, cwd=example_kb).code == 0


@REAPS_ORPHANS
def test_relocation_on_the_upgraded_store(cli, v2: Path, example_kb: Path) -> None:
    """The frost note has a run of split-model still running: relocation waits
    for it to be reaped, then moves its history, the old rows included."""
    db = ("--db", str(v2))
    moved = "kb/notes/weather/frost-dates.md"
    refused = cli("relocate-note", FROST, moved, *db, cwd=example_kb)
    assert refused.code == 1 and "still running" in refused.err
    reaped = cli("reap-stale-runs", "--older-than", "0s", *db, "--json", cwd=example_kb)
    assert reaped.json()["reaped"] == [16]
    result = cli("relocate-note", FROST, moved, *db, "--json", cwd=example_kb)
    assert result.code == 0, result.err
    # Runs 7-9 (stand-in) and 16 (reaped); 4 gate reviews; 4 reviews + 2 acks accepted.
    assert [result.json()[k] for k in ("review_runs", "gate_reviews", "acceptance_events")] == [
        4,
        4,
        6,
    ]
    assert read(v2, "SELECT id FROM review_runs WHERE note_path = ? ORDER BY id", (moved,)) == [
        (7,),
        (8,),
        (9,),
        (16,),
    ]
    assert read(v2, "SELECT id, old_path, new_path FROM note_relocations") == [(1, FROST, moved)]
    assert _stale(cli, example_kb, v2, "demo-model") == sorted(
        (moved if note == FROST else note, gate, reason) for note, gate, reason in TYPE_PAIRS
    )
    assert cli("review-store", "check", *db, cwd=example_kb).code == 0


def _newer(db: Path) -> Path:
    execute_sql(db, f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    return db


@pytest.mark.parametrize(
    "command",
    [
        ("review-store", "migrate"),
        ("review-store", "check"),
        ("review-target-selector", "--model", "demo-model"),
        ("relocate-note", FROST, "kb/notes/weather/frost-dates.md"),
    ],
    ids=["migrate", "check", "selector", "relocate"],
)
def test_a_newer_store_is_refused(
    cli, v2: Path, example_kb: Path, command: tuple[str, ...]
) -> None:
    db = _newer(v2)
    before = full_dump(db)
    result = cli(*command, "--db", str(db), cwd=example_kb)
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    assert result.err.splitlines() == [
        f"error: review store {db} has schema version {CURRENT + 1}, {NEWER} ({CURRENT});"
        " upgrade commonplace-review"
    ]
    assert full_dump(db) == before
    assert user_version(db) == CURRENT + 1
    assert (example_kb / FROST).is_file()


def test_a_newer_store_in_wal_mode_is_left_byte_for_byte(cli, v2: Path, example_kb: Path) -> None:
    execute_sql(v2, "PRAGMA journal_mode = WAL")
    db = _newer(v2)
    data = db.read_bytes()
    result = cli("review-store", "migrate", "--db", str(db), "--json", cwd=example_kb)
    assert result.code == 1
    assert NEWER in result.json()["error"]
    assert db.read_bytes() == data


def test_a_newer_store_is_left_byte_for_byte(cli, v2: Path, example_kb: Path) -> None:
    db = _newer(v2)
    data = db.read_bytes()
    result = cli("review-store", "migrate", "--db", str(db), "--json", cwd=example_kb)
    assert result.code == 1
    assert NEWER in result.json()["error"]
    assert db.read_bytes() == data


V1_RUN = 16  # the fixture's run left running: FROST, the two clarity gates
V1_GATES = ("clarity/description-repeats-title", "clarity/undefined-abbreviation")


def _blocks(token: str | None, decision: str = "WARN") -> str:
    body = f"### Summary\nChecked.\n\n### Findings\n- none\n\n## Result: {decision}"
    return "".join(block(Pair(FROST, g), body, token=token) for g in V1_GATES)


def test_a_batch_prepared_before_the_token_ingests_with_v1_rules(
    cli, v2: Path, example_kb: Path
) -> None:
    assert cli("review-store", "migrate", "--db", str(v2), cwd=example_kb).code == 0
    result = cli(
        "ingest-bundle-output", "--review-run-id", str(V1_RUN), "--input-file", "-",
        "--db", str(v2), "--json", cwd=example_kb, stdin=_blocks(None),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["status"] == "completed"
    decisions = read(v2, "SELECT decision FROM gate_reviews WHERE review_run_id = ?", (V1_RUN,))
    assert decisions == [("warn",), ("warn",)]
    with Store(v2) as store, store.read() as conn:
        document = stored_document(conn, V1_RUN)  # long documents are stored compressed
    assert f"=== PAIR REVIEW START: {FROST} :: {V1_GATES[0]} ===" in str(document)


def test_tokened_blocks_are_text_to_a_v1_batch(cli, v2: Path, example_kb: Path) -> None:
    result = cli(
        "ingest-bundle-output", "--review-run-id", str(V1_RUN), "--input-file", "-",
        "--db", str(v2), "--json", cwd=example_kb, stdin=_blocks("Some-later-token-0001"),
    )  # fmt: skip
    assert result.code == 1
    assert result.json()["reason"].startswith("missing pair reviews: ")
