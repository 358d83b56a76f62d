"""Raw looks at a review store, behind the library's back, the way people
inspect it: every table, rows of a query, one value, a dump of everything.

A store is named by a target: a SQLite file (`Path`), a PostgreSQL store
(`helpers.backends.PgTarget`), or an open `Store` of either. The queries are
written with `?` placeholders and run on PostgreSQL the way the store layer
runs its own (`commonplace.store.postgres.translate`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from commonplace.store.connection import Store
from commonplace.store.packing import unpack
from helpers.backends import PgTarget, connect, current_target, pg_target
from helpers.postgres import drop_schema

Target = Path | PgTarget | Store

# The store file of a KB with the default layout, relative to the KB root.
STORE = "kb/reports/review-store.sqlite"

# Every table of the review store.
STORE_TABLES = (
    "review_batches",
    "review_runs",
    "review_run_gates",
    "gate_reviews",
    "acceptance_events",
    "snapshots",
    "model_alias_resolutions",
    "note_relocations",
)
TABLES = STORE_TABLES


def store_of(kb: Path) -> Path | PgTarget:
    """The store the commands of a test use on `kb` without `--db`: the KB's
    file, or the test's PostgreSQL schema (helpers/backends.py)."""
    return current_target() or kb / STORE


def target_of(db: Target) -> Path | PgTarget:
    if isinstance(db, Store):
        backend: Any = db.backend
        return pg_target(backend.url, backend.schema) if db.kind == "postgresql" else db.path
    return db


@contextmanager
def _connection(db: Target) -> Iterator[Any]:
    """A raw connection (sqlite3 or psycopg), committed when the block ends."""
    target = target_of(db)
    conn = connect(target) if isinstance(target, PgTarget) else sqlite3.connect(target)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def _execute(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, params)
    from commonplace.store.postgres import translate

    return conn.execute(translate(sql), params) if params else conn.execute(sql)


@contextmanager
def polling(db: Target) -> Iterator[Callable[[str], Any]]:
    """A read-only connection kept open while another process writes the
    store: yields `value(sql)`, the first column of the first row, or None
    while the store does not exist yet or is still being created."""
    target = target_of(db)
    if isinstance(target, PgTarget):
        import psycopg

        pg = connect(target, autocommit=True)  # each poll sees the latest commit

        def pg_value(sql: str) -> Any:
            try:
                row = pg.execute(sql).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
            return None if row is None else row[0]

        try:
            yield pg_value
        finally:
            pg.close()
        return
    conns: list[sqlite3.Connection] = []

    def value(sql: str) -> Any:
        if not conns:
            if not target.exists():
                return None
            try:
                conns.append(sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True, timeout=5))
            except sqlite3.OperationalError:
                return None
        try:
            row = conns[0].execute(sql).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else row[0]

    try:
        yield value
    finally:
        for conn in conns:
            conn.close()


def drop_store(kb: Path) -> None:
    """Remove the store the commands use on `kb` (a file with its side files,
    or the test's schema, which the next write creates again)."""
    target = store_of(kb)
    if isinstance(target, PgTarget):
        drop_schema(target.url, target.schema)
    else:
        for side in ("", "-wal", "-shm", "-reserve"):
            Path(f"{target}{side}").unlink(missing_ok=True)


def execute_sql(db: Target, *statements: str) -> None:
    """Run statements on a store directly, behind the library's back."""
    with _connection(db) as conn:
        for statement in statements:
            _execute(conn, statement)


def version_of(db: Target) -> int:
    """The store's schema version as the backend keeps it."""
    if isinstance(target_of(db), PgTarget):
        return int(one(db, "SELECT version FROM schema_version"))
    return int(one(db, "PRAGMA user_version"))


def set_version(db: Target, version: int) -> None:
    """Mark the store as being at schema `version` (e.g. one newer than ours)."""
    if isinstance(target_of(db), PgTarget):
        execute_sql(db, f"UPDATE schema_version SET version = {int(version)}")
    else:
        execute_sql(db, f"PRAGMA user_version = {int(version)}")


def rows(db: Target, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the store directly, the way people inspect it."""
    assert target_of(db).exists(), f"no store at {db}"
    with _connection(db) as conn:
        return [tuple(row) for row in _execute(conn, sql, params).fetchall()]


def stored_text(db: Target, table: str, column: str, row_id: int | None = None) -> Any:
    """A text the store may keep compressed (its plain and `_z` columns), as
    the store reads it; of the row `row_id`, or the only row."""
    where, params = ("", ()) if row_id is None else (" WHERE id = ?", (row_id,))
    plain, packed = one(db, f"SELECT {column}, {column}_z FROM {table}{where}", params)
    return unpack(plain, packed)


def columns(db: Target, table: str) -> list[str]:
    """The column names of `table`, in their order."""
    if isinstance(target_of(db), PgTarget):
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? ORDER BY ordinal_position"
        )
        return [row[0] for row in rows(db, sql, (table,))]
    return [row[1] for row in rows(db, f"PRAGMA table_info({table})")]


def one(db: Target, sql: str, params: tuple[Any, ...] = ()) -> Any:
    found = rows(db, sql, params)
    assert len(found) == 1, found
    return found[0][0] if len(found[0]) == 1 else found[0]


def dump(db: Target) -> dict[str, list[tuple[Any, ...]]] | None:
    """Every row of every table (None when the store does not exist): for
    asserting that a refused command changed nothing at all."""
    target = target_of(db)
    if not target.exists():
        return None
    version = (
        "SELECT version FROM schema_version"
        if isinstance(target, PgTarget)
        else "PRAGMA user_version"
    )
    with _connection(target) as conn:
        out = {
            t: sorted(map(tuple, _execute(conn, f"SELECT * FROM {t}").fetchall()), key=repr)
            for t in TABLES
        }
        out["user_version"] = [tuple(r) for r in _execute(conn, version).fetchall()]
        return out


def counts(db: Target) -> dict[str, int]:
    return {t: one(db, f"SELECT COUNT(*) FROM {t}") for t in TABLES}


def run_states(db: Target) -> dict[int, tuple[str, str | None]]:
    """Every run: id -> (status, failure_reason)."""
    found = rows(db, "SELECT id, status, failure_reason FROM review_runs ORDER BY id")
    return {run_id: (status, reason) for run_id, status, reason in found}


def statuses(db: Target) -> dict[int, str]:
    """Every run: id -> status."""
    return {run_id: status for run_id, (status, _) in run_states(db).items()}


def filed_in(db: Target, run_id: int) -> tuple[str, str | None, list[str], list[str]]:
    """Where a run is filed: (its partition, its rekeyed_from, the partitions
    of its gate reviews, those of the acceptances of its reviews)."""
    model_id, rekeyed_from = one(
        db, "SELECT model_id, rekeyed_from FROM review_runs WHERE id = ?", (run_id,)
    )
    reviews = rows(
        db, "SELECT model_id FROM gate_reviews WHERE review_run_id = ? ORDER BY id", (run_id,)
    )
    accepted = rows(
        db,
        "SELECT e.model_id FROM acceptance_events e JOIN gate_reviews r"
        " ON r.id = e.accepted_review_id WHERE r.review_run_id = ? ORDER BY e.id",
        (run_id,),
    )
    return model_id, rekeyed_from, [r[0] for r in reviews], [a[0] for a in accepted]


def moved(model_id: str, rekeyed_from: str | None) -> tuple[str, str | None, list, list]:
    """`filed` of a clarity run filed wholly under `model_id`."""
    return model_id, rekeyed_from, [model_id] * 2, [model_id] * 2
