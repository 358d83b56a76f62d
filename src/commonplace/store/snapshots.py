"""Queries of the `snapshots` table: every note and gate text a review judged."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from commonplace.store.connection import Connection


def add_snapshots(conn: Connection, texts: Iterable[tuple[str, str]]) -> None:
    """Keep these (sha, text) pairs; a sha already kept is left as it is."""
    conn.executemany(
        "INSERT INTO snapshots (sha, text) VALUES (?, ?) ON CONFLICT DO NOTHING", texts
    )


def snapshot_texts(conn: Connection, shas: Collection[str]) -> dict[str, str]:
    """The stored texts of these snapshots (those the store has), in one query."""
    if not shas:
        return {}
    rows = conn.execute(
        "SELECT sha, text FROM snapshots WHERE sha IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(shas)),),
    ).fetchall()
    return {str(sha): str(text) for sha, text in rows}
