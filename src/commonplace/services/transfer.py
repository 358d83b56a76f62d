"""Moving and merging review history between stores: `commonplace-review-store
export` and `import` (docs/store-dump.md).

Export streams the whole store, one row at a time, from one consistent read.
Import reads the dump twice: once only to check it, before the store is
touched at all, and once more, checking again, inside one write transaction
that copies the rows in. Rows already there (same uid; same sha for a
snapshot) are skipped, so an import repeated changes nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from commonplace.errors import UserError
from commonplace.services.dump_format import DumpError, Reader, Record, encode, header
from commonplace.store import dump
from commonplace.store.check import invariant_violations
from commonplace.store.connection import Connection, Store, schema_version

# The tables other rows point at, whose local ids import keeps by uid.
_PARENTS = (
    "provider_jobs",
    "review_batches",
    "review_runs",
    "gate_reviews",
    "acceptance_events",
)


def export_lines(store: Store) -> Iterator[str]:
    """The dump of the whole store, line by line (each ends with a newline)."""
    if not store.exists:
        raise UserError(f"no review store at {store.name}")
    counts = dict.fromkeys(dump.TABLES, 0)
    version = schema_version(store)
    with dump.consistent_read(store) as conn:
        yield encode(header(version))
        for table in dump.TABLES:
            for row in dump.rows_of(conn, table):
                counts[table] += 1
                yield encode({"table": table, "row": row})
    yield encode({"end": counts})


@dataclass
class TableSummary:
    read: int = 0
    added: int = 0
    already_present: int = 0
    differing: int = 0  # same uid, other content: the store's row is kept
    skipped: int = 0  # new, but resting on a row that differs: left out


@dataclass(frozen=True)
class ImportSummary:
    source: str
    store: str
    tables: dict[str, TableSummary]

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tables.values())


@contextmanager
def open_dump(path: str, stdin: BinaryIO) -> Iterator[BinaryIO]:
    """The dump at `path` (a regular file; `-` for `stdin`), seekable: stdin
    is copied to an unnamed temporary file first, since it is read twice."""
    if path == "-":
        with tempfile.TemporaryFile() as spool:
            try:
                shutil.copyfileobj(stdin, spool)
                spool.seek(0)
            except OSError as exc:
                raise UserError(f"cannot keep stdin to read it: {exc.strerror or exc}") from None
            yield spool
        return
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device is never read
        os.close(fd)
        raise UserError(f"cannot read {path}: not a regular file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def import_dump(store: Store, source: BinaryIO, name: str) -> ImportSummary:
    """Copy the dump from `source` (seekable; `name` for messages) into the
    store, all or nothing; a `DumpError` naming the line at the first fault."""
    nul_ok = store.kind != "postgresql"
    try:
        for _ in Reader(name, nul_ok=nul_ok).records(source):
            pass
        source.seek(0)
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
    reader = Reader(name, nul_ok=nul_ok)
    with store.write() as conn:
        before = set(invariant_violations(conn))
        copier = _Copier(conn)
        for record in reader.records(source):
            copier.copy(record)
        broken = [v for v in invariant_violations(conn) if v not in before]
        if broken:  # rows each fine alone, wrong together (a review of another note)
            raise DumpError(
                f"{name}: its rows would break {len(broken)} invariant(s) of the store,"
                f" for one: {broken[0]}; nothing imported"
            )
    return ImportSummary(name, store.name, copier.tables)


@dataclass
class _Copier:
    """Copies checked rows in dump order, remapping references through uids."""

    conn: Connection
    tables: dict[str, TableSummary] = field(
        default_factory=lambda: {t: TableSummary() for t in dump.TABLES}
    )
    # uid -> (local id or None, whether rows may rest on it), per parent table
    local: dict[str, dict[str, tuple[int | None, bool]]] = field(
        default_factory=lambda: {t: {} for t in _PARENTS}
    )

    def copy(self, record: Record) -> None:
        table, row = record.table, record.row
        counts = self.tables[table]
        counts.read += 1
        parents = {
            column: self.local[parent][row[column]]
            for column, (_, parent) in dump.REFERENCES.get(table, {}).items()
            if row[column] is not None
        }
        found = self._find(table, row, parents)
        if found is not None:
            local_id, existing = found
            same = existing == row
            if same:
                counts.already_present += 1
            else:
                counts.differing += 1
            self._remember(table, row, local_id, usable=same)
            return
        if not all(usable for _, usable in parents.values()):
            counts.skipped += 1
            self._remember(table, row, None, usable=False)
            return
        new_id = dump.insert(
            self.conn,
            table,
            row,
            {c: local for c, (local, _) in parents.items() if local is not None},
        )
        counts.added += 1
        self._remember(table, row, new_id, usable=True)

    def _find(
        self, table: str, row: dict[str, Any], parents: dict[str, tuple[int | None, bool]]
    ) -> tuple[Any, dict[str, Any]] | None:
        if table == "review_run_gates":
            run_id = parents["run_uid"][0]
            if run_id is None:
                return None
            return dump.find(self.conn, table, str(run_id), row["gate_id"])
        return dump.find(self.conn, table, row["sha"] if table == "snapshots" else row["uid"])

    def _remember(
        self, table: str, row: dict[str, Any], local: int | None, *, usable: bool
    ) -> None:
        if table in self.local:
            self.local[table][row["uid"]] = (local, usable)
