"""Leases: how a running run shows, on any machine, that its owner is at work.

A command that executes runs records itself as their owner (host, pid,
process start) with a lease that ends `lease_seconds` after the runs are
created; while it works it renews the lease of all its running runs (the
renewer of `services/leases.py`, every third of the lease). A run under a
lease that has not expired is live wherever its owner runs: the selector
says `in-progress` and sweeps leave its pairs alone. Once the lease expired
the owner is taken for dead, whichever host it ran on, and the reaper fails
the run. An expired lease is never renewed, so a reaper that saw it expired
cannot lose a race with a late renewal.

Times are each machine's own clock: machines that share a store need clocks
that agree to well within a lease (NTP does).
"""

from __future__ import annotations

from datetime import timedelta

from commonplace.clock import utc_after, utc_now
from commonplace.owners import Owner
from commonplace.store import runs
from commonplace.store.connection import Store


def lease_end(seconds: float) -> str:
    """When a lease taken or renewed now for `seconds` ends."""
    return utc_after(timedelta(seconds=seconds))


def renew_leases(store: Store, owner: Owner, until: str) -> int:
    """Extend the lease of every running run of `owner` to `until` (never an
    expired one, never shorter); how many runs were renewed."""
    with store.write(create=False) as conn:
        return runs.extend_leases(
            conn,
            host=owner.host,
            pid=owner.pid,
            owner_started_at=owner.started_at,
            until=until,
            now=utc_now(),
        )


def expired_reason(host: str | None, pid: int | None, expired_at: str) -> str:
    """Why a run whose lease expired is failed."""
    shown = "".join(c if c.isprintable() else "?" for c in (host or "unknown"))[:255]
    return (
        f"lease expired: owner {shown} pid {pid if pid is not None else '?'}"
        f" stopped renewing it (it ran out at {expired_at})"
    )
