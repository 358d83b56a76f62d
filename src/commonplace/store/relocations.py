"""Queries that move a note's history to a new path (`note_relocations`)."""

from __future__ import annotations

from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection
from commonplace.store.packing import pack, unpack


class HistoryCounts(NamedTuple):
    review_runs: int
    gate_reviews: int
    acceptance_events: int
    running: int


def history_counts(conn: Connection, note_path: str) -> HistoryCounts:
    """How much review history a path has, and how many of its runs still run."""

    def count(table: str, extra: str = "") -> int:
        sql = f"SELECT COUNT(*) FROM {table} WHERE note_path = ?{extra}"
        return int(conn.execute(sql, (note_path,)).fetchone()[0])

    return HistoryCounts(
        count("review_runs"),
        count("gate_reviews"),
        count("acceptance_events"),
        count("review_runs", " AND status = 'running'"),
    )


def note_run_ids(conn: Connection, note_path: str) -> list[int]:
    sql = "SELECT id FROM review_runs WHERE note_path = ? ORDER BY id"
    return [int(row[0]) for row in conn.execute(sql, (note_path,))]


def move_history(conn: Connection, old_path: str, new_path: str) -> tuple[int, int, int]:
    """Rekey runs, gate reviews, acceptance events and labels; how many of
    the first three moved."""
    runs = conn.execute(
        "UPDATE review_runs SET note_path = ? WHERE note_path = ?", (new_path, old_path)
    ).rowcount
    reviews = conn.execute(
        "UPDATE gate_reviews SET note_path = ? WHERE note_path = ?", (new_path, old_path)
    ).rowcount
    events = conn.execute(
        "UPDATE acceptance_events SET note_path = ? WHERE note_path = ?", (new_path, old_path)
    ).rowcount
    # A person's labels follow the note too (not counted: the audit trail's
    # columns predate them).
    conn.execute("UPDATE labels SET note_path = ? WHERE note_path = ?", (new_path, old_path))
    return runs, reviews, events


def run_documents(conn: Connection, note_path: str) -> list[tuple[int, str, str | None]]:
    """(run id, document, its batch's boundary token) of the path's runs that have a document."""
    rows = conn.execute(
        "SELECT r.id, r.raw_bundle_markdown, r.raw_bundle_markdown_z, b.boundary_token"
        " FROM review_runs r JOIN review_batches b ON b.id = r.batch_id"
        " WHERE r.note_path = ?"
        " AND (r.raw_bundle_markdown IS NOT NULL OR r.raw_bundle_markdown_z IS NOT NULL)",
        (note_path,),
    ).fetchall()
    return [
        (int(run_id), str(unpack(plain, packed)), token) for run_id, plain, packed, token in rows
    ]


def set_documents(conn: Connection, documents: tuple[tuple[int, str], ...]) -> None:
    conn.executemany(
        "UPDATE review_runs SET raw_bundle_markdown = ?, raw_bundle_markdown_z = ? WHERE id = ?",
        [(*pack(text), run_id) for run_id, text in documents],
    )


def add_relocation(
    conn: Connection, old_path: str, new_path: str, at: str, counts: tuple[int, int, int]
) -> None:
    conn.execute(
        "INSERT INTO note_relocations (old_path, new_path, relocated_at,"
        " review_runs, gate_reviews, acceptance_events, uid) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (old_path, new_path, at, *counts, new_uid()),
    )
