"""The SQLite backend of the review store: one file on this machine.

It creates the file with owner-only permissions, opens connections with the
pragmas every caller needs and applies migrations. Writers use
`BEGIN IMMEDIATE` so that racing processes queue on the busy timeout instead
of failing half-way with `database is locked`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import suppress
from pathlib import Path

from commonplace import safe_files
from commonplace.errors import UserError
from commonplace.store.migrations import MIGRATIONS, sqlite_statements

BUSY_TIMEOUT_MS = 60_000
SIDE_FILES = ("-wal", "-shm", "-journal")
# Disk space set aside beside the store while a command owns runs, so that
# they can still be failed with a reason once the disk is full: a failing
# write needs a few WAL pages, and this is room for some hundreds of them.
RESERVE_BYTES = 1024 * 1024
RESERVE_SUFFIX = "-reserve"

Connection = sqlite3.Connection
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 10, 11, 13, 26


class SqliteBackend:
    """A store file; `root` is the KB root (no folder below it on the way
    may be a link), `setting` what named the path, for messages."""

    kind = "sqlite"

    def __init__(self, path: Path, *, root: Path | None, setting: str) -> None:
        self.path = path
        self.root = root
        self.setting = setting

    @property
    def name(self) -> str:
        return str(self.path)

    def another(self) -> SqliteBackend:
        return SqliteBackend(self.path, root=self.root, setting=self.setting)

    def exists(self) -> bool:
        return self.path.exists()

    def connect(self, *, create: bool) -> sqlite3.Connection:
        """A migrated connection to the file (made when `create`)."""
        self._refuse_links(create=create and not self.exists())
        conn = _connect(self.path) if self.exists() else _create(self.path)
        try:
            migrate(conn, self.name, on_disk=True)
        except BaseException:
            conn.close()  # a refused store stays refused on the next call
            raise
        return conn

    def version_on_disk(self) -> int:
        """The schema version of the file, read without changing it."""
        if not self.exists():
            return 0
        self._refuse_links(create=False)
        probe = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        try:  # a damaged file raises here, and the facade says so
            return user_version(probe)
        finally:
            probe.close()

    def _refuse_links(self, *, create: bool) -> None:
        """Python's sqlite3 exposes no SQLITE_OPEN_NOFOLLOW, and SQLite follows
        links to the file and beside it for -wal, -shm and -journal. So right
        before connecting, check that none of them is a link, nor any folder
        on the way below the KB root; a missing file is made here, unfollowed."""
        with safe_files.folder(
            self.root, self.path.parent, setting=self.setting, create=create, outside_ok=True
        ) as where:
            for suffix in ("", *SIDE_FILES):
                where.refuse_link(self.path.name + suffix)
            if create:
                where.create_empty(self.path.name, 0o600)

    def keep_reserve(self) -> bool:
        """Set disk space aside beside the store, best effort: a disk already
        full gets no reserve, and that is no reason to refuse to work. True
        when this call made the reserve (and should release it at the end)."""
        reserve = self._reserve_path()
        try:  # never through a symlink planted where the reserve goes
            fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        except OSError:
            return False  # there is one already (another command's), or no room
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:
            with suppress(OSError):
                os.unlink(reserve)
            return False
        finally:
            os.close(fd)
        return True

    def release_reserve(self, *, part: bool = False) -> bool:
        """Give the reserved space back to the disk; whether there was any.
        With `part`, only half of what is left (all of it once little is
        left): batches failing together on a full disk each get room to
        write their failure, not only the first one."""
        reserve = self._reserve_path()
        if part:
            try:  # a link planted there is removed below, never followed
                fd = os.open(reserve, os.O_WRONLY | _NOFOLLOW)
            except OSError:
                fd = -1
            if fd >= 0:
                try:
                    left = os.fstat(fd).st_size
                    if left > RESERVE_BYTES // 8:
                        os.ftruncate(fd, left // 2)
                        return True
                except OSError:
                    pass
                finally:
                    os.close(fd)
        try:
            os.unlink(reserve)
        except OSError:
            return False
        return True

    def _reserve_path(self) -> Path:
        return self.path.with_name(self.path.name + RESERVE_SUFFIX)


def empty_store() -> sqlite3.Connection:
    """An empty store in memory: what reading a store never written gives."""
    conn = _connect(None)
    migrate(conn, "in memory", on_disk=False)
    return conn


def begin_write(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise UserError(f"review store is unavailable: {exc}") from None


def commit(conn: sqlite3.Connection) -> None:
    conn.commit()


def abandon(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a transaction. SQLite may already have
    rolled it back itself (after SQLITE_FULL or an I/O error), and rolling
    back may fail in turn; either way the connection must end outside it."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.rollback()


def environmental(exc: BaseException) -> bool:
    """A failure of the disk or the file (full, I/O, damaged, locked), as
    opposed to a query that broke a constraint or misused the API: those
    are bugs, and keep their own type."""
    return type(exc) is sqlite3.DatabaseError or isinstance(exc, sqlite3.OperationalError)


def _connect(path: Path | None) -> sqlite3.Connection:
    target = ":memory:" if path is None else str(path)
    try:
        # A handle may serve several worker threads in turn (never two at
        # once: see the sweeps' launcher), so any thread may use and close it.
        conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot open review store {path}: {exc}") from None
    return conn


def _create(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot create review store {path}: {exc.strerror}") from None
    return _connect(path)


def migrate(conn: sqlite3.Connection, name: str, *, on_disk: bool) -> None:
    known = len(MIGRATIONS)
    version = user_version(conn)
    if version > known:  # refused before anything, the journal mode included, is changed
        raise UserError(newer_schema_message(name, version))
    if on_disk:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        begin_write(conn)
        try:
            if user_version(conn) >= number:  # another process got there first
                conn.rollback()
                continue
            for statement in sqlite_statements(migration):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def newer_schema_message(name: str, version: int) -> str:
    return (
        f"review store {name} has schema version {version}, newer than this "
        f"commonplace-review understands ({len(MIGRATIONS)}); upgrade commonplace-review"
    )


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def error_message(path: Path | str | None, exc: BaseException) -> str:
    """What a command says when SQLite (or the disk under it) fails: the
    file, what happened, and what to do."""
    store = f"review store {path}" if path else "the review store"
    if is_full(exc, path):
        return (
            f"{store}: the disk is full ({exc}); free some space, then run"
            " `commonplace-reap-stale-runs` for any run left running"
        )
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return (
            f"{store} is damaged ({exc}); run `commonplace-review-store check` to see what is wrong"
        )
    return f"{store}: {exc}; `commonplace-review-store check` tells whether the file is sound"


def is_full(exc: BaseException, path: Path | str | None = None) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == _SQLITE_FULL:
        return True
    # SQLite reports some writes refused for want of space (its shared-memory
    # index, for one) as a mere I/O error; a filesystem with no room left
    # tells which it was.
    if code == _SQLITE_IOERR and path is not None:
        try:
            stats = os.statvfs(Path(path).parent)
        except OSError:
            return False
        return stats.f_bavail * stats.f_frsize < 64 * 1024
    return False
