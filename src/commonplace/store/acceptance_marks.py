"""A mark per (partition, note) that changes whenever that note's acceptance
log changes: an acceptance appended, or moved in or out by a rekey or a
relocation.

Triggers keep the marks, so every writer (the lifecycle, acks, imports, a
person with a SQL shell) keeps them without knowing they exist. A reader that
has derived something from a note's acceptances may keep it, with the mark it
read first, for as long as the mark stays the same (services/accepted_index.py
does, so that the selector need not read 400,000 acceptance rows to learn that
nothing moved). A mark is a fresh random number, not a counter: a store
written again from scratch never repeats the marks of the one it replaced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from commonplace.store.migration_format import Dialects, Migration

if TYPE_CHECKING:  # the connection module applies the migrations, this one among them
    from commonplace.store.connection import Connection

# 2**53 - 1: the largest integer PostgreSQL's double `random()` spreads evenly.
_PG_MARK = "(random() * 9007199254740991)::bigint"


def _pg_touch(row: str) -> str:
    return (
        "INSERT INTO acceptance_marks (model_id, note_path, mark)"
        f" VALUES ({row}.model_id, {row}.note_path, {_PG_MARK})"
        " ON CONFLICT (model_id, note_path) DO UPDATE SET mark = EXCLUDED.mark;"
    )


def _sqlite_touch(row: str) -> str:
    return (
        "INSERT INTO acceptance_marks (model_id, note_path, mark)"
        f" VALUES ({row}.model_id, {row}.note_path, random())"
        " ON CONFLICT (model_id, note_path) DO UPDATE SET mark = excluded.mark;"
    )


M009_ACCEPTANCE_MARKS = Migration(
    "m009_acceptance_marks",
    (
        """CREATE TABLE acceptance_marks (
            model_id TEXT NOT NULL,
            note_path TEXT NOT NULL,
            mark INTEGER NOT NULL,
            PRIMARY KEY (model_id, note_path)
        )""",
        Dialects(
            "INSERT INTO acceptance_marks (model_id, note_path, mark)"
            " SELECT model_id, note_path, random() FROM"
            " (SELECT DISTINCT model_id, note_path FROM acceptance_events)",
            "INSERT INTO acceptance_marks (model_id, note_path, mark)"
            f" SELECT model_id, note_path, {_PG_MARK} FROM"
            " (SELECT DISTINCT model_id, note_path FROM acceptance_events) AS keys",
        ),
        Dialects(
            None,
            "CREATE FUNCTION acceptance_marks_touch() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF TG_OP = 'UPDATE' THEN {_pg_touch('OLD')} END IF;"
            f" {_pg_touch('NEW')} RETURN NULL; END $$",
        ),
        Dialects(
            f"""CREATE TRIGGER acceptance_marks_on_insert
            AFTER INSERT ON acceptance_events
            BEGIN {_sqlite_touch("NEW")} END""",
            """CREATE TRIGGER acceptance_marks_on_insert
            AFTER INSERT ON acceptance_events
            FOR EACH ROW EXECUTE FUNCTION acceptance_marks_touch()""",
        ),
        Dialects(
            f"""CREATE TRIGGER acceptance_marks_on_rekey
            AFTER UPDATE OF model_id, note_path, gate_id ON acceptance_events
            BEGIN {_sqlite_touch("OLD")} {_sqlite_touch("NEW")} END""",
            """CREATE TRIGGER acceptance_marks_on_rekey
            AFTER UPDATE OF model_id, note_path, gate_id ON acceptance_events
            FOR EACH ROW EXECUTE FUNCTION acceptance_marks_touch()""",
        ),
    ),
)


def marks(conn: Connection, model_id: str) -> dict[str, int]:
    """Note path -> mark, for every note with an acceptance log in the partition."""
    rows = conn.execute(
        "SELECT note_path, mark FROM acceptance_marks WHERE model_id = ?", (model_id,)
    ).fetchall()
    return dict(rows)


# For `check`: a note with acceptances and no mark would be trusted forever.
UNMARKED = (
    "SELECT DISTINCT e.note_path, e.model_id FROM acceptance_events e"
    " LEFT JOIN acceptance_marks m ON m.model_id = e.model_id AND m.note_path = e.note_path"
    " WHERE m.mark IS NULL",
    "acceptances of {} in partition {} have no mark",
)
