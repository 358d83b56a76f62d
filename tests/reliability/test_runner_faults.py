"""Fault: a `command` runner that misbehaves, run by the commands as real processes.

Each fault is a `[runners.<fault>]` table running tools/faulty-reviewer.py
(see helpers/faults.py): a missing program, a hang (with a grandchild) stopped by
`--timeout 2`, a crash by SIGKILL or SIGSEGV, a non-zero exit after a complete
answer, output beyond the 32 MiB cap, and a usage limit (exit status 75).
After each: the exit code the docs promise, no run left `running`, a specific
failure reason on every failed run, a store that passes `check`, and no process
of the reviewer's left alive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.db import rows, run_states, store_of, stored_text
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
from helpers.store import DATE, FROST, SEEDS

BUNDLE = (FROST, "clarity", "--quiet")  # one run of two gates


def run_fault(kb: Path, tmp_path: Path, command: str, *args: str) -> tuple[int, dict, str]:
    """Run `commonplace-<command> args... --json` with the marker; returns the
    exit code, the JSON payload and stderr, after checking what every fault must leave."""
    env = marker_env(tmp_path)
    proc = start(command, *args, "--model", MODEL, "--json", cwd=kb, env=env)
    out, err = proc.communicate(timeout=120)
    assert_clean_exit(proc.returncode, err, 0, 1, 75)
    assert leftovers(env) == []
    states = run_states(store_of(kb)) if store_of(kb).exists() else {}
    assert "running" not in {status for status, _ in states.values()}, states
    if states:
        assert_store_checks(kb)
    print(f"\n{' '.join(args)}: exit {proc.returncode}, runs {sorted(states.values())}")
    return proc.returncode, json.loads(out), err


def failed_reasons(kb: Path) -> list[str]:
    states = run_states(store_of(kb))
    assert states and all(status == "failed" for status, _ in states.values()), states
    return [reason or "" for _, reason in states.values()]


@pytest.mark.parametrize(("fault", "signame"), [("sigkill", "SIGKILL"), ("sigsegv", "SIGSEGV")])
def test_a_reviewer_killed_by_a_signal(example_kb: Path, tmp_path: Path, fault: str, signame: str):
    runner = add_faulty_runner(example_kb, fault, tmp_path / "state")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner
    )
    assert code == 1 and payload["failed"] == 1, err
    (reason,) = failed_reasons(example_kb)
    assert f"was killed by {signame}" in reason
    assert "missing pair reviews: clarity/" in reason


def test_a_hung_reviewer_and_its_child_are_stopped_by_the_timeout(example_kb: Path, tmp_path):
    runner = add_faulty_runner(example_kb, "hang", tmp_path / "state")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner, "--timeout", "2"
    )
    assert code == 1 and payload["failed"] == 1, err
    (reason,) = failed_reasons(example_kb)
    assert reason.startswith("timed out after 2 s (missing pair reviews: "), reason
    assert reviewers_started(tmp_path / "state") == 1  # no second call after a timeout


def test_a_missing_program_stops_before_any_run(example_kb: Path, tmp_path: Path):
    runner = add_faulty_runner(example_kb, "missing", tmp_path, program="no-such-reviewer-47")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner
    )
    assert code == 1 and "error: runner missing: `no-such-reviewer-47` not found" in err, err
    assert payload["exit_code"] == 1
    db = store_of(example_kb)
    assert not db.exists() or rows(db, "SELECT COUNT(*) FROM review_runs") == [(0,)]


def test_a_program_whose_interpreter_is_missing(example_kb: Path, tmp_path: Path):
    """The program exists (so runs are created) but cannot start: the reason
    must say so, not send the user looking for a program that is there."""
    script = example_kb / "tools" / "orphan-script.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/nonexistent/python3\nprint('never')\n", encoding="utf-8")
    script.chmod(0o755)
    runner = add_faulty_runner(example_kb, "orphan", tmp_path, program="tools/orphan-script.py")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner
    )
    assert code == 1 and payload["failed"] == 1, err
    (reason,) = failed_reasons(example_kb)
    assert "orphan-script.py" in reason and "missing pair reviews: " in reason, reason
    assert "not found (install it" not in reason, reason
    assert "/nonexistent/python3" in reason or "cannot start" in reason, reason


def test_a_non_zero_exit_after_a_complete_answer_completes(example_kb: Path, tmp_path: Path):
    """SPEC 9: the output is parsed even after a failed call, and each run whose
    pairs all arrived is finalized; the exit status stays in the debug log."""
    runner = add_faulty_runner(example_kb, "exit-after-answering", tmp_path / "state")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner
    )
    assert code == 0 and payload["completed"] == 1 and payload["failed"] == 0, err
    db = store_of(example_kb)
    assert rows(db, "SELECT status FROM review_runs") == [("completed",)]
    log = stored_text(db, "review_batches", "debug_log")
    assert "exited 3" in log and "lost the connection" in log


def test_output_beyond_the_cap_stops_the_reviewer(example_kb: Path, tmp_path: Path):
    runner = add_faulty_runner(example_kb, "enormous", tmp_path / "state")
    code, payload, err = run_fault(
        example_kb, tmp_path, "run-review-bundle", *BUNDLE, "--runner", runner
    )
    assert code == 1 and payload["failed"] == 1, err
    (reason,) = failed_reasons(example_kb)
    assert reason.startswith(f"output exceeded {32 * 1024 * 1024} characters"), reason


def test_a_usage_limit_exits_75_and_stops_the_sweep(example_kb: Path, tmp_path: Path):
    runner = add_faulty_runner(example_kb, "usage-limit", tmp_path / "state")
    args = ("clarity", "--note", FROST, SEEDS, DATE, "--jobs", "1", "--runner", runner)
    code, payload, err = run_fault(example_kb, tmp_path, "review-sweep", *args)
    assert code == 75 and "error: usage limit reached" in err, err
    assert payload["usage_limited"] and payload["not_launched"] == 2, payload
    (reason,) = failed_reasons(example_kb)
    assert reason.startswith("usage exhausted: runner usage-limit (`"), reason
    assert "exited 75: reviewer: monthly quota exhausted" in reason
