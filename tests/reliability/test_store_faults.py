"""Faults of the store: a disk that fills while a sweep holds runs, and a
damaged store file.

The full disk is real: a small tmpfs mounted for the test (root only, which
CI is; elsewhere the test skips, except under CI=true where it fails). The
sweep's reviewers wait on a barrier while the test fills the filesystem, so
the first write after they answer fails with SQLITE_FULL.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import EX_NOTE, running_run
from helpers.commands import run_script
from helpers.db import run_states, store_of
from helpers.fake_runners import add_reviewer, running_runs, started, wait_until
from helpers.faults import MODEL, assert_clean_exit, start

# --- a full disk ---------------------------------------------------------------------------

# Full disks, the reserve file beside the store, flipped bytes in pages and
# schema objects edited through sqlite3: each is about the SQLite file itself.
pytestmark = pytest.mark.sqlite_only("faults of the SQLite file and the disk under it")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("mounting a tmpfs needs root, which CI runs as")
        pytest.skip("mounting a small tmpfs needs root (CI runs this test as root)")
    mount = tmp_path / "small-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> int:
    """Write a file until the filesystem refuses another byte; its size."""
    written = 0
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    written += os.write(fd, chunk)
    finally:
        os.close(fd)
    return written


def test_a_disk_that_fills_under_a_sweep_fails_its_runs_with_a_clear_error(
    example_kb: Path, tmp_path: Path, small_fs: Path
) -> None:
    kb, db, state = example_kb, small_fs / "store.sqlite", tmp_path / "state"
    # the reviewers wait until 99 calls have started: the test says when
    add_reviewer(kb, "waiting", state, "--barrier", "99")
    args = ("--runner", "waiting", "--model", MODEL, "--jobs", "2", "--db", str(db))
    proc = start("review-sweep", *args, "--note", EX_NOTE, "kb/notes/seed-packets.md", cwd=kb)
    try:
        wait_until(lambda: running_runs(db) == 2 and started(state) == 2, "two reviewers")
        assert (small_fs / "store.sqlite-reserve").exists()  # space set aside for this
        filled = fill(small_fs)
        for number in range(3, 100):  # let the reviewers answer
            (state / f"call-{number}").touch()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert_clean_exit(proc.returncode, err, 1)
    assert "error: review store" in err and "the disk is full" in err, err
    assert str(db) in err
    states = run_states(db)
    assert len(states) == 2
    assert "running" not in {status for status, _ in states.values()}, states
    failed = [reason for status, reason in states.values() if status == "failed"]
    assert failed, states  # a batch may complete once the reserve is given back
    assert all(reason == "review store error: database or disk is full" for reason in failed)
    assert not (small_fs / "store.sqlite-reserve").exists()  # given back to fail the runs
    print(f"\nfull disk ({filled} bytes of filler): exit 1, runs {sorted(states.values())}")


def test_a_sweep_on_a_disk_already_full_creates_nothing(
    example_kb: Path, tmp_path: Path, small_fs: Path
) -> None:
    kb, db = example_kb, small_fs / "store.sqlite"
    made = run_script("commonplace-review-store", ["migrate", "--db", str(db)], cwd=kb)
    assert made.returncode == 0, made.stderr
    fill(small_fs)
    done = run_script(
        "commonplace-review-sweep",
        ["--runner", "stand-in", "--model", MODEL, "--db", str(db)],
        cwd=kb,
    )
    assert_clean_exit(done.returncode, done.stderr, 1)
    assert "the disk is full" in done.stderr, done.stderr
    (small_fs / "filler").unlink()  # room for reading the store again
    assert run_states(db) == {}


# --- a damaged store --------------------------------------------------------------------


def store_with_runs(cli, kb: Path) -> Path:
    running_run(cli, kb)
    running_run(cli, kb)
    return store_of(kb)


def flip_page_header(db: Path, table: str) -> None:
    """Invert the first bytes of a table's root b-tree page: SQLite's
    integrity check notices, whatever the data."""
    conn = sqlite3.connect(db)
    try:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with open(db, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        header = bytearray(handle.read(12))
        handle.seek((root - 1) * page_size)
        handle.write(bytes(b ^ 0xFF for b in header))


@pytest.mark.parametrize("table", ["review_runs", "review_run_gates"])
def test_check_reports_flipped_bytes(cli, example_kb: Path, table: str) -> None:
    db = store_with_runs(cli, example_kb)
    flip_page_header(db, table)

    done = run_script("commonplace-review-store", ["check", "--json"], cwd=example_kb)

    assert_clean_exit(done.returncode, done.stderr, 1)
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["violations"], report
    assert all(v.startswith("sqlite integrity: ") for v in report["violations"]), report
    text = run_script("commonplace-review-store", ["check"], cwd=example_kb)
    assert_clean_exit(text.returncode, text.stderr, 1)
    assert "sqlite integrity:" in text.stdout and "FAILED" in text.stdout


def test_a_file_that_is_no_database_is_reported_by_check(example_kb: Path) -> None:
    db = store_of(example_kb)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"not a database at all, just bytes" * 200)

    done = run_script("commonplace-review-store", ["check", "--json"], cwd=example_kb)

    assert_clean_exit(done.returncode, done.stderr, 1)
    assert json.loads(done.stdout)["violations"] == ["sqlite integrity: file is not a database"]


@pytest.mark.parametrize(
    "command",
    [
        ["reap-stale-runs"],
        ["finalize-review-run", "--review-run-id", "1"],
        ["ingest-bundle-output"],
    ],
    ids=["reap", "finalize", "ingest"],
)
def test_other_commands_on_a_damaged_store_name_the_file_and_check(
    cli, example_kb: Path, command: list[str]
) -> None:
    db = store_with_runs(cli, example_kb)
    flip_page_header(db, "review_runs")
    if command == ["ingest-bundle-output"]:
        output = example_kb / "output.md"
        output.write_text("nothing\n")
        command = [*command, "--review-run-id", "1", "--input-file", str(output)]

    done = run_script(f"commonplace-{command[0]}", command[1:], cwd=example_kb)

    assert_clean_exit(done.returncode, done.stderr, 1)
    assert f"error: review store {db} is damaged" in done.stderr, done.stderr
    assert "commonplace-review-store check" in done.stderr


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("DROP VIEW current_gate_acceptances", "schema: view current_gate_acceptances is missing"),
        (
            "DROP TRIGGER acceptance_events_append_only_delete",
            "schema: trigger acceptance_events_append_only_delete is missing",
        ),
        ("DROP INDEX review_runs_by_status", "schema: index review_runs_by_status is missing"),
    ],
    ids=["view", "trigger", "index"],
)
def test_check_reports_a_missing_schema_object(
    cli, example_kb: Path, damage: str, named: str
) -> None:
    db = store_with_runs(cli, example_kb)
    conn = sqlite3.connect(db)
    conn.execute(damage)
    conn.commit()
    conn.close()

    done = run_script("commonplace-review-store", ["check", "--json"], cwd=example_kb)

    assert_clean_exit(done.returncode, done.stderr, 1)
    assert json.loads(done.stdout)["violations"] == [named]


def test_check_reports_a_trigger_emptied_under_its_name(cli, example_kb: Path) -> None:
    db = store_with_runs(cli, example_kb)
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER acceptance_events_append_only_update")
    conn.execute(
        "CREATE TRIGGER acceptance_events_append_only_update BEFORE UPDATE ON acceptance_events"
        " BEGIN SELECT 1; END"
    )
    conn.commit()
    conn.close()

    done = run_script("commonplace-review-store", ["check", "--json"], cwd=example_kb)

    assert_clean_exit(done.returncode, done.stderr, 1)
    assert json.loads(done.stdout)["violations"] == [
        "schema: trigger acceptance_events_append_only_update differs from the one the"
        " migrations create"
    ]


def test_any_sqlite_error_under_a_command_is_an_error_line_not_a_crash(
    cli, example_kb: Path
) -> None:
    db = store_with_runs(cli, example_kb)
    conn = sqlite3.connect(db)  # a store someone tampered with: every new run is refused
    conn.execute(
        "CREATE TRIGGER sabotage BEFORE INSERT ON review_runs"
        " BEGIN SELECT RAISE(ABORT, 'sabotaged'); END"
    )
    conn.commit()
    conn.close()

    done = run_script(
        "commonplace-create-review-run",
        [EX_NOTE, "clarity", "--runner", "live-agent", "--model", MODEL],
        cwd=example_kb,
    )

    assert_clean_exit(done.returncode, done.stderr, 1)
    assert "error: the review store: sabotaged" in done.stderr, done.stderr
    assert "commonplace-review-store check" in done.stderr
    check = run_script("commonplace-review-store", ["check", "--json"], cwd=example_kb)
    assert_clean_exit(check.returncode, check.stderr, 1)
    assert json.loads(check.stdout)["violations"] == [
        "schema: trigger sabotage is not one the migrations create"
    ]
