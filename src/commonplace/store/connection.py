"""The review store: the one module the rest of the code opens it through
(SPEC 5), whichever backend holds it.

A store is a SQLite file on this machine (`store/sqlite.py`, the default) or
a schema on a PostgreSQL server shared by a team (`store/postgres.py`). Both
speak the same queries, keep the same schema from one list of migrations and
give the same guarantees; the callers see `read()` and `write()`
transactions and never learn which backend answers. Where the store is comes
from `Config.store_target`; `store/location.py` tells a URL from a path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from commonplace.errors import UserError
from commonplace.store import sqlite
from commonplace.store.location import is_url, split_url
from commonplace.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    from commonplace.store.postgres import PostgresBackend


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the query modules use of a connection, on either backend."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, seq: Any, /) -> Cursor: ...


# A row, read by index or by column name (`sqlite3.Row` or `PgRow`).
Row = Any


class StoreError(UserError):
    """The store failed under a command: a full disk, a damaged file, an
    I/O error, a server gone away."""

    def __init__(self, message: str, *, detail: str, full: bool = False) -> None:
        self.full = full
        self.detail = detail  # the backend's own words, for `check` to list
        super().__init__(message)


class Store:
    """One review store. A store that does not exist yet reads as empty and
    is created only by the first write. `location` is a file path or a
    PostgreSQL URL; `schema` the PostgreSQL schema when the URL names none."""

    def __init__(
        self,
        location: Path | str,
        *,
        root: Path | None = None,
        setting: str = "the review store path",
        schema: str | None = None,
    ) -> None:
        self.backend: sqlite.SqliteBackend | PostgresBackend
        if isinstance(location, str) and is_url(location):
            from commonplace.store.postgres import PostgresBackend

            url, chosen = split_url(location, schema, setting)
            self.backend = PostgresBackend(url, chosen, setting=setting)
        else:
            self.backend = sqlite.SqliteBackend(Path(location), root=root, setting=setting)
        self._conn: Any = None
        self._in_memory = False

    @classmethod
    def _of(cls, backend: sqlite.SqliteBackend | PostgresBackend) -> Store:
        store = cls.__new__(cls)
        store.backend, store._conn, store._in_memory = backend, None, False
        return store

    def another(self) -> Store:
        """A second handle on the same store (for another thread)."""
        return Store._of(self.backend.another())

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.backend.kind

    @property
    def name(self) -> str:
        """The store as shown in messages: a path, or a masked URL and schema."""
        return self.backend.name

    @property
    def path(self) -> Path:
        """The file of a SQLite store."""
        if not isinstance(self.backend, sqlite.SqliteBackend):
            raise UserError(f"review store {self.name} is not a file")
        return self.backend.path

    @property
    def exists(self) -> bool:
        # A server store this handle is connected to exists: asking the
        # server again would cost a new connection (and its authentication)
        # for every `write(create=False)`.
        if self.kind == "postgresql" and self._conn is not None and not self._in_memory:
            return True
        return self.backend.exists()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connection(self, *, create: bool) -> Any:
        if self._conn is not None and create and self._in_memory:
            self.close()
        if getattr(self._conn, "broken", False):
            # A server lost between two transactions: connect again (or say
            # why not) instead of taking its unknown state for a transaction.
            self.close()
        if self._conn is None:
            # Reading a store that was never written gives an empty schema in
            # memory, so read paths never create it as a side effect.
            self._in_memory = not (create or self.backend.exists())
            try:
                self._conn = (
                    sqlite.empty_store() if self._in_memory else self.backend.connect(create=True)
                )
            except Exception as exc:
                self._raise(exc)
        return self._conn

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the store; (version before, version after)."""
        before = self.version_on_disk()
        self.close()
        self.connection(create=True)
        return before, self.version_on_disk()

    def version_on_disk(self) -> int:
        """The schema version of the stored data (0: none yet), read without
        changing anything."""
        try:
            return self.backend.version_on_disk()
        except Exception as exc:
            self._raise(exc)

    @contextmanager
    def read(self) -> Iterator[Any]:
        conn = self.connection(create=False)
        try:
            yield conn
        except Exception as exc:  # a damaged page found while reading, a server gone
            self._raise(exc)

    @contextmanager
    def write(self, *, create: bool = True) -> Iterator[Any]:
        """One write transaction: committed on success, rolled back on any
        exception. Without `create`, a missing store is an error. Failures
        of the disk, the file or the server become a `StoreError`, and the
        connection is always left outside any transaction, ready for the
        next write (the one that fails the runs)."""
        if not create and not self.exists:
            raise UserError(f"no review store at {self.name}")
        conn = self.connection(create=True)
        if conn.in_transaction:
            raise RuntimeError("nested store transaction")
        backend = self._module()
        conn = self._begin(conn, backend)
        try:
            yield conn
            backend.commit(conn)
        except BaseException as exc:
            backend.abandon(conn)
            if isinstance(exc, Exception):
                self._raise(exc)
            raise

    def _begin(self, conn: Any, backend: Any) -> Any:
        """Start a write transaction on `conn`, or on a new connection when
        the server dropped this one since the last transaction (a restart, a
        failover): nothing of the transaction was sent yet."""
        try:
            backend.begin_write(conn)
            return conn
        except Exception as exc:
            if not getattr(conn, "broken", False):
                self._raise(exc)
        self.close()
        conn = self.connection(create=True)
        try:
            backend.begin_write(conn)
        except Exception as exc:
            self._raise(exc)
        return conn

    def _module(self) -> Any:
        if self.backend.kind == "sqlite":
            return sqlite
        from commonplace.store import postgres

        return postgres

    def _raise(self, exc: Exception) -> NoReturn:
        failure = self._failure(exc)
        if failure is exc:
            raise exc
        raise failure from exc

    def _failure(self, exc: Exception) -> Exception:
        """`exc` as a `StoreError` when it is the store's environment failing;
        as it is otherwise (a user error already, or a bug)."""
        if isinstance(exc, UserError):
            return exc
        backend = self._module()
        if not backend.environmental(exc):
            return exc
        if self.backend.kind == "sqlite":
            path = self.backend.name
            return StoreError(
                sqlite.error_message(path, exc), detail=str(exc), full=sqlite.is_full(exc, path)
            )
        return StoreError(backend.error_message(self.name, exc), detail=str(exc))

    def keep_reserve(self) -> bool:
        """Set disk space aside beside a store file (see SqliteBackend)."""
        return self.backend.keep_reserve()

    def release_reserve(self, *, part: bool = False) -> bool:
        """Give the reserve back (with `part`, half of what is left)."""
        return self.backend.release_reserve(part=part)


def on_server(conn: Any) -> bool:
    """Whether an open connection is to a PostgreSQL server. Asked of the
    connection, not the store: a store never written reads as an empty
    SQLite schema in memory, whichever backend it names."""
    return not isinstance(conn, sqlite.Connection)


def savepoint(conn: Connection) -> None:
    """Mark a point inside a write transaction that `undo_to_savepoint` can
    return to, leaving the rest of the transaction as it is (one run of an
    ingest that several runs share). Savepoints nest by name; one is enough."""
    conn.execute("SAVEPOINT part")


def release_savepoint(conn: Connection) -> None:
    """Keep what was done since the savepoint, as part of the transaction."""
    conn.execute("RELEASE SAVEPOINT part")


def undo_to_savepoint(conn: Connection) -> None:
    """Undo what was done since the savepoint, and forget it."""
    conn.execute("ROLLBACK TO SAVEPOINT part")
    conn.execute("RELEASE SAVEPOINT part")


def schema_version(store: Store) -> int:
    """The store's schema version; a store never written reads as current."""
    return store.version_on_disk() if store.exists else len(MIGRATIONS)


def store_error_message(path: Path | str | None, exc: BaseException) -> str:
    """What a command says when SQLite (or the disk under it) fails outside
    a transaction."""
    return sqlite.error_message(path, exc)
