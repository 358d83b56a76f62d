"""Work in flight is not paid for twice.

Two sweeps started together on one partition select the same stale pairs;
each batch claims its pairs in the transaction that creates its runs, so
every pair is reviewed once. While a sweep's reviewers work, the selector
reports their pairs `in-progress` and another sweep skips them.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from helpers.commands import run_script
from helpers.db import rows, store_of
from helpers.fake_runners import add_reviewer, running_runs, wait_until
from helpers.faults import (
    MODEL,
    add_faulty_runner,
    assert_clean_exit,
    assert_store_checks,
    leftovers,
    marker_env,
    reviewers_started,
    start,
)


def reviews_per_pair(db: Path) -> dict[tuple[str, str], int]:
    found = rows(db, "SELECT note_path, gate_id, COUNT(*) FROM gate_reviews GROUP BY 1, 2")
    return {(note, gate): count for note, gate, count in found}


def stale(kb: Path) -> list[dict[str, str]]:
    done = run_script("commonplace-review-target-selector", ["--model", MODEL, "--json"], cwd=kb)
    assert_clean_exit(done.returncode, done.stderr, 0)
    return json.loads(done.stdout)


def test_two_sweeps_started_together_review_each_pair_once(
    example_kb: Path, tmp_path: Path
) -> None:
    kb, db = example_kb, store_of(example_kb)
    add_reviewer(kb, "slow", tmp_path / "state", "--sleep", "0.3")
    pairs = {(p["note_path"], p["gate_id"]) for p in stale(kb)}
    assert len(pairs) >= 10
    args = ("--runner", "slow", "--model", MODEL, "--jobs", "2", "--json")
    procs = [start("review-sweep", *args, cwd=kb) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert_clean_exit(proc.returncode, err, 0)
    reports = [json.loads(out) for out, _ in outputs]
    assert reviews_per_pair(db) == dict.fromkeys(pairs, 1)  # every pair, each once
    left_out = [s for r in reports for s in r["skipped"]]
    assert {(s["note_path"], s["gate_id"]) for s in left_out} <= pairs
    assert all(s["reason"].startswith(("in-progress", "fresh")) for s in left_out), left_out
    assert sum(r["completed"] for r in reports) == len(rows(db, "SELECT id FROM review_runs"))
    assert stale(kb) == []
    assert_store_checks(kb)
    print(
        f"\ntwo sweeps at once: {len(pairs)} pairs reviewed once each;"
        f" {len(left_out)} pair(s) left by one sweep to the other"
    )


def test_pairs_under_review_are_in_progress_and_another_sweep_skips_them(
    example_kb: Path, tmp_path: Path
) -> None:
    kb, db, state = example_kb, store_of(example_kb), tmp_path / "state"
    runner = add_faulty_runner(kb, "hang", state)
    env = marker_env(tmp_path)
    first = start(
        "review-sweep", "--runner", runner, "--model", MODEL, "--jobs", "2", cwd=kb, env=env
    )
    try:
        wait_until(lambda: running_runs(db) == 2, "two running review runs")
        wait_until(lambda: reviewers_started(state) == 2, "both reviewers to start")
        busy = set(
            rows(
                db,
                "SELECT r.note_path, g.gate_id FROM review_runs r"
                " JOIN review_run_gates g ON g.review_run_id = r.id WHERE r.status = 'running'",
            )
        )
        listed = stale(kb)
        in_progress = {
            (p["note_path"], p["gate_id"]) for p in listed if p["reason"] == "in-progress"
        }
        assert in_progress == busy
        assert {p["reason"] for p in listed} == {"in-progress", "missing-review"}

        second = run_script(
            "commonplace-review-sweep",
            ["--runner", "stand-in", "--model", MODEL, "--json"],
            cwd=kb,
        )
        assert_clean_exit(second.returncode, second.stderr, 0)
        skipped = {
            (s["note_path"], s["gate_id"])
            for s in json.loads(second.stdout)["skipped"]
            if s["reason"].startswith("in-progress")
        }
        assert skipped == busy
        assert all(count == 1 for count in reviews_per_pair(db).values())
        assert not busy & set(reviews_per_pair(db))  # none of the busy pairs reviewed again
    finally:
        first.send_signal(signal.SIGINT)
        try:
            first.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.communicate()
    assert leftovers(env) == []
    assert running_runs(db) == 0
    assert_store_checks(kb)
