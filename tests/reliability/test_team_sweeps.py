"""Machines of a team sweeping one store at once (issue 14: leases).

Four processes act as four machines: each its own clone of one KB
repository, its own host name (COMMONPLACE_HOST) and its own
`commonplace-review-sweep --jobs 2`, all on one store, with a reviewer that
takes 0.3 s per batch. Every stale pair is reviewed exactly once. A run
whose owner was SIGKILLed stays `in-progress` until its lease expires; then
its pairs are stale again and the reaper of another machine fails it.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from helpers.fake_runners import wait_until
from helpers.faults import assert_clean_exit
from helpers.team import (
    GATES,
    MODEL,
    asked,
    set_up_team,
    some_notes,
    store_rows,
)

from commonplace.clock import utc_now
from commonplace.store.connection import Store

NOTES = 40


@pytest.fixture(params=["postgresql", "sqlite"])
def team_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the team's store is, set up (migrated) as a team would before
    sharing it: read-only commands refuse a named store that does not exist.
    A schema of the test server, or one file."""
    if request.param == "sqlite":
        target = str(tmp_path / "team-store.sqlite")
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        target = f"{url}?schema={schema}"
    with Store(target) as store:
        store.migrate()
    return target


def sweep_args(notes: list[str]) -> list[str]:
    return [*GATES, "--note", *notes, "--runner", "slow", "--model", MODEL]


def test_four_machines_sweeping_at_once_review_each_pair_once(
    corpus_kb: Path, tmp_path: Path, team_store: str
) -> None:
    log = tmp_path / "asked.jsonl"
    team = set_up_team(corpus_kb, 4, team_store, sleep=0.3, lease_seconds=3, log=log)
    notes = some_notes(corpus_kb, NOTES)
    pairs = {(p["note_path"], p["gate_id"]) for p in team[0].selector(notes)}
    assert len(pairs) == NOTES * len(GATES)

    started = time.monotonic()
    procs = [m.start("review-sweep", *sweep_args(notes), "--jobs", "2", "--json") for m in team]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    elapsed = time.monotonic() - started

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert_clean_exit(proc.returncode, err, 0)
        assert "error:" not in err and "warning" not in err.lower(), err
    reports = [json.loads(out) for out, _ in outputs]
    assert all(r["failed"] == 0 for r in reports), reports
    assert asked(log) == dict.fromkeys(pairs, 1)  # the reviewer saw each pair once
    reviews = store_rows(
        team_store,
        "SELECT note_path, gate_id, decision FROM gate_reviews WHERE model_id = ?",
        (MODEL,),
    )
    accepted = store_rows(
        team_store,
        "SELECT note_path, gate_id, COUNT(*) FROM acceptance_events"
        " WHERE model_id = ? GROUP BY note_path, gate_id",
        (MODEL,),
    )
    runs = store_rows(team_store, "SELECT status, host FROM review_runs")
    assert sorted((n, g) for n, g, _ in reviews) == sorted(pairs)  # one review per pair
    assert {d for _, _, d in reviews} == {"pass", "warn", "fail"}  # real decisions only
    assert {(n, g): c for n, g, c in accepted} == dict.fromkeys(pairs, 1)
    assert {status for status, _ in runs} == {"completed"}
    hosts = {host for _, host in runs}
    assert hosts <= {m.host for m in team} and len(hosts) >= 2, hosts
    assert sum(r["completed"] for r in reports) == len(runs)
    assert team[3].selector(notes) == []
    check = team[2].run("review-store", "check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["violations"] == []
    left = sum(len(r["skipped"]) for r in reports)
    print(
        f"\n4 machines x 2 jobs on {team_store.split('?')[0].split('://')[0]}:"
        f" {len(pairs)} pairs reviewed once each in {elapsed:.1f} s;"
        f" {left} pair(s) left to another machine; runs by {sorted(hosts)}"
    )


def _owned_running(store: str) -> list[tuple[int, str, int, str]]:
    return [
        (int(i), str(h), int(p), str(lease))
        for i, h, p, lease in store_rows(
            store,
            "SELECT id, host, pid, lease_expires_at FROM review_runs WHERE status = 'running'",
        )
    ]


def test_a_killed_owner_is_in_progress_until_its_lease_expires_then_reaped_elsewhere(
    corpus_kb: Path, tmp_path: Path, team_store: str
) -> None:
    lease = 6.0
    a, b = set_up_team(corpus_kb, 2, team_store, sleep=60, lease_seconds=lease, log=tmp_path / "l")
    notes = some_notes(corpus_kb, 2)
    owner = a.start("review-sweep", *sweep_args(notes), "--jobs", "2")
    try:
        wait_until(lambda: len(_owned_running(team_store)) == 2, "two running runs", limit=60)
        renewed_before = max(lease for *_, lease in _owned_running(team_store))
        time.sleep(lease / 3 + 1)  # long enough for a renewal
        running = _owned_running(team_store)
        assert max(lease for *_, lease in running) > renewed_before  # the owner renews
        owner.send_signal(signal.SIGKILL)
        owner.communicate(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.communicate()
    assert {(host, pid) for _, host, pid, _ in running} == {(a.host, owner.pid)}
    expired_at = max(lease for *_, lease in _owned_running(team_store))
    listed = b.selector(notes)
    busy = {(p["note_path"], p["gate_id"]) for p in listed}
    if utc_now() < expired_at:  # it ran within the lease, as it does unless the box stalls
        assert {p["reason"] for p in listed} == {"in-progress"}, listed
        early = b.run("reap-stale-runs", "--older-than", "0s", "--json")
        assert early.returncode == 0, early.stderr
        if utc_now() < expired_at:
            assert json.loads(early.stdout)["reaped"] == []  # a live lease is not reaped

    wait_until(lambda: utc_now() > expired_at, "the lease to expire", limit=lease * 3)
    again = b.selector(notes)
    assert {(p["note_path"], p["gate_id"]) for p in again} == busy
    assert {p["reason"] for p in again} == {"missing-review"}

    dry = b.run("reap-stale-runs", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert sorted(json.loads(dry.stdout)["reaped"]) == sorted(r[0] for r in running)
    reaped = b.run("reap-stale-runs", "--json")  # default --older-than 2h: the lease decides
    assert_clean_exit(reaped.returncode, reaped.stderr, 0)
    report = json.loads(reaped.stdout)
    assert sorted(report["reaped"]) == sorted(r[0] for r in running)
    for entry in report["runs"]:
        assert entry["reason"].startswith(
            f"lease expired: owner {a.host} pid {owner.pid} stopped renewing it"
        ), entry
    assert _owned_running(team_store) == []
    reasons = store_rows(team_store, "SELECT DISTINCT failure_reason FROM review_runs")
    assert len(reasons) == 1 and str(reasons[0][0]).startswith("lease expired")
    check = b.run("review-store", "check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
