"""Leases (issue 14): the owner and lease a run gets when a command executes
it, renewing them, and liveness by the lease on every host: the claims, the
selector's `in-progress` and the reaper. On both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers.store import DEMO, FROST, REPEATS, SEEDS, TAGS, make_plan

from commonplace.clock import utc_after, utc_before, utc_now
from commonplace.errors import UserError
from commonplace.lifecycle import (
    ABANDONED,
    Packing,
    RunNotFinalizable,
    create_batch,
    fail_run,
    lease_end,
    reap_runs,
    renew_leases,
)
from commonplace.lifecycle.claims import IN_PROGRESS, live_running_pairs
from commonplace.owners import Owner, this_host, this_owner
from commonplace.services.leases import LeaseRenewer
from commonplace.store.connection import Store

ELSEWHERE = "machine-elsewhere"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store(tmp_path / "store.sqlite")
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        opened = Store(url, schema=schema)
    with opened:
        yield opened


def owned(store: Store, kb: Path, notes: list[tuple[str, list[str]]], **kw: Any) -> list[int]:
    """Runs of one batch owned by this process (a lease of 60 s unless given)."""
    created = create_batch(
        store,
        make_plan(kb, notes),
        packing=Packing.EXPLICIT,
        runner="x",
        partition=DEMO,
        owned_by_this_process=True,
        lease_seconds=kw.pop("lease_seconds", 60.0),
        **kw,
    )
    return [run.review_run_id for run in created.runs]


def run_row(store: Store, run_id: int) -> dict[str, Any]:
    store.close()  # read what other handles wrote
    with store.read() as conn:
        row = conn.execute(
            "SELECT status, failure_reason, host, pid, owner_started_at, lease_expires_at"
            " FROM review_runs WHERE id = ?",
            (run_id,),
        ).fetchone()
    return dict(zip(row.keys(), row, strict=True))


def set_run(store: Store, run_id: int, **columns: object) -> None:
    with store.write() as conn:
        for column, value in columns.items():
            conn.execute(f"UPDATE review_runs SET {column} = ? WHERE id = ?", (value, run_id))


def live_pairs(store: Store) -> set[tuple[str, str]]:
    store.close()
    with store.read() as conn:
        return live_running_pairs(conn, DEMO.model_id)


# --- owner and lease ---------------------------------------------------------------------


def test_an_executing_command_owns_its_runs_under_a_lease(
    any_store: Store, example_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMONPLACE_HOST", "machine-7")
    before = utc_after(timedelta(seconds=30))
    [run_id] = owned(any_store, example_kb, [(FROST, [TAGS])], lease_seconds=30)
    row = run_row(any_store, run_id)

    assert (row["host"], row["pid"]) == ("machine-7", os.getpid())
    assert row["owner_started_at"] == this_owner().started_at < utc_now()
    assert before <= row["lease_expires_at"] <= utc_after(timedelta(seconds=30))


def test_runs_for_external_executors_have_no_owner_and_no_lease(
    any_store: Store, example_kb: Path
) -> None:
    created = create_batch(
        any_store,
        make_plan(example_kb, [(FROST, [TAGS])]),
        packing=Packing.NOTE,
        runner="live-agent",
        partition=DEMO,
    )
    row = run_row(any_store, created.runs[0].review_run_id)
    assert [row[k] for k in ("host", "pid", "owner_started_at", "lease_expires_at")] == [None] * 4
    assert live_pairs(any_store) == set()


def test_the_process_start_tells_an_owner_from_a_later_one_with_its_pid() -> None:
    owner = this_owner()
    assert owner == this_owner()  # stable for the process's life
    assert owner.started_at.endswith("Z") and owner.started_at <= utc_now()
    assert owner.started_at >= utc_before(timedelta(days=1))  # from /proc: this test run's start


@pytest.mark.parametrize("value", ["machine\nforged", "x" * 256, "tab\there"])
def test_a_host_override_must_be_a_printable_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("COMMONPLACE_HOST", value)
    with pytest.raises(UserError, match="COMMONPLACE_HOST must be a printable host name"):
        this_host()


def test_an_empty_host_override_is_the_machine_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMONPLACE_HOST", "  ")
    assert this_host() == os.uname().nodename
    monkeypatch.setenv("COMMONPLACE_HOST", " ci-runner-3 ")
    assert this_host() == "ci-runner-3"


# --- renewing ----------------------------------------------------------------------------


def test_renewing_extends_only_this_owners_live_leases(any_store: Store, example_kb: Path) -> None:
    mine, expired, theirs, done = owned(
        any_store,
        example_kb,
        [(FROST, [TAGS]), (SEEDS, [TAGS]), (FROST, [REPEATS]), (SEEDS, [REPEATS])],
    )
    set_run(any_store, expired, lease_expires_at=utc_before(timedelta(seconds=1)))
    set_run(any_store, theirs, host=ELSEWHERE)
    fail_run(any_store, done, "finished")
    before = {r: run_row(any_store, r)["lease_expires_at"] for r in (mine, expired, theirs, done)}

    until = lease_end(600)
    assert renew_leases(any_store, this_owner(), until) == 1
    assert run_row(any_store, mine)["lease_expires_at"] == until
    for other in (expired, theirs, done):  # never revived, never another's, never a final run
        assert run_row(any_store, other)["lease_expires_at"] == before[other]
    later_process = Owner(this_host(), os.getpid(), "2000-01-01T00:00:00.000Z")
    assert renew_leases(any_store, later_process, lease_end(900)) == 0  # same pid, not the owner
    assert renew_leases(any_store, this_owner(), lease_end(60)) == 0  # never shortened


def test_the_renewer_keeps_a_short_lease_alive_and_then_stops(
    any_store: Store, example_kb: Path
) -> None:
    [run_id] = owned(any_store, example_kb, [(FROST, [TAGS])], lease_seconds=1)
    with LeaseRenewer(any_store, 1.0) as renewer:
        time.sleep(2.5)  # 2.5 leases: alive only if renewed
        assert live_pairs(any_store) == {(FROST, TAGS)}
    assert renewer.renewed >= 3 and renewer.failures == 0, renewer.last_error
    assert not renewer.running
    time.sleep(1.1)
    assert live_pairs(any_store) == set()  # nobody renews it any more
    assert run_row(any_store, run_id)["status"] == "running"  # until reaped


def test_a_failing_renewal_is_counted_never_raised(tmp_path: Path) -> None:
    never_created = Store(tmp_path / "gone" / "store.sqlite")
    renewer = LeaseRenewer(never_created, 5.0)
    renewer.renew_once()
    assert renewer.failures == 1 and "no review store" in (renewer.last_error or "")
    pytest.importorskip("psycopg")
    unreachable = Store("postgresql://nobody@127.0.0.1:1/none")
    renewer = LeaseRenewer(unreachable, 5.0)
    with renewer:
        renewer.renew_once()
    assert renewer.failures >= 1 and "cannot connect" in (renewer.last_error or "")


# --- liveness: claims, selector, reaper -------------------------------------------------


def test_a_live_lease_is_live_on_any_host_and_an_expired_one_dead_on_this_one(
    any_store: Store, example_kb: Path
) -> None:
    elsewhere, here = owned(any_store, example_kb, [(FROST, [TAGS]), (SEEDS, [TAGS])])
    set_run(any_store, elsewhere, host=ELSEWHERE, pid=1)
    set_run(any_store, here, lease_expires_at=utc_before(timedelta(seconds=1)))  # pid alive
    assert live_pairs(any_store) == {(FROST, TAGS)}

    created = create_batch(
        any_store,
        make_plan(example_kb, [(FROST, [TAGS, REPEATS]), (SEEDS, [TAGS])]),
        packing=Packing.EXPLICIT,
        runner="x",
        partition=DEMO,
        claim=True,
    )
    assert [(r.note_path, r.gate_ids) for r in created.runs] == [
        (FROST, (REPEATS,)),
        (SEEDS, (TAGS,)),  # its lease expired: claimable again
    ]
    assert [(s.note_path, s.gate_id, s.reason) for s in created.claimed] == [
        (FROST, TAGS, IN_PROGRESS)
    ]


def test_the_reaper_fails_expired_leases_on_any_host_and_never_live_ones(
    any_store: Store, example_kb: Path
) -> None:
    live, expired_elsewhere, expired_here = owned(
        any_store, example_kb, [(FROST, [TAGS]), (SEEDS, [TAGS]), (FROST, [REPEATS])]
    )
    legacy = (
        create_batch(
            any_store,
            make_plan(example_kb, [(SEEDS, [REPEATS])]),
            packing=Packing.NOTE,
            runner="live-agent",
            partition=DEMO,
        )
        .runs[0]
        .review_run_id
    )
    ran_out = utc_before(timedelta(seconds=2))
    set_run(
        any_store, expired_elsewhere, host="evil\x1b[2Jhost", pid=4242, lease_expires_at=ran_out
    )
    set_run(any_store, expired_here, lease_expires_at=ran_out)

    young = reap_runs(any_store, older_than=timedelta(hours=2), dry_run=True)
    assert [(r.review_run_id, r.reason) for r in young] == [
        (
            expired_elsewhere,
            f"lease expired: owner evil?[2Jhost pid 4242 stopped renewing it"
            f" (it ran out at {ran_out})",
        ),
        (
            expired_here,
            f"lease expired: owner {this_host()} pid {os.getpid()} stopped renewing"
            f" it (it ran out at {ran_out})",
        ),
    ]
    assert run_row(any_store, expired_here)["status"] == "running"  # a dry run

    reaped = reap_runs(any_store, older_than=timedelta(0))
    assert [r.review_run_id for r in reaped] == [expired_elsewhere, expired_here, legacy]
    assert run_row(any_store, legacy)["failure_reason"] == ABANDONED  # no lease: by age
    assert run_row(any_store, expired_here)["failure_reason"].startswith("lease expired")
    assert run_row(any_store, live)["status"] == "running"  # a live lease, whatever its age


def test_a_live_lease_of_a_dead_owner_of_this_host_is_reaped_at_once(
    any_store: Store, example_kb: Path
) -> None:
    gone, reused, alive = owned(
        any_store, example_kb, [(FROST, [TAGS]), (SEEDS, [TAGS]), (FROST, [REPEATS])]
    )
    set_run(any_store, gone, pid=dead_pid())
    set_run(any_store, reused, owner_started_at="2000-01-01T00:00:00.000Z")  # our pid, reused
    set_run(any_store, alive, host=ELSEWHERE, pid=dead_pid())  # not ours to judge: the lease is

    assert live_pairs(any_store) == {(FROST, TAGS), (SEEDS, TAGS), (FROST, REPEATS)}
    reaped = reap_runs(any_store, older_than=timedelta(hours=2))
    assert [(r.review_run_id, r.reason) for r in reaped] == [(gone, ABANDONED), (reused, ABANDONED)]
    assert run_row(any_store, alive)["status"] == "running"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_failing_by_lease_refuses_a_run_whose_lease_is_live(
    any_store: Store, example_kb: Path
) -> None:
    [run_id] = owned(any_store, example_kb, [(FROST, [TAGS])])
    with pytest.raises(RunNotFinalizable, match="under a live lease"):
        fail_run(any_store, run_id, "lease expired", lease_expired=True)
    assert run_row(any_store, run_id)["status"] == "running"
