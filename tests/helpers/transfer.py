"""Export and import through the library, for the transfer tests: a store
named by a path or a PostgreSQL URL, its dump as lines, an import's summary."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from commonplace.services.transfer import ImportSummary, export_lines, import_dump
from commonplace.store.check import check_store
from commonplace.store.connection import Store


def open_store(db: str | Path) -> Store:
    return Store(db if isinstance(db, str) and "://" in db else Path(db))


def export_text(db: str | Path) -> str:
    with open_store(db) as store:
        return "".join(export_lines(store))


def import_text(db: str | Path, text: str | bytes, name: str = "dump.jsonl") -> ImportSummary:
    data = text.encode("utf-8") if isinstance(text, str) else text
    with open_store(db) as store:
        return import_dump(store, io.BytesIO(data), name)


def end_counts(text: str) -> dict[str, int]:
    """The row counts of a dump's end line."""
    end = json.loads(text.splitlines()[-1])
    return dict(end["end"])


def rows_of(text: str, table: str) -> list[dict[str, Any]]:
    found = (json.loads(line) for line in text.splitlines()[1:-1])
    return [d["row"] for d in found if d["table"] == table]


def violations(db: str | Path) -> tuple[str, ...]:
    with open_store(db) as store:
        return check_store(store).violations


def added(summary: ImportSummary) -> dict[str, int]:
    return {name: t.added for name, t in summary.tables.items() if t.added}
