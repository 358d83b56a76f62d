"""Queries of `review_runs`: one note reviewed against a set of gates.

Only the lifecycle calls the writers here; these functions check nothing
beyond what their SQL guards, and return row counts where the caller must."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection, Row
from commonplace.store.packing import pack, unpack


class RunRow(NamedTuple):
    id: int
    batch_id: int
    note_path: str
    model_id: str
    status: str
    reviewed_note_sha: str
    reviewed_note_commit: str | None
    failure_reason: str | None


class RunningRow(NamedTuple):
    id: int
    started_at: str
    host: str | None
    pid: int | None
    owner_started_at: str | None
    lease_expires_at: str | None  # None: no lease (an external executor's, an old run)


class RunGateRow(NamedTuple):
    """One gate of one run, with the run's state (runs come in gate order)."""

    id: int
    batch_id: int
    note_path: str
    status: str
    model_id: str
    failure_reason: str | None
    gate_id: str


def add_run(
    conn: Connection,
    *,
    batch_id: int,
    note_path: str,
    model_id: str,
    runner: str,
    note_sha: str,
    note_commit: str | None,
    started_at: str,
    host: str | None,
    pid: int | None,
    owner_started_at: str | None = None,
    lease_expires_at: str | None = None,
) -> int:
    """Insert a `running` run; its id."""
    row = conn.execute(
        "INSERT INTO review_runs (batch_id, note_path, model_id, runner,"
        " reviewed_note_sha, reviewed_note_commit, started_at, status, host, pid,"
        " owner_started_at, lease_expires_at, uid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) RETURNING id",
        (
            batch_id,
            note_path,
            model_id,
            runner,
            note_sha,
            note_commit,
            started_at,
            host,
            pid,
            owner_started_at,
            lease_expires_at,
            new_uid(),
        ),
    ).fetchone()
    return int(row[0])


def get_run(conn: Connection, review_run_id: int) -> RunRow | None:
    row = conn.execute(
        "SELECT id, batch_id, note_path, model_id, status, reviewed_note_sha,"
        " reviewed_note_commit, failure_reason FROM review_runs WHERE id = ?",
        (review_run_id,),
    ).fetchone()
    return None if row is None else RunRow(*row)


def running_runs(conn: Connection) -> list[RunningRow]:
    rows = conn.execute(
        "SELECT id, started_at, host, pid, owner_started_at, lease_expires_at FROM review_runs"
        " WHERE status = 'running' ORDER BY id"
    ).fetchall()
    return [RunningRow(*row) for row in rows]


def running_pair_owners(
    conn: Connection, model_id: str, now: str, notes: Sequence[str] | None = None
) -> list[tuple[str, str, str | None, int | None, bool]]:
    """(note, gate, host, pid, leased) of every pair that a `running` run of
    the partition covers under a lease not expired at `now`, or for a provider
    job that can still deliver, or, without a lease, with an owning process
    (whose liveness the caller judges); of `notes` only, when given."""
    # A run waiting on a provider job that can still deliver counts as leased.
    job = (
        "EXISTS (SELECT 1 FROM review_batches b JOIN provider_jobs j"
        " ON j.id = b.provider_job_id WHERE b.id = r.batch_id AND j.ended_at IS NULL"
        " AND j.deliver_until > ?)"
    )
    sql = (
        f"SELECT r.note_path, g.gate_id, r.host, r.pid, (r.lease_expires_at IS NOT NULL OR {job})"
        " FROM review_runs r JOIN review_run_gates g ON g.review_run_id = r.id"
        " WHERE r.status = 'running' AND r.model_id = ?"
        f" AND (r.lease_expires_at > ? OR (r.lease_expires_at IS NULL AND r.pid IS NOT NULL)"
        f" OR {job})"
    )
    params: tuple[object, ...] = (now, model_id, now, now)
    if notes is not None:
        sql += " AND r.note_path IN (SELECT value FROM json_each(?))"
        params += (json.dumps(list(notes)),)
    return [(row[0], row[1], row[2], row[3], bool(row[4])) for row in conn.execute(sql, params)]


def extend_leases(
    conn: Connection, *, host: str, pid: int, owner_started_at: str, until: str, now: str
) -> int:
    """Move the lease of every `running` run of this owner to `until`; a
    lease already expired at `now` stays expired (the run may be reaped, its
    pairs claimed by another sweep). How many runs were renewed."""
    return conn.execute(
        "UPDATE review_runs SET lease_expires_at = ?"
        " WHERE status = 'running' AND host = ? AND pid = ? AND owner_started_at = ?"
        " AND lease_expires_at > ? AND lease_expires_at < ?",
        (until, host, pid, owner_started_at, now, until),
    ).rowcount


def lease_expired(conn: Connection, review_run_id: int, now: str) -> bool:
    """Whether the run has a lease and it expired by `now`."""
    row = conn.execute(
        "SELECT lease_expires_at <= ? FROM review_runs"
        " WHERE id = ? AND lease_expires_at IS NOT NULL",
        (now, review_run_id),
    ).fetchone()
    return row is not None and bool(row[0])


def run_gate_rows(
    conn: Connection, *, run_ids: Sequence[int] = (), batch_ids: Sequence[int] = ()
) -> list[RunGateRow]:
    """The runs of these ids, or of these batches, one row per gate, by run
    and gate order."""
    column, ids = ("r.id", run_ids) if run_ids else ("r.batch_id", batch_ids)
    if not ids:
        return []
    rows = conn.execute(
        "SELECT r.id, r.batch_id, r.note_path, r.status, r.model_id, r.failure_reason,"
        " g.gate_id FROM review_runs r JOIN review_run_gates g ON g.review_run_id = r.id"
        f" WHERE {column} IN ({', '.join('?' * len(ids))}) ORDER BY r.id, g.ordinal",
        list(ids),
    ).fetchall()
    return [RunGateRow(*row) for row in rows]


def stored_document(conn: Connection, review_run_id: int) -> str | None:
    row = conn.execute(
        "SELECT raw_bundle_markdown, raw_bundle_markdown_z FROM review_runs WHERE id = ?",
        (review_run_id,),
    ).fetchone()
    return None if row is None else unpack(row[0], row[1])


def attach_run_data(
    conn: Connection, review_run_id: int, *, telemetry_json: str | None, debug_log: str | None
) -> int | None:
    """Fill the run's telemetry and debug log where given; its batch id, or
    None when there is no such run."""
    row = conn.execute(
        "UPDATE review_runs SET telemetry_json = COALESCE(?, telemetry_json),"
        " debug_log = COALESCE(?, debug_log) WHERE id = ? RETURNING batch_id",
        (telemetry_json, debug_log, review_run_id),
    ).fetchone()
    return None if row is None else int(row[0])


def set_document(conn: Connection, review_run_id: int, document: str) -> None:
    conn.execute(
        "UPDATE review_runs SET raw_bundle_markdown = ?, raw_bundle_markdown_z = ? WHERE id = ?",
        (*pack(document), review_run_id),
    )


def finish_running(
    conn: Connection, review_run_id: int, status: str, at: str, reason: str | None
) -> int:
    """Move a `running` run to `status`; how many rows changed (0 or 1)."""
    return conn.execute(
        "UPDATE review_runs SET status = ?, completed_at = ?, failure_reason = ?"
        " WHERE id = ? AND status = 'running'",
        (status, at, reason, review_run_id),
    ).rowcount


def rekey_run(
    conn: Connection, review_run_id: int, *, status: str, model_id: str, actual_model_id: str
) -> int:
    """Move a run, its gate reviews and their full-review acceptances to
    `actual_model_id`, guarded on the run's status and partition as read;
    0 when the run changed meanwhile (and nothing was moved)."""
    updated = conn.execute(
        "UPDATE review_runs SET model_id = ?,"
        " rekeyed_from = NULLIF(COALESCE(rekeyed_from, model_id), ?)"
        " WHERE id = ? AND status = ? AND model_id = ?",
        (actual_model_id, actual_model_id, review_run_id, status, model_id),
    ).rowcount
    if updated != 1:
        return updated
    conn.execute(
        "UPDATE gate_reviews SET model_id = ? WHERE review_run_id = ?",
        (actual_model_id, review_run_id),
    )
    conn.execute(
        "UPDATE acceptance_events SET model_id = ? WHERE acceptance_kind = 'full-review'"
        " AND accepted_review_id IN (SELECT id FROM gate_reviews WHERE review_run_id = ?)",
        (actual_model_id, review_run_id),
    )
    return updated


def repair_rows(
    conn: Connection, *, run_ids: Sequence[int] = (), runners: Sequence[str] = ()
) -> list[Row]:
    """The runs of these ids (or else of these runners) with what a telemetry
    repair needs of them and their batches, by id."""
    where, value = (
        ("r.id", json.dumps(sorted(set(run_ids))))
        if run_ids
        else ("r.runner", json.dumps(list(runners)))
    )
    listed = "CAST(value AS INTEGER)" if run_ids else "value"
    return conn.execute(
        "SELECT r.id, r.runner, r.model_id, r.status, r.batch_id, r.telemetry_json,"
        " r.rekeyed_from,"
        " b.telemetry_json IS NOT NULL AS batch_has_telemetry, b.requested_model,"
        " b.requested_effort,"
        " (SELECT COUNT(*) FROM review_runs x WHERE x.batch_id = r.batch_id) AS runs_in_batch"
        " FROM review_runs r JOIN review_batches b ON b.id = r.batch_id"
        f" WHERE {where} IN (SELECT {listed} FROM json_each(?)) ORDER BY r.id",
        (value,),
    ).fetchall()
