"""Claiming pairs for a sweep, so that work in flight is not paid for twice.

Two sweeps started together on one partition select the same stale pairs.
Each batch's runs are created in one `BEGIN IMMEDIATE` transaction, so the
batches of racing sweeps are created one after the other; inside it, a pair
is left out when a running run of a live process already covers it in the
partition, or when it was reviewed meanwhile (its latest acceptance is for
the very note and gate versions planned). Whichever sweep comes second skips
the pair instead of reviewing it again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from commonplace.review.owners import owner_alive
from commonplace.review.store import Connection
from commonplace.review.targets import RunTarget, SkippedPair

IN_PROGRESS = "in-progress: another process is reviewing it"
REVIEWED_MEANWHILE = "fresh: reviewed meanwhile by another process"


def live_running_pairs(
    conn: Connection, model_id: str, notes: Sequence[str] | None = None
) -> set[tuple[str, str]]:
    """(note, gate) pairs that a `running` run of this partition covers and
    whose owning process is alive; of `notes` only, when given."""
    sql = (
        "SELECT r.note_path, g.gate_id, r.host, r.pid FROM review_runs r"
        " JOIN review_run_gates g ON g.review_run_id = r.id"
        " WHERE r.status = 'running' AND r.model_id = ? AND r.pid IS NOT NULL"
    )
    params: tuple[object, ...] = (model_id,)
    if notes is not None:
        sql += " AND r.note_path IN (SELECT value FROM json_each(?))"
        params += (json.dumps(list(notes)),)
    alive: dict[tuple[str, int], bool] = {}
    found: set[tuple[str, str]] = set()
    for note_path, gate_id, host, pid in conn.execute(sql, params):
        if (host, pid) not in alive:
            alive[(host, pid)] = owner_alive(host, pid)
        if alive[(host, pid)]:
            found.add((note_path, gate_id))
    return found


def unclaimed(
    conn: Connection, targets: Sequence[RunTarget], model_id: str
) -> tuple[list[RunTarget], list[SkippedPair]]:
    """The targets cut down to the pairs nobody else has, and the pairs left out."""
    note_keys = sorted({t.note.key for t in targets})
    running = live_running_pairs(conn, model_id, note_keys)
    notes = json.dumps(note_keys)
    accepted = {
        (note_path, gate_id): (note_sha, gate_sha)
        for note_path, gate_id, note_sha, gate_sha, _ in conn.execute(
            # the bare columns come from the row holding MAX(id): the latest event
            "SELECT note_path, gate_id, accepted_note_sha, accepted_gate_sha, MAX(id)"
            " FROM acceptance_events WHERE model_id = ?"
            " AND note_path IN (SELECT value FROM json_each(?)) GROUP BY note_path, gate_id",
            (model_id, notes),
        )
    }
    kept: list[RunTarget] = []
    left_out: list[SkippedPair] = []
    for target in targets:
        gates = []
        for gate in target.gates:
            key = (target.note.key, gate.id)
            if key in running:
                left_out.append(SkippedPair(*key, IN_PROGRESS))
            elif accepted.get(key) == (target.note.sha, gate.sha):
                left_out.append(SkippedPair(*key, REVIEWED_MEANWHILE))
            else:
                gates.append(gate)
        if len(gates) == len(target.gates):
            kept.append(target)
        elif gates:
            kept.append(RunTarget(target.note, target.note_commit, tuple(gates)))
    return kept, left_out
