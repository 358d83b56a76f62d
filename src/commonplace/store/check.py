"""`review-store check` and `stats`: integrity and the store's own invariants."""

from __future__ import annotations

import re
from dataclasses import dataclass

from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.store.acceptance_marks import UNMARKED
from commonplace.store.connection import (
    Connection,
    Store,
    StoreError,
    on_server,
    schema_version,
)
from commonplace.store.migrations import MIGRATIONS, postgres_statements, sqlite_statements
from commonplace.store.packing import PACKED, unpack

_CREATE = re.compile(r"\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX|TRIGGER|VIEW)\s+(\w+)", re.I)
_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.I)

# Each invariant is a query returning one row per violation and a message format.
_INVARIANTS: tuple[tuple[str, str], ...] = (
    (
        "SELECT g.review_run_id, g.gate_id FROM review_run_gates g JOIN review_runs r"
        " ON r.id = g.review_run_id LEFT JOIN gate_reviews v"
        " ON v.review_run_id = g.review_run_id AND v.gate_id = g.gate_id"
        " AND v.gate_sha = g.gate_sha"
        " WHERE r.status = 'completed' AND v.id IS NULL",
        "completed review run {} has no review of its gate {}",
    ),
    (
        "SELECT r.id, '' FROM review_runs r WHERE NOT EXISTS"
        " (SELECT 1 FROM review_run_gates g WHERE g.review_run_id = r.id)",
        "review run {} has no gates{}",
    ),
    (
        "SELECT e.id, COALESCE(r.status, 'missing') FROM acceptance_events e"
        " LEFT JOIN gate_reviews v ON v.id = e.accepted_review_id"
        " LEFT JOIN review_runs r ON r.id = v.review_run_id"
        " WHERE e.acceptance_kind = 'full-review' AND (r.status IS DISTINCT FROM 'completed')",
        "full-review acceptance {} comes from a review run that is {}",
    ),
    (
        "SELECT e.id, v.id FROM acceptance_events e JOIN gate_reviews v"
        " ON v.id = e.accepted_review_id WHERE v.note_path <> e.note_path"
        " OR v.gate_id <> e.gate_id OR v.model_id <> e.model_id"
        " OR v.reviewed_note_sha <> e.accepted_note_sha OR v.gate_sha <> e.accepted_gate_sha",
        "acceptance {} does not match the review {} it accepts",
    ),
    (
        "SELECT e.id, v.decision FROM acceptance_events e JOIN gate_reviews v"
        " ON v.id = e.accepted_review_id WHERE v.decision NOT IN ('pass', 'warn', 'fail')",
        "acceptance {} accepts a review whose decision is {}",
    ),
    (
        "SELECT l.id, l.acceptance_id FROM labels l LEFT JOIN acceptance_events e"
        " ON e.id = l.acceptance_id WHERE l.acceptance_id IS NOT NULL AND (e.id IS NULL"
        " OR e.acceptance_kind <> 'manual-override' OR e.note_path <> l.note_path"
        " OR e.gate_id <> l.gate_id OR e.model_id <> l.model_id"
        " OR e.accepted_note_sha <> l.note_sha OR e.accepted_gate_sha <> l.gate_sha)",
        "label {} does not match the manual-override acceptance {} it made",
    ),
    (
        "SELECT v.id, v.review_run_id FROM gate_reviews v JOIN review_runs r"
        " ON r.id = v.review_run_id WHERE v.note_path <> r.note_path OR v.model_id <> r.model_id",
        "gate review {} does not match its review run {}",
    ),
    (
        "SELECT b.id, '' FROM review_batches b WHERE NOT EXISTS"
        " (SELECT 1 FROM review_runs r WHERE r.batch_id = b.id)",
        "review batch {} has no runs{}",
    ),
    (
        "SELECT 'review batch', id, 'raw output' FROM review_batches"
        " WHERE raw_output IS NOT NULL AND raw_output_z IS NOT NULL"
        " UNION ALL SELECT 'review batch', id, 'debug log' FROM review_batches"
        " WHERE debug_log IS NOT NULL AND debug_log_z IS NOT NULL"
        " UNION ALL SELECT 'review run', id, 'document' FROM review_runs"
        " WHERE raw_bundle_markdown IS NOT NULL AND raw_bundle_markdown_z IS NOT NULL",
        "{} {} has its {} both plain and compressed",
    ),
    UNMARKED,
)


@dataclass(frozen=True)
class CheckReport:
    schema_version: int | None  # None when the file cannot be read at all
    violations: tuple[str, ...]
    running_runs: int

    @property
    def ok(self) -> bool:
        return not self.violations


def check_store(store: Store) -> CheckReport:
    """SQLite's integrity check first: a damaged file is reported as such
    (never as a crash), and its invariants are not read, since nothing read
    from it can be trusted. Then the schema objects every query relies on,
    then the store's invariants. (A PostgreSQL server keeps its own pages
    sound and its foreign keys enforced; its schema is checked the same.)"""
    try:
        version = schema_version(store)
        with store.read() as conn:
            postgres = on_server(conn)
            damage = [] if postgres else _damage(conn)
            if damage:
                return CheckReport(version, tuple(damage), 0)
            violations = _pg_schema_violations(conn) if postgres else _schema_violations(conn)
            if violations:  # invariant queries need the schema they were written for
                return CheckReport(version, tuple(violations), 0)
            if not postgres:
                for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
                    violations.append(f"{table} row {rowid} points at a missing {parent} row")
            violations.extend(invariant_violations(conn))
            violations.extend(_damaged_packs(conn))
            for sha, text in conn.execute("SELECT sha, text FROM snapshots"):
                if blob_sha(text.encode("utf-8")) != sha:
                    violations.append(f"snapshot {sha} does not hash to its key")
            running = conn.execute(
                "SELECT COUNT(*) FROM review_runs WHERE status = 'running'"
            ).fetchone()[0]
    except StoreError as exc:  # too damaged to open or to read through
        return CheckReport(None, (f"sqlite integrity: {exc.detail}",), 0)
    return CheckReport(version, tuple(violations), running)


def _damaged_packs(conn: Connection) -> list[str]:
    """Compressed texts that do not inflate (read one row at a time)."""
    found = []
    for table, columns in PACKED.items():
        for column in columns:
            sql = f"SELECT id, {column}_z FROM {table} WHERE {column}_z IS NOT NULL"
            for row_id, packed in conn.execute(sql):
                try:
                    unpack(None, packed)
                except UserError:
                    found.append(f"{table} row {row_id}: {column}_z does not inflate")
    return found


def invariant_violations(conn: Connection) -> list[str]:
    """The store's invariants broken, one message each (ids are local)."""
    return [message.format(*row) for sql, message in _INVARIANTS for row in conn.execute(sql)]


def _damage(conn: Connection) -> list[str]:
    return [
        f"sqlite integrity: {result}"
        for (result,) in conn.execute("PRAGMA integrity_check")
        if result != "ok"
    ]


def expected_schema(
    *, postgres: bool = False
) -> tuple[dict[str, tuple[str, str]], dict[str, set[str]]]:
    """From the migrations: each named object's type and creating statement,
    and the columns added to tables after they were created."""
    objects: dict[str, tuple[str, str]] = {}
    added: dict[str, set[str]] = {}
    statements = postgres_statements if postgres else sqlite_statements
    for migration in MIGRATIONS:
        for statement in statements(migration):
            created = _CREATE.match(statement)
            if created is not None:
                objects[created.group(2)] = (created.group(1).lower(), statement)
            altered = _ADD_COLUMN.match(statement)
            if altered is not None:
                added.setdefault(altered.group(1), set()).add(altered.group(2))
    return objects, added


def _schema_violations(conn: Connection) -> list[str]:
    """Every table, index, trigger and view the migrations create must be
    there, and an index, trigger or view must be the one they create (a
    trigger emptied under the same name guards nothing); no other trigger
    may be."""
    objects, added = expected_schema()
    present = {
        name: (kind, sql or "")
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
    }
    found: list[str] = []
    for name, (kind, statement) in objects.items():
        have = present.get(name)
        if have is None or have[0] != kind:
            found.append(f"schema: {kind} {name} is missing")
        elif kind != "table" and _words(have[1]) != _words(statement):
            found.append(f"schema: {kind} {name} differs from the one the migrations create")
    found.extend(  # a trigger of someone else's can change what any write does
        f"schema: trigger {name} is not one the migrations create"
        for name, (kind, _) in sorted(present.items())
        if kind == "trigger" and name not in objects
    )
    for table, columns in added.items():
        if table not in present:
            continue
        existing = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        found.extend(f"schema: column {table}.{c} is missing" for c in sorted(columns - existing))
    return found


def _pg_schema_violations(conn: Connection) -> list[str]:
    """Every object the migrations create must be in the store's schema, the
    append-only function must still refuse, and no other trigger may be
    there. (PostgreSQL keeps its own normalized text of each definition, so
    these are compared by presence, not word by word.)"""
    objects, added = expected_schema(postgres=True)
    present: dict[str, str] = {}
    for kind, query in (
        (
            "table",
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        ),
        (
            "view",
            "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema()",
        ),
        ("index", "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"),
        (
            "trigger",
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal",
        ),
    ):
        present.update({str(row[0]): kind for row in conn.execute(query)})
    found = [
        f"schema: {kind} {name} is missing"
        for name, (kind, _) in objects.items()
        if present.get(name) != kind
    ]
    found.extend(
        f"schema: trigger {name} is not one the migrations create"
        for name, kind in sorted(present.items())
        if kind == "trigger" and name not in objects
    )
    for function in ("acceptance_events_append_only", "labels_append_only"):
        body = conn.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = ?"
            " AND pronamespace = current_schema()::regnamespace",
            (function,),
        ).fetchone()
        if body is None or "RAISE EXCEPTION" not in str(body[0]).upper():
            found.append(f"schema: function {function} does not refuse changes")
    for table, columns in added.items():
        existing = {
            str(row[0])
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
        }
        if existing:
            found.extend(
                f"schema: column {table}.{c} is missing" for c in sorted(columns - existing)
            )
    return found


def _words(sql: str) -> str:
    return " ".join(sql.split())


def store_stats(store: Store) -> dict[str, object]:
    with store.read() as conn:

        def grouped(sql: str) -> dict[str, int]:
            # sorted here: the backends group in different orders
            return dict(sorted((str(k), int(v)) for k, v in conn.execute(sql)))

        return {
            "schema_version": schema_version(store),
            "batches": conn.execute("SELECT COUNT(*) FROM review_batches").fetchone()[0],
            "runs": grouped("SELECT status, COUNT(*) FROM review_runs GROUP BY status"),
            "gate_reviews": grouped(
                "SELECT decision, COUNT(*) FROM gate_reviews GROUP BY decision"
            ),
            "acceptance_events": grouped(
                "SELECT acceptance_kind, COUNT(*) FROM acceptance_events GROUP BY acceptance_kind"
            ),
            "partitions": grouped(
                "SELECT model_id, COUNT(*) FROM current_gate_acceptances GROUP BY model_id"
            ),
            "snapshots": conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0],
            "relocations": conn.execute("SELECT COUNT(*) FROM note_relocations").fetchone()[0],
            "labels": grouped("SELECT decision, COUNT(*) FROM labels GROUP BY decision"),
            "store_bytes": store_bytes(conn),
        }


def store_bytes(conn: Connection) -> int:
    """What the store takes: the SQLite file's pages, or on a server every
    table of the schema with its indexes and TOAST."""
    if on_server(conn):
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        ).fetchone()
        return int(row[0])
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])
