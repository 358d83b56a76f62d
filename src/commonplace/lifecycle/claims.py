"""Claiming pairs for a sweep, so that work in flight is not paid for twice.

Two sweeps started together on one partition select the same stale pairs.
Each batch's runs are created in one write transaction (`BEGIN IMMEDIATE`,
or the schema's lock on PostgreSQL), so the batches of racing sweeps, on one
machine or many, are created one after the other; inside it, a pair is left
out when a live running run already covers it in the partition (under a
lease not expired, or, for a run without a lease, of a live process), or
when it was reviewed meanwhile (its latest acceptance is for
the very note and gate versions planned). Whichever sweep comes second skips
the pair instead of reviewing it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from commonplace.clock import utc_now
from commonplace.owners import owner_alive
from commonplace.store.acceptances import latest_accepted
from commonplace.store.connection import Connection
from commonplace.store.runs import running_pair_owners

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.lifecycle.targets import RunTarget, SkippedPair

IN_PROGRESS = "in-progress: another process is reviewing it"
REVIEWED_MEANWHILE = "fresh: reviewed meanwhile by another process"


def live_running_pairs(
    conn: Connection, model_id: str, notes: Sequence[str] | None = None
) -> set[tuple[str, str]]:
    """(note, gate) pairs that a live `running` run of this partition covers:
    under a lease not yet expired, or (a run without a lease) of an owning
    process that is alive; of `notes` only, when given."""
    alive: dict[tuple[str | None, int | None], bool] = {}
    found: set[tuple[str, str]] = set()
    for note_path, gate_id, host, pid, leased in running_pair_owners(
        conn, model_id, utc_now(), notes
    ):
        if not leased and (host, pid) not in alive:
            alive[(host, pid)] = owner_alive(host, pid)
        if leased or alive[(host, pid)]:
            found.add((note_path, gate_id))
    return found


def unclaimed(
    conn: Connection, targets: Sequence[RunTarget], model_id: str
) -> tuple[list[RunTarget], list[SkippedPair]]:
    """The targets cut down to the pairs nobody else has, and the pairs left out."""
    # Here, not at the top: the selector asks `live_running_pairs` only.
    from commonplace.lifecycle.targets import RunTarget, SkippedPair

    note_keys = sorted({t.note.key for t in targets})
    running = live_running_pairs(conn, model_id, note_keys)
    accepted = latest_accepted(conn, model_id, note_keys)
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
