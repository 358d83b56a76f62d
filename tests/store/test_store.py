"""The review store file: creation, pragmas, transactions, versions (SPEC 5)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from typing import cast

import pytest
from helpers.backends import PgTarget, current_target
from helpers.db import set_version
from helpers.store import insert_batch

from commonplace.errors import UserError
from commonplace.store.connection import Store, schema_version
from commonplace.store.migrations import MIGRATIONS
from commonplace.store.sqlite import BUSY_TIMEOUT_MS


@pytest.fixture
def store_path(tmp_path: Path, backend: str) -> Path:
    """A file under tmp_path, or (typed as one) the test's PostgreSQL store."""
    return cast(Path, current_target() or tmp_path / "reports" / "review-store.sqlite")


FILE = "the store file itself: its mode, its side files, its pragmas"


def _insert_batch(conn: sqlite3.Connection, executor: str = "live-agent") -> int:
    return insert_batch(conn, executor=executor, created_at="2024-01-01T00:00:00.000Z")


@pytest.mark.sqlite_only(FILE)
def test_first_write_creates_the_file_owner_only(store_path: Path) -> None:
    assert not store_path.parent.exists()
    with Store(store_path) as store, store.write() as conn:
        _insert_batch(conn)
    assert store_path.is_file()
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600


@pytest.mark.sqlite_only(FILE)
def test_wal_sidecar_files_are_owner_only_too(store_path: Path) -> None:
    with Store(store_path) as store:
        with store.write() as conn:
            _insert_batch(conn)
        sidecars = [p for p in store_path.parent.iterdir() if p != store_path]
        assert sidecars, "a WAL store keeps -wal/-shm files while open"
        for path in sidecars:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


@pytest.mark.sqlite_only(FILE)
def test_connection_pragmas(store_path: Path) -> None:
    with Store(store_path) as store, store.write() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
        assert BUSY_TIMEOUT_MS >= 1000


@pytest.mark.sqlite_only(FILE)
def test_reopened_store_keeps_wal_and_foreign_keys(store_path: Path) -> None:
    Store(store_path).migrate()
    with Store(store_path) as store, store.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS


def test_reading_a_missing_store_creates_nothing(store_path: Path) -> None:
    with Store(store_path) as store:
        with store.read() as conn:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            assert "review_runs" in tables
            assert conn.execute("SELECT COUNT(*) FROM review_runs").fetchone()[0] == 0
        assert schema_version(store) == len(MIGRATIONS)
        assert not store.exists
    assert not store_path.exists()
    assert isinstance(store_path, PgTarget) or not store_path.parent.exists()


def test_a_write_after_a_read_of_a_missing_store_creates_it(store_path: Path) -> None:
    with Store(store_path) as store:
        with store.read() as conn:
            assert conn.execute("SELECT COUNT(*) FROM review_batches").fetchone()[0] == 0
        with store.write() as conn:
            batch_id = _insert_batch(conn)
    assert store_path.exists()
    with Store(store_path) as store, store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM review_batches")] == [batch_id]


def test_write_commits(store_path: Path) -> None:
    with Store(store_path) as store, store.write() as conn:
        _insert_batch(conn, "first")
    with Store(store_path) as other, other.read() as conn:
        rows = conn.execute("SELECT executor FROM review_batches").fetchall()
    assert [r["executor"] for r in rows] == ["first"]


def test_write_rolls_back_on_exception(store_path: Path) -> None:
    with Store(store_path) as store:
        with store.write() as conn:
            _insert_batch(conn, "kept")
        with pytest.raises(ValueError, match="boom"), store.write() as conn:
            _insert_batch(conn, "lost")
            raise ValueError("boom")
        assert not store.connection(create=False).in_transaction
        with store.read() as conn:
            executors = [r[0] for r in conn.execute("SELECT executor FROM review_batches")]
    assert executors == ["kept"]
    with Store(store_path) as other, other.read() as conn:
        assert [r[0] for r in conn.execute("SELECT executor FROM review_batches")] == ["kept"]


def test_write_without_create_on_a_missing_store_is_a_user_error(store_path: Path) -> None:
    store = Store(store_path)
    with pytest.raises(UserError, match="no review store"), store.write(create=False):
        pytest.fail("the body must not run")
    assert not store_path.exists()


def test_nested_write_is_refused(store_path: Path) -> None:
    with Store(store_path) as store, store.write(), pytest.raises(RuntimeError), store.write():
        pass


def test_a_newer_store_is_refused_with_a_clear_message(store_path: Path) -> None:
    Store(store_path).migrate()
    newer = len(MIGRATIONS) + 1
    set_version(store_path, newer)
    with pytest.raises(UserError) as info, Store(store_path).read():
        pass
    assert "newer" in info.value.message
    assert str(newer) in info.value.message
    with pytest.raises(UserError, match="newer"), Store(store_path).write():
        pass


def test_a_newer_store_stays_refused_on_a_second_attempt(store_path: Path) -> None:
    """The refusal must not be forgotten by the same Store object."""
    Store(store_path).migrate()
    set_version(store_path, len(MIGRATIONS) + 1)
    store = Store(store_path)
    with pytest.raises(UserError, match="newer"), store.read():
        pass
    with pytest.raises(UserError, match="newer"), store.read():
        pass


def test_migrate_reports_before_and_after(store_path: Path) -> None:
    assert Store(store_path).migrate() == (0, len(MIGRATIONS))
    assert store_path.exists()
    assert Store(store_path).migrate() == (len(MIGRATIONS), len(MIGRATIONS))


@pytest.mark.sqlite_only(FILE)
def test_migrate_upgrades_an_unversioned_file(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    sqlite3.connect(store_path).close()
    with Store(store_path) as store:
        assert store.migrate() == (0, len(MIGRATIONS))
        assert schema_version(store) == len(MIGRATIONS)


def test_autoincrement_ids_never_repeat(store_path: Path) -> None:
    with Store(store_path) as store:
        with store.write() as conn:
            first = _insert_batch(conn)
            second = _insert_batch(conn)
        assert second == first + 1
        with store.write() as conn:
            conn.execute("DELETE FROM review_batches WHERE id = ?", (second,))
        with store.write() as conn:
            third = _insert_batch(conn)
    assert third == second + 1
    assert third not in (first, second)
