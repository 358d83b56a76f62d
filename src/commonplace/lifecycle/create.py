"""Creating a batch: its runs, their gate sets and the snapshots of every
text involved, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable

from commonplace.clock import utc_now
from commonplace.errors import UserError
from commonplace.lifecycle.leases import lease_end
from commonplace.lifecycle.partitions import Partition
from commonplace.lifecycle.types import AllClaimed, CreatedBatch, CreatedRun, Packing
from commonplace.owners import this_host, this_owner
from commonplace.protocol.grammar import new_token
from commonplace.settings import DEFAULT_LEASE_SECONDS
from commonplace.store import batches, reviews, runs, snapshots
from commonplace.store.connection import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.lifecycle.targets import Plan, SkippedPair


def create_batch(
    store: Store,
    plan: Plan,
    *,
    packing: Packing,
    runner: str,
    partition: Partition,
    owned_by_this_process: bool = False,
    claim: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> CreatedBatch:
    """Insert the batch, one run per target and each run's gate set, and the
    snapshots of every text involved, in one transaction. With `claim` (a
    sweep), pairs a live process is reviewing in the partition, or that were
    reviewed meanwhile, are left out in that same transaction; `AllClaimed`
    when none is left. Runs `owned_by_this_process` record it as their owner,
    under a lease of `lease_seconds` that the owner must renew (`leases`);
    runs for external executors have neither."""
    if not runner.strip():
        raise UserError("--runner must name a runner or an executor label")
    now = utc_now()
    owner = this_owner() if owned_by_this_process else None
    token = new_token()  # drawn after the texts were read: no note or gate can hold it
    created: list[CreatedRun] = []
    claimed: tuple[SkippedPair, ...] = ()
    if claim:
        from commonplace.lifecycle.claims import unclaimed
        from commonplace.lifecycle.targets import Plan

        # A batch whose every pair is taken already is known without the
        # write lock: racing machines walk the same batches, and most of
        # their attempts would otherwise queue for the lock only to learn it.
        with store.read() as conn:
            free, taken = unclaimed(conn, plan.targets, partition.model_id)
        if not free:
            raise AllClaimed(tuple(taken))
    with store.write() as conn:
        if claim:
            targets, left_out = unclaimed(conn, plan.targets, partition.model_id)
            if not targets:
                raise AllClaimed(tuple(left_out))
            plan, claimed = Plan(tuple(targets), plan.skipped), tuple(left_out)
        # taken once the write lock is held: waiting for it does not eat the lease
        lease = lease_end(lease_seconds) if owner is not None else None
        texts = {t.note.sha: t.note.text for t in plan.targets}
        texts.update({g.sha: g.file.text for t in plan.targets for g in t.gates})
        snapshots.add_snapshots(conn, texts.items())
        batch_id = batches.add_batch(
            conn,
            packing=packing.value,
            executor=runner,
            requested_model=partition.requested_model,
            requested_effort=partition.effort,
            requested_model_id=partition.model_id,
            created_at=now,
            boundary_token=token,
        )
        for target in plan.targets:
            run_id = runs.add_run(
                conn,
                batch_id=batch_id,
                note_path=target.note.key,
                model_id=partition.model_id,
                runner=runner,
                note_sha=target.note.sha,
                note_commit=target.note_commit,
                started_at=now,
                host=owner.host if owner else None,
                pid=owner.pid if owner else None,
                owner_started_at=owner.started_at if owner else None,
                lease_expires_at=lease,
            )
            reviews.add_run_gates(conn, run_id, [(g.id, g.sha) for g in target.gates])
            created.append(
                CreatedRun(
                    run_id, target.note.key, partition.model_id, tuple(g.id for g in target.gates)
                )
            )
    return CreatedBatch(
        batch_id, runner, partition.model_id, tuple(created), plan.skipped, token, claimed
    )


def boundary_tokens(store: Store, batch_ids: Iterable[int]) -> dict[int, str | None]:
    """Each batch's boundary token; None for a batch prepared before tokens
    (pairs-v1), whose output is read with the v1 grammar."""
    ids = list(dict.fromkeys(batch_ids))
    if not ids:
        return {}
    with store.read() as conn:
        return batches.boundary_tokens(conn, ids)


def host_name() -> str:
    return this_host()
