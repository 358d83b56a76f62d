"""Raw looks at a review store file, behind the library's back, the way people
inspect it: every table, rows of a query, one value, a dump of everything."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

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


def store_of(kb: Path) -> Path:
    return kb / STORE


def execute_sql(db: Path, *statements: str) -> None:
    """Run statements on a store file directly, behind the library's back."""
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the store file directly, the way people inspect it."""
    assert db.exists(), f"no store at {db}"
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def one(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    found = rows(db, sql, params)
    assert len(found) == 1, found
    return found[0][0] if len(found[0]) == 1 else found[0]


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]] | None:
    """Every row of every table (None when the file does not exist): for
    asserting that a refused command changed nothing at all."""
    if not db.exists():
        return None
    conn = sqlite3.connect(db)
    try:
        out = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")), key=repr) for t in TABLES}
        out["user_version"] = conn.execute("PRAGMA user_version").fetchall()
        return out
    finally:
        conn.close()


def counts(db: Path) -> dict[str, int]:
    return {t: one(db, f"SELECT COUNT(*) FROM {t}") for t in TABLES}


def run_states(db: Path) -> dict[int, tuple[str, str | None]]:
    """Every run: id -> (status, failure_reason)."""
    found = rows(db, "SELECT id, status, failure_reason FROM review_runs ORDER BY id")
    return {run_id: (status, reason) for run_id, status, reason in found}


def statuses(db: Path) -> dict[int, str]:
    """Every run: id -> status."""
    return {run_id: status for run_id, (status, _) in run_states(db).items()}


def filed_in(db: Path, run_id: int) -> tuple[str, str | None, list[str], list[str]]:
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
