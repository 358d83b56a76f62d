"""Reading every row of the store in dump order, and copying dumped rows in
(`commonplace-review-store export` / `import`, services/transfer.py).

Rows are read and written in their portable form: each identified by its
`uid` (a snapshot by its sha, a run's gate by its run's uid and the gate id),
references to other rows written as those rows' uids, never as local ids.

Import is a bulk copy of history, not a transition: it inserts rows as they
were on the store they come from (a run `completed`, its acceptances), so it
bypasses the lifecycle on purpose and lives here, beside the other SQL. It
never updates or deletes a row; acceptance events are only appended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from commonplace.store.connection import Connection, Store, on_server
from commonplace.store.packing import PACKED, pack, unpack

TABLES = (
    "snapshots",
    "provider_jobs",
    "review_batches",
    "review_runs",
    "review_run_gates",
    "gate_reviews",
    "acceptance_events",
    "model_alias_resolutions",
    "note_relocations",
    "labels",
)

# The columns of each table in the dump, in order; `*_uid` stand for the
# local references (`batch_id`, `review_run_id`, `accepted_review_id`,
# a label's `acceptance_id`).
# fmt: off
COLUMNS: dict[str, tuple[str, ...]] = {
    "snapshots": ("sha", "text"),
    "provider_jobs": (
        "uid", "provider", "job_id", "status", "submitted_at", "deliver_until", "ended_at",
        "detail",
    ),
    "review_batches": (
        "uid", "packing", "executor", "requested_model", "requested_effort",
        "requested_model_id", "prompt_sha256", "prompt_chars", "prompt_format_version",
        "created_at", "finished_at", "telemetry_json", "debug_log", "raw_output",
        "boundary_token", "provider_job_uid", "provider_custom_id",
    ),
    "review_runs": (
        "uid", "batch_uid", "note_path", "model_id", "runner", "reviewed_note_sha",
        "reviewed_note_commit", "started_at", "completed_at", "status", "failure_reason",
        "telemetry_json", "raw_bundle_markdown", "debug_log", "rekeyed_from", "host", "pid",
        "owner_started_at", "lease_expires_at",
    ),
    "review_run_gates": ("run_uid", "gate_id", "gate_sha", "ordinal"),
    "gate_reviews": (
        "uid", "run_uid", "note_path", "gate_id", "model_id", "decision",
        "rationale_markdown", "findings_json", "gate_sha", "reviewed_note_sha",
        "reviewed_note_commit", "reviewed_at", "review_kind",
    ),
    "acceptance_events": (
        "uid", "note_path", "gate_id", "model_id", "review_uid", "accepted_note_sha",
        "accepted_note_commit", "accepted_gate_sha", "accepted_at", "acceptance_kind",
    ),
    "model_alias_resolutions": (
        "uid", "requested_model", "requested_effort", "resolved_model", "resolved_model_id",
        "observed_at", "batch_uid",
    ),
    "note_relocations": (
        "uid", "old_path", "new_path", "relocated_at", "review_runs", "gate_reviews",
        "acceptance_events",
    ),
    "labels": (
        "uid", "note_path", "gate_id", "note_sha", "gate_sha", "decision", "why", "model_id",
        "labeller", "created_at", "acceptance_uid",
    ),
}
# fmt: on

# A reference column of the dump: (local column, table it points into).
REFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    "review_batches": {"provider_job_uid": ("provider_job_id", "provider_jobs")},
    "review_runs": {"batch_uid": ("batch_id", "review_batches")},
    "review_run_gates": {"run_uid": ("review_run_id", "review_runs")},
    "gate_reviews": {"run_uid": ("review_run_id", "review_runs")},
    "acceptance_events": {"review_uid": ("accepted_review_id", "gate_reviews")},
    "model_alias_resolutions": {"batch_uid": ("batch_id", "review_batches")},
    "labels": {"acceptance_uid": ("acceptance_id", "acceptance_events")},
}

# When each kind of row was made: with its local id, what a row written
# without a uid is known by (see `identity`). Neither ever changes.
_MADE_AT = {
    "provider_jobs": "submitted_at",
    "review_batches": "created_at",
    "review_runs": "started_at",
    "gate_reviews": "reviewed_at",
    "acceptance_events": "accepted_at",
    "model_alias_resolutions": "observed_at",
    "note_relocations": "relocated_at",
    "labels": "created_at",
}

PAGE = 200  # rows per query: memory stays flat however big the store


def identity(table: str, uid: str | None, local_id: int, made_at: str) -> str:
    """A row's uid; for a row written without one (behind the library's
    back), one derived from the table, its local id and when it was made,
    so every export of the store names it the same, and two stores' rows
    that share a local id still differ by their times."""
    if uid is not None:
        return uid
    seed = f"commonplace-review-row\0{table}\0{local_id}\0{made_at}".encode()
    return hashlib.sha256(seed).hexdigest()[:32]


def _select(table: str) -> str:
    """The dump form of `table`'s rows, plus `_id`, `_uid`, `_at` of the row
    and `<ref>_id`, `<ref>_at` of each row it points at."""
    if table == "snapshots":
        return "SELECT t.sha AS _id, t.sha, t.text FROM snapshots t"
    refs = REFERENCES.get(table, {})
    columns, joins = [], []
    for column in COLUMNS[table]:
        if column == "uid":
            columns.append(f"t.uid AS _uid, t.id AS _id, t.{_MADE_AT[table]} AS _at")
        elif column in refs:
            local, parent = refs[column]
            alias = f"p_{local}"
            columns.append(
                f"{alias}.uid AS {column}, {alias}.id AS {column}_id,"
                f" {alias}.{_MADE_AT[parent]} AS {column}_at"
            )
            joins.append(f" LEFT JOIN {parent} {alias} ON {alias}.id = t.{local}")
        elif column in PACKED.get(table, ()):
            columns.append(f"t.{column}, t.{column}_z")
        else:
            columns.append(f"t.{column}")
    if table == "review_run_gates":
        columns.append("t.review_run_id AS _id")
    return f"SELECT {', '.join(columns)} FROM {table} t{''.join(joins)}"


def _portable(table: str, row: Any) -> dict[str, Any]:
    """A fetched row in dump form: uids for ids, the row's own uid filled."""
    found: dict[str, Any] = {}
    refs = REFERENCES.get(table, {})
    for column in COLUMNS[table]:
        if column == "uid":
            found[column] = identity(table, row["_uid"], row["_id"], row["_at"])
        elif column in refs and row[f"{column}_id"] is not None:
            parent = refs[column][1]
            found[column] = identity(parent, row[column], row[f"{column}_id"], row[f"{column}_at"])
        elif column in PACKED.get(table, ()):
            found[column] = unpack(row[column], row[f"{column}_z"])  # dumps carry plain text
        else:
            found[column] = row[column]
    return found


def _keyset(table: str) -> tuple[str, str]:
    """(WHERE clause after the last row seen, ORDER BY) of a page."""
    if table == "snapshots":
        return "t.sha > ?", "t.sha"
    if table == "review_run_gates":
        return "(t.review_run_id, t.ordinal) > (?, ?)", "t.review_run_id, t.ordinal"
    return "t.id > ?", "t.id"


@contextmanager
def consistent_read(store: Store) -> Iterator[Connection]:
    """One read transaction, so the tables read one after another are of one
    moment (a run written meanwhile cannot point at a batch not read)."""
    with store.read() as conn:
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if on_server(conn) else "BEGIN"
        conn.execute(begin)
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def rows_of(conn: Connection, table: str, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every row of `table` in dump form, in the order it was made, a page at a time."""
    after, order = _keyset(table)
    sql = f"{_select(table)} WHERE {after} ORDER BY {order} LIMIT ?"
    last: tuple[Any, ...] = {"snapshots": ("",), "review_run_gates": (-1, -1)}.get(table, (-1,))
    while True:
        fetched = conn.execute(sql, (*last, page)).fetchall()
        for row in fetched:
            yield _portable(table, row)
        if len(fetched) < page:
            return
        final = fetched[-1]
        last = (final["_id"], final["ordinal"]) if table == "review_run_gates" else (final["_id"],)


def find(
    conn: Connection, table: str, key: str, gate_id: str | None = None
) -> tuple[Any, dict[str, Any]] | None:
    """(local id, dump form) of the row known by `key` (a uid; a sha for a
    snapshot; for a run's gate the run's local id, with `gate_id`), or None."""
    params: tuple[Any, ...]
    if table == "snapshots":
        where, params = "t.sha = ?", (key,)
    elif table == "review_run_gates":
        where, params = "t.review_run_id = ? AND t.gate_id = ?", (int(key), gate_id)
    else:
        where, params = "t.uid = ?", (key,)
    row = conn.execute(f"{_select(table)} WHERE {where}", params).fetchone()
    return None if row is None else (row["_id"], _portable(table, row))


def insert(conn: Connection, table: str, row: Mapping[str, Any], parents: Mapping[str, int]) -> int:
    """Insert a dumped row, its references given as local ids in `parents`
    (keyed by the dump's reference column); its new local id (0 for a run's
    gate, which has none)."""
    refs = REFERENCES.get(table, {})
    names = [refs[c][0] if c in refs else c for c in COLUMNS[table]]
    values = [parents.get(c) if c in refs else row[c] for c in COLUMNS[table]]
    for column in PACKED.get(table, ()):  # packed here as the writers pack them
        names.append(f"{column}_z")
        index = names.index(column)
        values[index], packed = pack(None if values[index] is None else str(values[index]))
        values.append(packed)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    if table in ("snapshots", "review_run_gates"):
        conn.execute(sql, values)
        return 0
    return int(conn.execute(sql + " RETURNING id", values).fetchone()[0])
