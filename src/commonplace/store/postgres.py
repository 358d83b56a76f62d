"""The PostgreSQL backend of the review store: one schema on a shared server.

The queries of the store layer are written once, in the SQL both backends
speak; `PgConnection` gives them the face of a `sqlite3` connection (`?`
placeholders, rows read by index or name, `rowcount`), and turns the one
SQLite idiom they use for lists, `json_each(?)`, into its PostgreSQL twin.

Writers take one transaction-scoped advisory lock per store schema, the
analogue of SQLite's `BEGIN IMMEDIATE`: racing machines queue for it instead
of failing, so every guarantee the lifecycle proves on SQLite (guarded
updates, claims, one acceptance per pair) holds here unchanged, and a
transaction can never deadlock on another. Readers take no lock.

`psycopg` is imported only here, and only when a PostgreSQL URL is used.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from commonplace.errors import UserError
from commonplace.store.location import masked, scrubbed
from commonplace.store.migrations import MIGRATIONS, postgres_statements

if TYPE_CHECKING:
    import psycopg

INSTALL_HINT = "pip install 'commonplace-review[postgres]'"
CONNECT_TIMEOUT_S = 10
# How often the start of a transaction is tried again when the server says
# to (deadlock, serialization failure), and the pause before the next try.
RETRIES = 8
RETRY_PAUSE_S = 0.05

# insufficient_privilege: a role without rights on the store's schema.
PRIVILEGE = "42501"

_JSON_EACH = re.compile(r"json_each\(\?\)")


class PgRow(tuple[Any, ...]):
    """A row read by index or by column name, like `sqlite3.Row`."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, index)


def translate(sql: str) -> str:
    """SQLite's placeholders and list idiom in PostgreSQL's words."""
    sql = _JSON_EACH.sub("json_array_elements_text(CAST(? AS json))", sql)
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection in autocommit mode, with the `sqlite3` surface
    the store's query modules use."""

    def __init__(self, raw: psycopg.Connection[Any], lock_key: int) -> None:
        self.raw = raw
        self.lock_key = lock_key
        self._sql: dict[str, str] = {}

    def _translated(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = translate(sql)
        return found

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        if not parameters:  # psycopg reads no placeholders in a query sent bare
            return self.raw.execute(sql)
        return self.raw.execute(self._translated(sql), tuple(parameters))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(self._translated(sql), [tuple(p) for p in seq])
        return cursor

    @property
    def broken(self) -> bool:
        """The link to the server was lost (a restart, a failover, a timeout)."""
        return bool(self.raw.closed or self.raw.broken)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UserError(
            f"a PostgreSQL review store needs the psycopg package: {INSTALL_HINT}"
        ) from None
    return psycopg


class PostgresBackend:
    """The store in `schema` of the server at `url`; `setting` is what named
    it, for messages. The URL is never shown with its password."""

    kind = "postgresql"

    def __init__(self, url: str, schema: str, *, setting: str) -> None:
        self.url = url
        self.schema = schema
        self.setting = setting
        self.lock_key = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big") >> 1

    @property
    def name(self) -> str:
        return f"{masked(self.url)} (schema {self.schema})"

    def another(self) -> PostgresBackend:
        return PostgresBackend(self.url, self.schema, setting=self.setting)

    def _open(self) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="commonplace-review",
            )
        except psycopg.Error as exc:
            raise UserError(self._connect_message(exc)) from None

    def _connect_message(self, exc: BaseException) -> str:
        # libpq quotes a URL it cannot parse, password and all.
        detail = scrubbed(" ".join(str(exc).split()) or type(exc).__name__, self.url)
        return f"cannot connect to review store {masked(self.url)} ({self.setting}): {detail}"

    def exists(self) -> bool:
        return self._probe() is not None

    def _probe(self) -> int | None:
        """The schema version, read on a connection of its own."""
        psycopg = _psycopg()
        raw = self._open()
        try:
            return self._version(raw)
        except psycopg.Error as exc:  # the server went away, a role without rights
            raise UserError(error_message(self.name, exc)) from None
        finally:
            raw.close()

    def _version(self, raw: Any) -> int | None:
        """The schema version; None when the store was never written. The
        catalog is asked, not `information_schema`, which hides the tables a
        role may not read: such a store must fail, not read as empty."""
        row = raw.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'schema_version'",
            (self.schema,),
        ).fetchone()
        if row is None:
            return None
        found = raw.execute(f'SELECT version FROM "{self.schema}".schema_version').fetchone()
        return 0 if found is None else int(found[0])

    def version_on_disk(self) -> int:
        return self._probe() or 0

    def connect(self, *, create: bool) -> PgConnection:
        raw = self._open()
        conn = PgConnection(raw, self.lock_key)
        try:
            version = self._version(raw)
            if version is not None and version > len(MIGRATIONS):
                raise UserError(_newer_schema(self.name, version))
            if version is None and not create:
                raise UserError(f"no review store at {self.name}")
            raw.execute(f'SET search_path TO "{self.schema}"')
            if version != len(MIGRATIONS):
                self._migrate(conn)
        except BaseException:
            raw.close()
            raise
        return conn

    def _migrate(self, conn: PgConnection) -> None:
        psycopg = _psycopg()
        begin_write(conn)
        try:
            conn.raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = self._version(conn.raw) or 0
            if version > len(MIGRATIONS):  # another machine upgraded meanwhile
                raise UserError(_newer_schema(self.name, version))
            if conn.raw.execute("SELECT 1 FROM schema_version").fetchone() is None:
                conn.raw.execute("INSERT INTO schema_version (version) VALUES (0)")
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in postgres_statements(migration):
                    conn.raw.execute(statement)
                conn.raw.execute("UPDATE schema_version SET version = %s", (number,))
            conn.raw.execute("COMMIT")
        except psycopg.Error as exc:
            abandon(conn)
            raise UserError(f"cannot migrate review store {self.name}: {_detail(exc)}") from None
        except BaseException:
            abandon(conn)
            raise

    def keep_reserve(self) -> bool:
        return False  # the server's disk is the server's to keep

    def release_reserve(self, *, part: bool = False) -> bool:
        return False


def begin_write(conn: PgConnection) -> None:
    """Start a transaction holding the store's write lock. A deadlock or a
    serialization failure here is tried again, never shown."""
    psycopg = _psycopg()
    transient = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
    for attempt in range(RETRIES):
        try:
            conn.raw.execute("BEGIN")
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (conn.lock_key,))
            return
        except transient:
            abandon(conn)
            if attempt == RETRIES - 1:
                raise
            time.sleep(RETRY_PAUSE_S * (attempt + 1))


def commit(conn: PgConnection) -> None:
    conn.raw.execute("COMMIT")


def abandon(conn: PgConnection) -> None:
    """Roll back what is left of a transaction, whatever state it is in."""
    with suppress(Exception):
        if conn.in_transaction:
            conn.raw.execute("ROLLBACK")


def environmental(exc: BaseException) -> bool:
    """A failure of the server, the link to it or the role's rights (gone,
    full, shut down, read-only, permission denied), as opposed to a query
    that broke a constraint: those are bugs."""
    psycopg = _psycopg()
    errors = psycopg.errors
    return isinstance(
        exc,
        (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            errors.InsufficientPrivilege,
            errors.ReadOnlySqlTransaction,
            errors.InvalidSchemaName,
        ),
    )


def error_message(name: str | None, exc: BaseException) -> str:
    store = f"review store {name}" if name else "the review store"
    if getattr(exc, "sqlstate", None) == PRIVILEGE:
        return (
            f"{store}: {_detail(exc)}; the owner of the schema can grant this role its"
            " rights (see docs/team.md)"
        )
    return f"{store}: {_detail(exc)}; `commonplace-review-store check` tells what is wrong"


def _detail(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _newer_schema(name: str, version: int) -> str:
    return (
        f"review store {name} has schema version {version}, newer than this "
        f"commonplace-review understands ({len(MIGRATIONS)}); upgrade commonplace-review"
    )
