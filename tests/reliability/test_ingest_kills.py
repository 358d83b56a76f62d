"""Fault: SIGKILL at random points of a large `ingest-batch-output`.

One batch of 200 corpus notes x 3 gates is ingested by a real process that is
killed with SIGKILL after a seeded random delay, again and again. After every
kill the store must pass `review-store check` and each run must be whole:
completed with all its reviews and acceptances, or running with none. Then
one more ingest completes every run and each pair is accepted exactly once.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from helpers.cli import Cli, prepare
from helpers.db import Target, drop_store, polling, rows, run_states, store_of
from helpers.faults import (
    MODEL,
    assert_store_checks,
    full_reviews_per_pair,
    ingest_argv,
    notes_and_gates,
    pair_args,
    write_clean_output,
)

SEED = 20250105
KILLS = 14
NOTES, GATES = 200, 3


def finished(db: Target) -> int:
    return sum(status != "running" for status, _ in run_states(db).values())


def timeline(argv: list[str], kb: Path, db: Target, total: int) -> tuple[float, float, float]:
    """Seconds from the start of a whole ingest until its first run is final,
    until its last run is final, and until it exits (it must succeed)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=kb, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = last = None
    with polling(db) as value:
        while proc.poll() is None:
            query = "SELECT COUNT(*) FROM review_runs WHERE status <> 'running'"
            count, now = value(query) or 0, time.monotonic() - started
            first = now if first is None and count else first
            last = now if last is None and count == total else last
            time.sleep(0.002)
    whole = time.monotonic() - started
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    return first or whole, last or whole, whole


LANDINGS = (
    "before it finished a run",
    "mid-ingest",
    "with nothing left to finish",
    "after it exited",
)


def landing(returncode: int, before: int, after: int, total: int) -> str:
    """Where a kill landed, from the runs final before and after the attempt."""
    if returncode == 0:
        return LANDINGS[3]
    if after > before:
        return LANDINGS[1]
    return LANDINGS[2] if before == total else LANDINGS[0]


def assert_runs_whole(db: Target, gates_per_run: int) -> None:
    """All or nothing per run: a completed run has every review and acceptance,
    a running one has none (a failed one would be a bug here: the output is clean)."""
    reviews = dict(rows(db, "SELECT review_run_id, COUNT(*) FROM gate_reviews GROUP BY 1"))
    accepted = dict(
        rows(
            db,
            "SELECT r.review_run_id, COUNT(*) FROM acceptance_events e"
            " JOIN gate_reviews r ON r.id = e.accepted_review_id GROUP BY 1",
        )
    )
    for run_id, (status, reason) in run_states(db).items():
        assert status in ("running", "completed"), (run_id, status, reason)
        expected = gates_per_run if status == "completed" else 0
        assert reviews.get(run_id, 0) == expected, (run_id, status)
        assert accepted.get(run_id, 0) == expected, (run_id, status)


def test_sigkill_at_random_points_of_a_large_ingest(cli: Cli, corpus_kb: Path) -> None:
    kb, db = corpus_kb, store_of(corpus_kb)
    notes, gates = notes_and_gates(kb, NOTES, GATES)
    pairs = pair_args(notes, gates)

    # When runs finish during an ingest: a twin batch, ingested once in full.
    probe = prepare(cli, kb, *pairs, model=MODEL)
    total = len(probe["runs"])
    first, last, whole = timeline(ingest_argv(probe, write_clean_output(kb, probe)), kb, db, total)
    shutil.rmtree(kb / "kb" / "reports")  # the store and artifacts of the probe
    drop_store(kb)

    prepared = prepare(cli, kb, *pairs, model=MODEL)
    argv = ingest_argv(prepared, write_clean_output(kb, prepared))
    rng = random.Random(SEED)
    landed = dict.fromkeys(LANDINGS, 0)
    for _ in range(KILLS):
        before = finished(db)
        # from 0 to a little past when the last run still running would be final
        delay = rng.uniform(0, 1.1 * (first + (last - first) * (total - before) / total))
        proc = subprocess.Popen(argv, cwd=kb, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, -signal.SIGKILL), err
        assert b"Traceback" not in err, err
        landed[landing(proc.returncode, before, finished(db), total)] += 1
        assert_store_checks(kb)
        assert_runs_whole(db, len(gates))

    done = subprocess.run([*argv, "--json"], cwd=kb, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    done_payload = json.loads(done.stdout)
    assert sorted(done_payload["completed"] + done_payload["already_final"]) == sorted(
        r["review_run_id"] for r in prepared["runs"]
    )
    assert set(run_states(db)) == {r["review_run_id"] for r in prepared["runs"]}
    assert {status for status, _ in run_states(db).values()} == {"completed"}
    assert full_reviews_per_pair(db) == {(n, g): 1 for n in notes for g in gates}
    assert_store_checks(kb)
    for run in prepared["runs"]:  # files a kill kept from being written are restored
        run_dir = kb / f"kb/reports/bundle-reviews/review-run-{run['review_run_id']}"
        assert (run_dir / "bundle-output.md").is_file()

    stray = len(list((kb / "kb" / "reports").rglob(".*.tmp")))  # a kill between write and rename
    print(
        f"\ningest of {total} runs x {len(gates)} gates: first run final after {first:.2f} s,"
        f" last after {last:.2f} s, exit after {whole:.2f} s; {KILLS} SIGKILLs survived: "
        + ", ".join(f"{count} {where}" for where, count in landed.items())
        + f"; the ingest after them finished {total - len(done_payload['already_final'])} runs;"
        f" {stray} temporary artifact file(s) left behind"
    )
