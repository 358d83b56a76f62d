"""Real processes racing on one store: one outcome per run, no lock errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import (
    CREATE,
    EX_CLAIM_NOTE,
    EX_CLARITY,
    EX_NOTE,
    create_run_id,
    write_review,
    write_reviews,
)
from helpers.commands import console_script
from helpers.db import one, rows, store_of, version_of
from helpers.reviews import review

from commonplace.store.migrations import MIGRATIONS

pytestmark = pytest.mark.both_backends


def _start(kb: Path, script: str, *args: str, stdin: str | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [console_script(script), *args],
        cwd=kb,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    return proc


def _start_writer(kb: Path, run_id: int, gate: str, *extra: str) -> subprocess.Popen[str]:
    """A `write-gate-review` process waiting for its review on stdin."""
    return _start(
        kb,
        "commonplace-write-gate-review",
        "--review-run-id",
        str(run_id),
        "--gate",
        gate,
        *extra,
        stdin="",
    )


def _start_finalizer(kb: Path, run_id: int, *extra: str) -> subprocess.Popen[str]:
    return _start(kb, "commonplace-finalize-review-run", "--review-run-id", str(run_id), *extra)


def _finish(procs: list[tuple[subprocess.Popen[str], str | None]]) -> list[tuple[int, str, str]]:
    results = []
    for proc, stdin in procs:
        out, err = proc.communicate(stdin, timeout=120)
        results.append((proc.returncode, out, err))
    return results


def _no_lock_errors(results: list[tuple[int, str, str]]) -> None:
    for _code, out, err in results:
        assert "locked" not in err and "locked" not in out, err
        assert "Traceback" not in err, err
        assert "unexpected error" not in err, err


def test_four_racing_finalizers_give_one_outcome(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    run_id = create_run_id(cli, kb, EX_NOTE, "clarity", "metadata")
    gates = [g for (g,) in rows(db, "SELECT gate_id FROM review_run_gates ORDER BY ordinal")]
    assert len(gates) == 3
    decisions = ["PASS", "WARN", None]
    write_reviews(cli, kb, run_id, gates, decisions)

    procs = [(_start_finalizer(kb, run_id, "--json"), None) for _ in range(4)]
    results = _finish(procs)
    _no_lock_errors(results)
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1, 1, 1], results
    for code, out, err in results:
        if code == 0:
            assert '"completed"' in out
        else:
            assert err.startswith("error: "), err
            assert "already completed" in err
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (run_id,)) == "completed"
    assert rows(db, "SELECT gate_id, acceptance_kind FROM acceptance_events ORDER BY id") == [
        (gates[0], "full-review"),
        (gates[1], "full-review"),
    ]
    assert cli("review-store", "check", cwd=kb).code == 0


def test_eight_processes_write_and_finalize_distinct_runs(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    notes = [
        EX_NOTE,
        EX_CLAIM_NOTE,
        "kb/notes/date-every-entry-before-writing-anything-else.md",
        "kb/notes/topics/compost-readings-are-only-comparable-at-the-same-depth.md",
    ]
    # Phase 1: four runs of two gates; eight processes write the eight reviews at once.
    first = [create_run_id(cli, kb, note, "clarity") for note in notes]
    writers = [
        (_start_writer(kb, run_id, gate, "--json"), review("WARN" if i % 2 else "PASS"))
        for run_id in first
        for i, gate in enumerate(EX_CLARITY)
    ]
    assert len(writers) == 8
    results = _finish(writers)
    _no_lock_errors(results)
    assert [code for code, _, _ in results] == [0] * 8, results
    assert one(db, "SELECT COUNT(*) FROM gate_reviews") == 8

    # Phase 2: four processes finalize those runs while four write into four new runs.
    second = [create_run_id(cli, kb, note, EX_CLARITY[0]) for note in notes]
    mixed = [(_start_finalizer(kb, r), None) for r in first] + [
        (_start_writer(kb, r, EX_CLARITY[0]), review("FAIL")) for r in second
    ]
    results = _finish(mixed)
    _no_lock_errors(results)
    assert [code for code, _, _ in results] == [0] * 8, results

    # Phase 3: eight finalizers on eight distinct runs... the four new ones and four
    # more created for this phase (each fully written in-process first).
    third = [create_run_id(cli, kb, note, EX_CLARITY[1]) for note in notes]
    for r in third:
        assert write_review(cli, kb, r, EX_CLARITY[1], "PASS").code == 0
    finalizers = [(_start_finalizer(kb, r, "--json"), None) for r in second + third]
    results = _finish(finalizers)
    _no_lock_errors(results)
    assert [code for code, _, _ in results] == [0] * 8, results

    assert rows(db, "SELECT status, COUNT(*) FROM review_runs GROUP BY status") == [
        ("completed", 12)
    ]
    assert one(db, "SELECT COUNT(*) FROM gate_reviews") == 16
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 16
    # Each accepted review is accepted exactly once.
    assert one(db, "SELECT COUNT(DISTINCT accepted_review_id) FROM acceptance_events") == 16
    check = cli("review-store", "check", "--json", cwd=kb)
    assert check.code == 0 and check.json()["violations"] == []


def test_racing_finalizers_on_an_incomplete_run_fail_it_once(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    run_id = create_run_id(cli, kb, EX_NOTE, "clarity")
    done = write_review(cli, kb, run_id, EX_CLARITY[0], "PASS")
    assert done.code == 0, done.err
    procs = [(_start_finalizer(kb, run_id), None) for _ in range(4)]
    results = _finish(procs)
    _no_lock_errors(results)
    assert [code for code, _, _ in results] == [1, 1, 1, 1], results
    status, reason = one(
        db, "SELECT status, failure_reason FROM review_runs WHERE id = ?", (run_id,)
    )
    assert status == "failed" and EX_CLARITY[1] in reason
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 0
    assert cli("review-store", "check", cwd=kb).code == 0


def test_racing_writers_of_one_gate_record_it_once(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    run_id = create_run_id(cli, kb, EX_NOTE, "clarity")
    decisions = ["PASS", "WARN", "FAIL", "PASS"]
    procs = [(_start_writer(kb, run_id, EX_CLARITY[0], "--json"), review(d)) for d in decisions]
    results = _finish(procs)
    _no_lock_errors(results)
    assert sorted(code for code, _, _ in results) == [0, 1, 1, 1], results
    for code, _out, err in results:
        if code:
            assert err.startswith("error: ") and EX_CLARITY[0] in err, err
    assert one(db, "SELECT COUNT(*) FROM gate_reviews") == 1


def test_eight_processes_create_runs_on_a_fresh_store(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    assert not db.exists()
    procs = [
        (
            _start(
                kb,
                "commonplace-create-review-run",
                EX_NOTE if i % 2 else EX_CLAIM_NOTE,
                "clarity",
                *CREATE,
                "--json",
            ),
            None,
        )
        for i in range(8)
    ]
    results = _finish(procs)
    _no_lock_errors(results)
    assert [code for code, _, _ in results] == [0] * 8, results
    assert version_of(db) == len(MIGRATIONS)
    assert one(db, "SELECT COUNT(DISTINCT id) FROM review_runs") == 8
    assert one(db, "SELECT COUNT(DISTINCT batch_id) FROM review_runs") == 8
    assert one(db, "SELECT COUNT(*) FROM review_run_gates") == 16
    assert cli("review-store", "check", cwd=kb).code == 0
