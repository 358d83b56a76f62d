"""Fault: a signal sent to `review-sweep --jobs 2` while its reviewers run.

The runner hangs (and has a child of its own). Once two runs exist and both
reviewers have started, the command gets the signal. On SIGINT or SIGTERM it
must exit 130, fail every run it created with `interrupted`, launch nothing
more, leave a store that passes `check`, and leave no reviewer process alive.
SIGKILL cannot be handled: the reviewers still die with the command (the
command's watchdog notices it is gone), and the runs
left `running` are failed as `abandoned` by `reap-stale-runs`, which also
stops the reviewers of a dead command if its watchdog was killed too.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.commands import run_script
from helpers.db import rows, run_states, store_of
from helpers.fake_runners import configure, reviewer_command, running_runs, wait_until
from helpers.faults import (
    MARKER,
    MODEL,
    add_faulty_runner,
    assert_clean_exit,
    assert_store_checks,
    full_reviews_per_pair,
    leftovers,
    marker_env,
    reviewers_started,
    start,
)
from helpers.groups import REAPS_ORPHANS

pytestmark = REAPS_ORPHANS


def sweep_with_hung_reviewers(kb: Path, tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    """`review-sweep --jobs 2` through a hanging runner, once both reviewers run."""
    state = tmp_path / "state"
    runner = add_faulty_runner(kb, "hang", state)
    env = marker_env(tmp_path)
    args = ("--runner", runner, "--model", MODEL, "--jobs", "2")
    proc = start("review-sweep", *args, cwd=kb, env=env)
    try:
        wait_until(lambda: running_runs(store_of(kb)) == 2, "two running review runs")
        wait_until(lambda: reviewers_started(state) == 2, "both reviewers to start")
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    assert len(leftovers(env, within=0)) >= 5  # the command, two reviewers, their children
    return proc, env


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_sweep_and_its_reviewers(
    example_kb: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    kb, db, state = example_kb, store_of(example_kb), tmp_path / "state"
    proc, env = sweep_with_hung_reviewers(kb, tmp_path)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert_clean_exit(proc.returncode, err, 130)
    assert "error: interrupted" in err
    states = run_states(db)
    assert len(states) == 2 == reviewers_started(state)  # nothing launched after the signal
    assert all(status == "failed" for status, _ in states.values()), states
    assert all(
        reason.startswith("interrupted (missing pair reviews: ") for _, reason in states.values()
    )
    assert rows(db, "SELECT COUNT(*) FROM review_batches") == [(2,)]
    assert leftovers(env) == []
    assert_store_checks(kb)
    print(
        f"\n{signum.name} to review-sweep --jobs 2: exit 130, 2 runs interrupted, no process left"
    )


def test_a_sigkilled_sweep_takes_its_reviewers_with_it(example_kb: Path, tmp_path: Path):
    kb, db = example_kb, store_of(example_kb)
    proc, env = sweep_with_hung_reviewers(kb, tmp_path)
    proc.kill()
    proc.communicate()

    assert leftovers(env, within=5.0) == []  # each guard's watchdog stopped its group
    assert {status for status, _ in run_states(db).values()} == {"running"}
    reaped = run_script("commonplace-reap-stale-runs", ["--json"], cwd=kb)
    assert_clean_exit(reaped.returncode, reaped.stderr, 0)
    assert json.loads(reaped.stdout)["reaped"] == sorted(run_states(db))
    assert set(run_states(db).values()) == {("failed", "abandoned")}
    assert_store_checks(kb)
    print("\nSIGKILL to review-sweep --jobs 2: no reviewer process alive 5 s later; runs reaped")


def test_reap_stops_the_reviewers_of_a_dead_sweep_whose_guards_died_too(
    example_kb: Path, tmp_path: Path
):
    kb, db = example_kb, store_of(example_kb)
    proc, env = sweep_with_hung_reviewers(kb, tmp_path)
    watchdogs = [pid for pid, _, command in leftovers(env, within=0) if "guard.py" in command]
    assert len(watchdogs) == 1, leftovers(env, within=0)  # one for the whole command
    for pid in watchdogs:  # started by this test's sweep: ended by their id
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.communicate()
    orphans = leftovers(env, within=0)
    try:
        assert len(orphans) >= 4  # two reviewers and their children live on
        # each reviewer leads its group (started in a session of its own); other groups may
        # show too: any runner of a dead command on this host is an orphan
        reviewers = {pid for pid, _, command in orphans if "faulty-reviewer" in command}
        # a child forked by a reviewer shows its command until it execs: count leaders
        reviewers = {pid for pid in reviewers if _leads_group(pid)}
        assert len(reviewers) == 2
        dry = run_script("commonplace-reap-stale-runs", ["--dry-run", "--json"], cwd=kb)
        assert_clean_exit(dry.returncode, dry.stderr, 0)
        assert reviewers <= set(json.loads(dry.stdout)["stopped_process_groups"])
        still = {pid for pid, _, _ in leftovers(env, within=0)}
        assert reviewers <= still  # a dry run stops nothing

        reaped = run_script("commonplace-reap-stale-runs", ["--json"], cwd=kb)
        assert_clean_exit(reaped.returncode, reaped.stderr, 0)
        payload = json.loads(reaped.stdout)
        assert payload["reaped"] == sorted(run_states(db))
        assert reviewers <= set(payload["stopped_process_groups"])
        assert leftovers(env, within=5.0) == []
        assert set(run_states(db).values()) == {("failed", "abandoned")}
    finally:
        for pid, _, _ in orphans:  # started by this test: end them by their id
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    print(f"\nguards and sweep SIGKILLed: reap stopped 2 groups ({len(orphans)} processes)")


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


SEED = 20261207
SWEEP_KILLS = 6


def test_sigkill_at_random_moments_of_sweeps(example_kb: Path, tmp_path: Path) -> None:
    """Sweeps killed again and again at random moments: after each kill, once
    `reap-stale-runs` ran, nothing is `running`, no pair is accepted twice and
    the store checks; the sweep after the last kill reviews what is left, and
    every pair ends accepted exactly once."""
    kb, db = example_kb, store_of(example_kb)
    reviewer = reviewer_command(tmp_path / "state", "--sleep", "0.3")
    configure(kb, {"runners.slow": {"command": reviewer, "env": [MARKER]}})
    env = marker_env(tmp_path)
    pairs = {(p["note_path"], p["gate_id"]) for p in stale(kb)}
    assert len(pairs) >= 10
    args = ("--runner", "slow", "--model", MODEL, "--jobs", "2")
    rng = random.Random(SEED)
    reaped_runs = killed_live = 0
    for _ in range(SWEEP_KILLS):
        proc = start("review-sweep", *args, cwd=kb, env=env)
        time.sleep(rng.uniform(0.0, 2.0))
        proc.kill()
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        killed_live += proc.returncode == -signal.SIGKILL
        assert leftovers(env, within=5.0) == []
        reaped = run_script("commonplace-reap-stale-runs", ["--json"], cwd=kb)
        assert_clean_exit(reaped.returncode, reaped.stderr, 0)
        reaped_runs += len(json.loads(reaped.stdout)["reaped"])
        assert "running" not in {status for status, _ in run_states(db).values()}
        assert all(count == 1 for count in full_reviews_per_pair(db).values())
        assert_store_checks(kb)

    done = run_script("commonplace-review-sweep", [*args, "--json"], cwd=kb, env=env)
    assert_clean_exit(done.returncode, done.stderr, 0)
    assert full_reviews_per_pair(db) == dict.fromkeys(pairs, 1)
    assert stale(kb) == []
    assert "running" not in {status for status, _ in run_states(db).values()}
    assert_store_checks(kb)
    print(
        f"\n{SWEEP_KILLS} SIGKILLs to review-sweep --jobs 2 ({killed_live} while it ran):"
        f" {reaped_runs} run(s) reaped,"
        f" {len(pairs)} pairs each accepted once after one more sweep"
    )


def stale(kb: Path) -> list[dict[str, str]]:
    done = run_script("commonplace-review-target-selector", ["--model", MODEL, "--json"], cwd=kb)
    assert_clean_exit(done.returncode, done.stderr, 0)
    return list(json.loads(done.stdout))
