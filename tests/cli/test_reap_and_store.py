"""`commonplace-reap-stale-runs` and `commonplace-review-store check|migrate|stats`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import (
    CREATE,
    EX_CLARITY,
    EX_NOTE,
    assert_refused,
    completed_run,
    finalize,
    running_run,
    write_review,
)
from helpers.commands import run_script
from helpers.db import TABLES, dump, execute_sql, one, rows, store_of
from helpers.groups import REAPS_ORPHANS

from commonplace.store.migrations import MIGRATIONS

pytestmark = pytest.mark.both_backends

DECISIONS = ("PASS", "WARN")  # of the two clarity gates in a completed run


# --- reap ------------------------------------------------------------------------------


@REAPS_ORPHANS
def test_reap_fails_abandoned_runs(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    done = completed_run(cli, kb, DECISIONS)
    left = running_run(cli, kb)

    young = cli("reap-stale-runs", "--json", cwd=kb)  # default threshold: 2h
    assert young.code == 0, young.err
    assert young.json()["reaped"] == []

    before = dump(db)
    dry = cli("reap-stale-runs", "--older-than", "0s", "--dry-run", "--json", cwd=kb)
    assert dry.code == 0, dry.err
    assert dry.json()["reaped"] == [left]
    assert dump(db) == before

    reaped = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=kb)
    assert reaped.code == 0, reaped.err
    assert reaped.json()["reaped"] == [left]
    status, reason, completed_at = one(
        db, "SELECT status, failure_reason, completed_at FROM review_runs WHERE id = ?", (left,)
    )
    assert (status, reason) == ("failed", "abandoned")
    assert completed_at and completed_at.endswith("Z")
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (done,)) == "completed"
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 2  # untouched

    again = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=kb)
    assert again.json()["reaped"] == []
    text = cli("reap-stale-runs", "--older-than", "90m", cwd=kb)
    assert text.code == 0 and "0 run(s)" in text.out
    # A reaped run cannot be written into or finalized any more.
    assert_refused(finalize(cli, kb, left), 1, mentions="failed")


@REAPS_ORPHANS
def test_reap_as_a_process_with_env_store(example_kb: Path, tmp_path: Path, cli) -> None:
    db = tmp_path / "env-store.sqlite"
    created = cli(
        "create-review-run", EX_NOTE, "clarity", *CREATE, "--db", str(db), "--json", cwd=example_kb
    )
    assert created.code == 0, created.err
    run_id = created.json()["review_run_id"]
    done = run_script(
        "commonplace-reap-stale-runs",
        ["--older-than", "0s", "--json"],
        cwd=example_kb,
        env={"COMMONPLACE_REVIEW_DB": str(db)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reaped"] == [run_id]
    assert one(db, "SELECT failure_reason FROM review_runs WHERE id = ?", (run_id,)) == "abandoned"
    assert not store_of(example_kb).exists()


@REAPS_ORPHANS
def test_reap_says_why_and_escapes_a_crafted_host(cli, example_kb: Path) -> None:
    from helpers.store import FROST, TAGS, create_runs

    from commonplace.store.connection import Store

    kb, db = example_kb, store_of(example_kb)
    with Store(db) as store:
        run_id = create_runs(store, kb, [(FROST, [TAGS])], owned=True).runs[0].review_run_id
    execute_sql(
        db,
        # a raw newline inside the literal: both backends take it as it is
        "UPDATE review_runs SET host = 'evil\nreaped 0 run(s)', pid = 7,"
        f" lease_expires_at = '2020-01-01T00:00:00.000Z' WHERE id = {run_id}",
    )
    dry = cli("reap-stale-runs", "--dry-run", cwd=kb)
    assert dry.code == 0, dry.err
    assert dry.out.splitlines() == [
        f"would reap 1 run(s): {run_id}",
        f"  run {run_id}: lease expired: owner evil?reaped 0 run(s) pid 7 stopped renewing it"
        " (it ran out at 2020-01-01T00:00:00.000Z)",
    ]
    reaped = cli("reap-stale-runs", "--json", cwd=kb)
    assert reaped.code == 0, reaped.err
    assert reaped.json()["runs"] == [
        {"review_run_id": run_id, "reason": dry.out.splitlines()[1].split(": ", 1)[1]}
    ]
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (run_id,)) == "failed"


def test_reap_refuses_a_bad_duration(cli, example_kb: Path) -> None:
    for bad in ("soon", "-1h", "2 weeks", "h", ""):
        result = cli("reap-stale-runs", "--older-than", bad, cwd=example_kb)
        assert_refused(result, 2)
    assert not store_of(example_kb).exists()


@REAPS_ORPHANS
def test_reap_on_a_kb_without_store_creates_nothing(cli, example_kb: Path) -> None:
    result = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=example_kb)
    assert result.code == 0, result.err
    assert result.json()["reaped"] == []
    assert not store_of(example_kb).exists()


# --- review-store --------------------------------------------------------------------


def test_check_passes_on_a_healthy_store(cli, example_kb: Path) -> None:
    completed_run(cli, example_kb, DECISIONS)
    running_run(cli, example_kb)
    result = cli("review-store", "check", "--json", cwd=example_kb)
    assert result.code == 0, result.out + result.err
    report = result.json()
    assert report["ok"] is True and report["violations"] == []
    assert report["schema_version"] == len(MIGRATIONS)
    assert report["running_runs"] == 1
    text = cli("review-store", "check", cwd=example_kb)
    assert text.code == 0 and text.out.startswith("ok:")


def test_check_lists_violations_after_raw_sql(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    completed_run(cli, kb, DECISIONS)
    bogus = running_run(cli, kb)
    gate_sha = one(
        db,
        "SELECT gate_sha FROM review_run_gates WHERE review_run_id = ? AND ordinal = 0",
        (bogus,),
    )
    execute_sql(
        db,
        # A run marked completed behind the lifecycle's back, without reviews.
        f"UPDATE review_runs SET status = 'completed', completed_at = '2020-01-01T00:00:00.000Z'"
        f" WHERE id = {bogus}",
        # A snapshot whose text no longer hashes to its key.
        f"UPDATE snapshots SET text = text || 'tampered' WHERE sha = '{gate_sha}'",
    )
    result = cli("review-store", "check", cwd=kb)
    assert result.code == 1
    assert "Traceback" not in result.err
    lines = result.out.splitlines()
    assert any(f"run {bogus}" in line and EX_CLARITY[0] in line for line in lines), lines
    assert any(f"run {bogus}" in line and EX_CLARITY[1] in line for line in lines), lines
    assert any(gate_sha in line for line in lines), lines
    assert lines[-1].startswith("FAILED")
    as_json = cli("review-store", "check", "--json", cwd=kb)
    assert as_json.code == 1
    report = as_json.json()
    assert report["ok"] is False and len(report["violations"]) == 3


def test_check_finds_acceptance_from_a_failed_run(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    run_id = running_run(cli, kb)
    done = write_review(cli, kb, run_id, EX_CLARITY[0], "PASS")
    assert done.code == 0
    review_id = one(db, "SELECT id FROM gate_reviews")
    sha, gate_sha = one(db, "SELECT reviewed_note_sha, gate_sha FROM gate_reviews")
    execute_sql(
        db,
        "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
        " accepted_note_sha, accepted_gate_sha, accepted_at, acceptance_kind) VALUES"
        f" ('{EX_NOTE}', '{EX_CLARITY[0]}', 'demo-model', {review_id}, '{sha}', '{gate_sha}',"
        " '2020-01-01T00:00:00.000Z', 'full-review')",
    )
    result = cli("review-store", "check", "--json", cwd=kb)
    assert result.code == 1
    assert any("running" in v for v in result.json()["violations"])


def test_stats_json(cli, example_kb: Path) -> None:
    kb = example_kb
    completed_run(cli, kb, DECISIONS)
    run_id = running_run(cli, kb)
    write_review(cli, kb, run_id, EX_CLARITY[0], None)
    assert finalize(cli, kb, run_id).code == 1
    result = cli("review-store", "stats", "--json", cwd=kb)
    assert result.code == 0, result.err
    stats = result.json()
    assert stats["schema_version"] == len(MIGRATIONS)
    assert stats["batches"] == 2
    assert stats["runs"] == {"completed": 1, "failed": 1}
    assert stats["gate_reviews"] == {"pass": 1, "warn": 1, "unknown": 1}
    assert stats["acceptance_events"] == {"full-review": 2}
    assert stats["partitions"] == {"demo-model": 2}
    assert stats["snapshots"] == 3  # one note and two gates
    text = cli("review-store", "stats", cwd=kb)
    assert text.code == 0 and "batches: 2" in text.out


def test_stats_and_check_without_a_store_create_nothing(cli, example_kb: Path) -> None:
    for action in ("stats", "check"):
        result = cli("review-store", action, "--json", cwd=example_kb)
        assert result.code == 0, result.err
    assert not store_of(example_kb).exists()


@pytest.mark.sqlite_only("creates a store file: its folders, mode and journal")
def test_migrate_creates_the_latest_schema_version(cli, example_kb: Path, tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "nested" / "store.sqlite"
    result = cli("review-store", "migrate", "--db", str(db), "--json", cwd=example_kb)
    assert result.code == 0, result.err
    payload = result.json()
    assert (payload["from_version"], payload["to_version"]) == (0, len(MIGRATIONS))
    assert Path(payload["path"]) == db
    assert db.exists()
    assert one(db, "PRAGMA user_version") == len(MIGRATIONS)
    names = {name for (name,) in rows(db, "SELECT name FROM sqlite_master")}
    assert set(TABLES) | {"current_gate_acceptances"} <= names
    assert one(db, "PRAGMA journal_mode") == "wal"
    assert db.stat().st_mode & 0o077 == 0  # owner-only
    again = cli("review-store", "migrate", "--db", str(db), "--json", cwd=example_kb)
    latest = len(MIGRATIONS)
    assert again.code == 0
    assert (again.json()["from_version"], again.json()["to_version"]) == (latest, latest)
    # The default path is used without --db.
    default = cli("review-store", "migrate", cwd=example_kb)
    assert default.code == 0, default.err
    assert one(store_of(example_kb), "PRAGMA user_version") == len(MIGRATIONS)
