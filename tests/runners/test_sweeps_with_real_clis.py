"""The three commands that review through a runner (`commonplace-run-review-bundle`,
`commonplace-run-gate-sweep`, `commonplace-review-sweep`) run as real processes
with the real `claude` and `codex` CLIs against the loopback vendor API
(SPEC 8, 9, 10, 14): gate sweeps in several batches, sweeps stopping at a usage
limit, dry runs, missing binaries. The helpers are in helpers/real_cli.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from helpers.kb import commit_all
from helpers.real_cli import (
    ABBREV,
    DATE,
    FROST,
    RUNNERS,
    SEEDS,
    Bench,
    finish_command,
    live_processes,
    start_command,
    telemetry_of,
)

from commonplace.lifecycle.partitions import normalize

pytestmark = pytest.mark.real_cli  # run again with the current CLIs (.ci/run)

PER_REQUEST_TOKENS = {
    "claude-code": (
        "claude-sonnet-4-5",
        {"input": 1200, "output": 340, "cache_read": 800, "cache_write": 200},
    ),
    "codex": ("gpt-5.5", {"input": 2000, "output": 400, "cache_read": 1500, "reasoning": 60}),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_a_gate_sweep_runs_one_call_per_batch_and_stores_its_telemetry_once(
    bench_factory: Callable[..., Bench], runner: str
) -> None:
    bench = bench_factory(runner)
    model, per_request = PER_REQUEST_TOKENS[runner]
    notes = [SEEDS, FROST, DATE]
    done = bench.run(
        "run-gate-sweep",
        ABBREV,
        "--note",
        *notes,
        "--batch-size",
        "2",
        "--quiet",
        *bench.runner_args(model),
    )
    assert done.code == 0, done.err
    report = done.json()
    assert len(report["batches"]) == 2
    assert (report["completed"], report["failed"]) == (3, 0)
    # One request per batch, each asking for its notes against the gate.
    asked = [r.requested_pairs for r in bench.api.review_requests()]
    assert sorted(asked, key=len) == [
        [f"{DATE} :: {ABBREV}"],
        [f"{SEEDS} :: {ABBREV}", f"{FROST} :: {ABBREV}"],
    ]

    batches = bench.rows("SELECT id, packing, executor, telemetry_json FROM review_batches")
    assert [(packing, executor) for _, packing, executor, _ in batches] == [
        ("gate", runner),
        ("gate", runner),
    ]
    assert all(telemetry for *_, telemetry in batches)
    runs = bench.rows("SELECT id, batch_id, note_path, status FROM review_runs ORDER BY id")
    assert sorted(r[2] for r in runs) == sorted(notes)
    assert {r[3] for r in runs} == {"completed"}
    in_batch = {batch_id: sum(1 for r in runs if r[1] == batch_id) for batch_id, *_ in batches}
    assert sorted(in_batch.values()) == [1, 2]
    for (_, batch_id, _, _), telemetry in zip(
        runs, telemetry_of(bench.db, "review_runs"), strict=True
    ):
        assert telemetry["batch_id"] == batch_id
        assert telemetry["runs_in_batch"] == in_batch[batch_id]
    # Summing over batches counts each call once: the server's usage times two.
    for key, value in per_request.items():
        (summed,) = bench.rows(
            f"SELECT SUM(json_extract(telemetry_json, '$.tokens.{key}')) FROM review_batches"
        )[0]
        assert summed == 2 * value, key
    # One gate review and one acceptance per note.
    assert bench.rows("SELECT COUNT(*), COUNT(DISTINCT note_path) FROM gate_reviews") == [(3, 3)]
    assert bench.rows("SELECT COUNT(*) FROM acceptance_events") == [(3,)]


# ---------------------------------------------------------------------------
# Sweeps: the stale pairs, then nothing; a usage limit stops launching


# runner -> (model, what the server serves, the partition the runs end in)
SWEEP_MODELS = {
    # claude resolves the alias itself (2.1.197 to claude-sonnet-5, 2.1.337 to
    # claude-sonnet-5-5): the partition is the model its requests carried.
    "claude-code": ("sonnet", None, None),
    # codex asks for gpt-5.5 and is rerouted.
    "codex": ("gpt-5.5", "gpt-5.4-mini", "gpt-5-4-mini"),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_a_sweep_reviews_the_stale_pairs_and_a_second_sweep_finds_none(
    bench_factory: Callable[..., Bench], runner: str
) -> None:
    model, served, partition = SWEEP_MODELS[runner]
    bench = bench_factory(runner, served_model=served)
    notes = ("--note", SEEDS, FROST)
    first = bench.run("review-sweep", *notes, "--jobs", "2", *bench.runner_args(model))
    assert first.code == 0, first.err
    report = first.json()
    # One batch per note and lens: seed-packets has 3 lenses, frost-dates 3
    # (title-states-a-claim does not apply to it), and each its `type` lens
    # (type/note: both are `type: kb/types/note.md`).
    assert len(report["batches"]) == 8
    assert (report["completed"], report["failed"]) == (8, 0)
    assert report["stopped"] is None
    if partition is None:  # the alias as this CLI version resolves it
        (carried,) = {r.model for r in bench.api.review_requests()}
        assert carried and carried.startswith("claude-sonnet-"), carried
        partition = normalize(carried)
    assert bench.rows("SELECT DISTINCT model_id, status FROM review_runs") == [
        (partition, "completed")
    ]
    assert bench.rows("SELECT DISTINCT model_id FROM acceptance_events") == [(partition,)]
    # 5 + 4 catalog pairs, and each note's type/note
    assert bench.rows("SELECT COUNT(*) FROM acceptance_events") == [(11,)]
    calls = len(bench.api.review_requests())
    assert calls == 8

    # The same flags again: the partition is the one written, nothing is stale.
    second = bench.run("review-sweep", *notes, "--jobs", "2", *bench.runner_args(model))
    assert second.code == 0, second.err
    assert second.json()["batches"] == []
    assert len(bench.api.review_requests()) == calls
    assert [p for p in bench.stale(model) if p[0] in (SEEDS, FROST)] == []


# runner -> (model, the server's mode)
LIMITS = {"claude-code": ("claude-sonnet-4-5", "rate_limit"), "codex": ("gpt-5.5", "usage_limit")}


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_a_usage_limit_stops_a_sweep_after_the_first_batch(
    bench_factory: Callable[..., Bench], runner: str
) -> None:
    model, mode = LIMITS[runner]
    bench = bench_factory(runner, mode=mode)
    assert len(bench.stale(model)) > 10  # several batches' worth of stale pairs
    done = bench.run("review-sweep", "--jobs", "1", *bench.runner_args(model))
    assert done.code == 75, done.err
    assert "usage limit" in done.err
    report = done.json()
    assert report["stopped"] == "usage limit reached"
    assert report["not_launched"] > 0
    assert report["usage_limited"] is True
    assert len(report["batches"]) == 1
    assert bench.rows("SELECT COUNT(*) FROM review_batches") == [(1,)]
    runs = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert runs and all(status == "failed" for status, _ in runs)
    assert all(reason.startswith("usage exhausted") for _, reason in runs), runs
    # Every request the server saw was for the one batch launched.
    asked = {tuple(r.requested_pairs or ()) for r in bench.api.review_requests()}
    assert len(asked) == 1


# ---------------------------------------------------------------------------
# Dry runs touch no store and need no CLI


DRY_RUNS = {
    "run-review-bundle": (SEEDS, "clarity"),
    "run-gate-sweep": (ABBREV, "--batch-size", "2"),
    "review-sweep": (),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("command", list(DRY_RUNS))
def test_a_dry_run_creates_no_store(
    bench_factory: Callable[..., Bench], runner: str, command: str
) -> None:
    bench = bench_factory(runner, with_cli=False)  # no CLI on PATH
    assert not bench.db.exists()
    flags = ("--dry-run", "--show-prompts")
    done = bench.run(command, *DRY_RUNS[command], *flags, *bench.runner_args("some-model"))
    assert done.code == 0, done.err
    report = done.json()
    assert report["dry_run"] is True
    assert report["batches"]
    assert all("## Requested pairs" in batch["prompt"] for batch in report["batches"])
    assert not bench.db.exists()
    assert not (bench.kb / "kb" / "reports").exists()
    assert bench.api.snapshot() == []


# ---------------------------------------------------------------------------
# A missing binary stops a command before any run exists


COMMANDS = {
    "run-review-bundle": (SEEDS, "clarity", "--quiet"),
    "run-gate-sweep": (ABBREV, "--note", SEEDS, FROST, "--quiet"),
    "review-sweep": ("--note", SEEDS),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("where", ["path", "config"])
def test_a_missing_binary_is_named_and_leaves_no_running_run(
    bench_factory: Callable[..., Bench], runner: str, where: str
) -> None:
    # "path": no CLI on PATH; "config": the CLI is on PATH, but the config
    # names a binary that does not exist.
    bench = bench_factory(runner, with_cli=where == "config")
    if where == "path":
        binary = f"`{RUNNERS[runner][0]}`"
    else:
        binary = "/nonexistent/claude"
        with (bench.kb / "commonplace.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[runners.{runner}]\nbinary = "{binary}"\n')
        commit_all(bench.kb, "a runner binary that does not exist")
    for command, args in COMMANDS.items():
        done = bench.run(command, *args, *bench.runner_args("some-model"))
        assert done.code == 1, (command, done.out, done.err)
        errors = [line for line in done.err.splitlines() if line.startswith("error: ")]
        assert errors and binary in errors[-1], (command, done.err)
        assert "Traceback" not in done.err
        assert bench.running_runs() == []
    assert bench.api.snapshot() == []


# ---------------------------------------------------------------------------
# Interrupting a sweep stops its CLIs and fails its runs


@pytest.mark.parametrize(
    ("runner", "signum"),
    [("claude-code", signal.SIGINT), ("codex", signal.SIGTERM)],
    ids=["claude-code-SIGINT", "codex-SIGTERM"],
)
def test_an_interrupted_sweep_fails_its_runs_and_leaves_no_cli_process(
    bench_factory: Callable[..., Bench], runner: str, signum: signal.Signals
) -> None:
    bench = bench_factory(runner, mode="hang")
    marker = f"HOME={bench.home}"
    started = time.monotonic()
    proc = start_command(
        "review-sweep",
        ["--jobs", "2", *bench.runner_args("some-model")],
        cwd=bench.kb,
        env=bench.env,
    )
    api = "messages" if runner == "claude-code" else "responses"
    assert bench.api.wait_for(2, api=api, timeout=30), bench.api.paths()
    os.kill(proc.pid, signum)
    done = finish_command(proc, started)
    assert done.code == 130, done.err
    assert "error: interrupted" in done.err
    assert live_processes(marker, within=2) == []
    runs = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert len(runs) == 2  # the two batches launched; nothing after the interrupt
    assert all(status == "failed" for status, _ in runs), runs
    assert all(reason.startswith("interrupted") for _, reason in runs), runs
