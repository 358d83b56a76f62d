"""The commands that review through a runner (`run-review-bundle`,
`run-gate-sweep`, `review-sweep`) as a user meets them: their refusals and exit
codes, [defaults], live output, Ctrl-C and SIGTERM on a real process, and the
rows they leave compared with the split path's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli, assert_refused
from helpers.commands import console_script, run_script
from helpers.db import columns, one, rows, store_of, stored_text
from helpers.fake_runners import (
    add_reviewer,
    alive,
    configure,
    pids,
    running_runs,
    started,
    statuses,
    wait_until,
)
from helpers.store import DATE, FROST, SEEDS

pytestmark = pytest.mark.both_backends

MODEL = "fake-model"
RUN = ("--runner", "fake", "--model", MODEL)
SAME_NOTE = DATE  # the stand-in warns on one of its five gates
COMMANDS = {
    "run-review-bundle": (FROST, "clarity"),
    "run-gate-sweep": ("clarity/description-repeats-title", "--note", FROST),
    "review-sweep": ("clarity", "--note", FROST),
}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "fake-state"


def no_runs(kb: Path) -> bool:
    db = store_of(kb)
    return not db.exists() or rows(db, "SELECT COUNT(*) FROM review_runs") == [(0,)]


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unknown_runner_is_a_usage_error(cli: Cli, example_kb: Path, command: str):
    result = cli(command, *COMMANDS[command], "--runner", "nope", "--model", MODEL, cwd=example_kb)
    line = assert_refused(result, 2, mentions="error: unknown runner")
    assert "'nope'" in line and "stand-in" in line and "claude-code" in line
    assert no_runs(example_kb)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    ("given", "missing"),
    [(("--runner", "stand-in"), "--model"), (("--model", "demo"), "--runner")],
    ids=["no-model", "no-runner"],
)
def test_runner_and_model_are_required_without_defaults(
    cli: Cli, example_kb: Path, command: str, given: tuple[str, ...], missing: str
):
    result = cli(command, *COMMANDS[command], *given, cwd=example_kb)
    assert_refused(result, 2, mentions=f"{missing} is required")
    assert no_runs(example_kb)


def test_defaults_name_the_runner_model_and_effort(cli: Cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    configure(example_kb, {"defaults": {"runner": "fake", "model": MODEL, "effort": "high"}})
    result = cli("run-review-bundle", FROST, "clarity", "--json", "--quiet", cwd=example_kb)
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert payload["runner"] == "fake" and payload["model_id"] == f"{MODEL}-high"
    assert payload["completed"] == 1
    env = json.loads((state / "env-1.json").read_text(encoding="utf-8"))
    assert env["COMMONPLACE_MODEL"] == MODEL and env["COMMONPLACE_EFFORT"] == "high"
    # a model given on the command line does not take the default effort
    other = cli(
        "run-review-bundle",
        FROST,
        "clarity",
        "--model",
        "other",
        "--json",
        "--quiet",
        cwd=example_kb,
    )
    assert other.code == 0, other.err
    assert json.loads(other.out)["model_id"] == "other"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_missing_binary_stops_before_any_run_exists(cli: Cli, example_kb: Path, command: str):
    configure(example_kb, {"runners.codex": {"binary": "/nonexistent/codex"}})
    args = (*COMMANDS[command], "--runner", "codex", "--model", "gpt-5.5")
    result = cli(command, *args, cwd=example_kb)
    assert_refused(result, 1, mentions="/nonexistent/codex")
    assert no_runs(example_kb)
    as_json = cli(command, *args, "--json", cwd=example_kb)
    assert as_json.code == 1
    assert json.loads(as_json.out)["exit_code"] == 1


def test_a_missing_command_program_stops_before_any_run_exists(cli: Cli, example_kb: Path):
    configure(example_kb, {"runners.ghost": {"command": ["/nonexistent/ghost-reviewer"]}})
    result = cli(
        "review-sweep",
        *("--note", FROST, SEEDS, "--runner", "ghost", "--model", MODEL),
        cwd=example_kb,
    )
    assert_refused(result, 1, mentions="/nonexistent/ghost-reviewer")
    assert no_runs(example_kb)


def test_a_lens_given_to_run_gate_sweep_is_a_usage_error(cli: Cli, example_kb: Path):
    result = cli(
        "run-gate-sweep", "clarity", "--runner", "stand-in", "--model", "demo", cwd=example_kb
    )
    assert_refused(result, 2, mentions="is a lens")
    assert no_runs(example_kb)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("review-sweep", "--jobs", "0"), "--jobs"),
        (("review-sweep", "--timeout", "0"), "--timeout"),
        (("review-sweep", "--effort", "huge"), "--effort"),
        (("review-sweep", "--group", "gate"), "--group"),
        (("run-gate-sweep", "clarity/description-repeats-title", "--batch-size", "0"), "batch"),
    ],
)
def test_bad_option_values_are_usage_errors(
    cli: Cli, example_kb: Path, args: tuple[str, ...], mentions: str
):
    command, *rest = args
    result = cli(command, *rest, "--runner", "stand-in", "--model", "demo", cwd=example_kb)
    assert_refused(result, 2, mentions=mentions)
    assert no_runs(example_kb)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("run-review-bundle", "kb/notes/absent.md", "clarity"), "absent.md"),
        (("run-review-bundle", "../elsewhere.md", "clarity"), "elsewhere.md"),
        (("run-review-bundle", FROST, "clarity/absent-gate"), "absent-gate"),
        (("run-review-bundle", "kb/notes", "clarity"), "names"),
    ],
    ids=["missing-note", "outside-kb", "missing-gate", "several-notes"],
)
def test_invalid_input_is_refused_with_exit_1(
    cli: Cli, example_kb: Path, args: tuple[str, ...], mentions: str
):
    command, *rest = args
    result = cli(command, *rest, "--runner", "stand-in", "--model", "demo", cwd=example_kb)
    assert_refused(result, 1, mentions=mentions)
    assert no_runs(example_kb)


# --- live output -------------------------------------------------------------------------------


def test_run_review_bundle_streams_the_runner_text_to_stderr(cli: Cli, example_kb: Path, state):
    add_reviewer(example_kb, "fake", state, "--prose", "Thinking about the note.\n")
    result = cli("run-review-bundle", FROST, "clarity", *RUN, "--json", cwd=example_kb)
    assert result.code == 0, result.err
    payload = json.loads(result.out)  # stdout stays one JSON document
    (batch,) = payload["batches"]
    prefix = f"[batch {batch['batch_id']}] "
    lines = result.err.splitlines()
    assert f"{prefix}Thinking about the note." in lines
    token = one(store_of(example_kb), "SELECT boundary_token FROM review_batches")
    start = f"=== PAIR REVIEW START {token}: {FROST} :: clarity/undefined-abbreviation ==="
    assert f"{prefix}{start}" in lines
    streamed = [line for line in lines if line.startswith("[batch ")]
    assert len(streamed) > 5 and "[batch" not in result.out

    quiet = cli("run-review-bundle", FROST, "metadata", *RUN, "--json", "--quiet", cwd=example_kb)
    assert quiet.code == 0, quiet.err
    assert "[batch" not in quiet.err and "Thinking" not in quiet.err
    assert json.loads(quiet.out)["completed"] == 1


def test_review_sweep_streams_only_when_asked(cli: Cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state, "--prose", "Thinking about the note.\n")
    silent = cli("review-sweep", "clarity", "--note", FROST, *RUN, "--json", cwd=example_kb)
    assert silent.code == 0, silent.err
    assert "[batch" not in silent.err
    streamed = cli(
        "review-sweep", "metadata", "--note", FROST, *RUN, "--json", "--stream", cwd=example_kb
    )
    assert streamed.code == 0, streamed.err
    (batch,) = json.loads(streamed.out)["batches"]
    assert f"[batch {batch['batch_id']}] Thinking about the note." in streamed.err.splitlines()


def test_the_human_report(cli: Cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state, "--omit", f"{SEEDS} :: clarity/undefined-abbreviation")
    result = cli("review-sweep", "clarity", "--note", FROST, SEEDS, *RUN, cwd=example_kb)
    assert result.code == 1
    assert "1 run(s) completed, 1 failed in 2 batch(es) (fake-model)" in result.out
    assert "failed: missing pair reviews: clarity/undefined-abbreviation" in result.out
    assert "Traceback" not in result.err


# --- Ctrl-C and SIGTERM on a real process ---------------------------------------------------------


def interrupt(kb: Path, state: Path, command: str, args: list[str], signum: int) -> Any:
    """Start the command, wait until its runner calls are running, send `signum`,
    and return (exit code, stderr) once it has exited."""
    proc = subprocess.Popen(
        [console_script(f"commonplace-{command}"), *args],
        cwd=kb,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        db = store_of(kb)
        wait_until(lambda: running_runs(db) > 0, "a running review run")
        wait_until(lambda: started(state) > 0 and all(pids(state)), "the fake reviewer to start")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("command", "args", "signum"),
    [
        ("review-sweep", ["clarity", "--note", FROST, SEEDS, DATE, "--jobs", "2"], signal.SIGINT),
        ("run-review-bundle", [FROST, "clarity", "--quiet"], signal.SIGTERM),
        ("run-gate-sweep", ["metadata/tags-present", "--batch-size", "1"], signal.SIGINT),
    ],
    ids=["review-sweep-sigint", "run-review-bundle-sigterm", "run-gate-sweep-sigint"],
)
def test_an_interrupted_command_leaves_nothing_running(
    example_kb: Path, state: Path, command: str, args: list[str], signum: int
):
    add_reviewer(example_kb, "fake", state, "--sleep", "60")
    code, _out, err = interrupt(example_kb, state, command, [*args, *RUN], signum)

    assert code == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    found = statuses(store_of(example_kb))
    assert found and all(status == "failed" for _, status, _ in found), found
    assert all(reason.startswith("interrupted") for _, _, reason in found), found
    assert all(not alive(pid) for pid in pids(state))
    checked = run_script("commonplace-review-store", ["check"], cwd=example_kb)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_run_command_with_a_real_process_prints_clean_json(example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state, "--prose", "Thinking.\n")
    done = run_script(
        "commonplace-run-review-bundle", [FROST, "clarity", *RUN, "--json"], cwd=example_kb
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["completed"] == 1
    assert "[batch 1] Thinking." in done.stderr.splitlines()


# --- the same logical review, through a runner and through the split path ---------------------

# Columns that differ by construction between two stores and two media.
VARYING = {
    "review_runs": {
        "id",
        "batch_id",
        "runner",
        "started_at",
        "completed_at",
        "telemetry_json",
        "debug_log",
        "host",
        "pid",
        "owner_started_at",  # the owner and its lease: the runner path has one
        "lease_expires_at",
        "raw_bundle_markdown",
        "raw_bundle_markdown_z",
        "uid",
    },
    "review_run_gates": {"review_run_id"},
    "gate_reviews": {"id", "review_run_id", "reviewed_at", "uid"},
    "acceptance_events": {"id", "accepted_review_id", "accepted_at", "uid"},
    "snapshots": set(),
}


def logical_rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table, varying in VARYING.items():
        names = columns(db, table)
        kept = [
            {n: v for n, v in zip(names, row, strict=True) if n not in varying}
            for row in rows(db, f"SELECT {', '.join(names)} FROM {table}")
        ]
        found[table] = sorted(kept, key=lambda r: json.dumps(r, sort_keys=True))
    return found


def stand_in_text(kb: Path, note: str, gate: str) -> str:
    """What the stand-in reviewer writes for one pair (its two-argument mode)."""
    gate_file = f"kb/instructions/review-gates/{gate}.md"
    done = subprocess.run(
        [sys.executable, "tools/stand-in-reviewer.py", note, gate_file],
        cwd=kb,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def both_paths(cli: Cli, kb: Path, new_db: Callable[[str], Path], model: str) -> tuple[Path, Path]:
    """One review of a note's five gates (one of them WARN) through the stand-in
    command runner, and the same texts through the split path; (runner store,
    split store)."""
    runner_db, split_db = new_db("runner"), new_db("split")
    done = cli(
        "run-review-bundle",
        SAME_NOTE,
        "claims",
        "clarity",
        "metadata",
        *("--runner", "stand-in", "--model", model, "--db", str(runner_db), "--json", "--quiet"),
        cwd=kb,
    )
    assert done.code == 0, done.err
    assert json.loads(done.out)["completed"] == 1

    created = cli(
        "create-review-run",
        SAME_NOTE,
        "claims",
        "clarity",
        "metadata",
        *("--runner", "live-agent", "--model", model, "--db", str(split_db), "--json"),
        cwd=kb,
    )
    assert created.code == 0, created.err
    run = json.loads(created.out)
    for gate in run["gate_ids"]:
        written = cli(
            "write-gate-review",
            *("--review-run-id", str(run["review_run_id"]), "--gate", gate, "--db", str(split_db)),
            cwd=kb,
            stdin=stand_in_text(kb, SAME_NOTE, gate),
        )
        assert written.code == 0, written.err
    final = cli(
        "finalize-review-run",
        "--review-run-id",
        str(run["review_run_id"]),
        "--db",
        str(split_db),
        cwd=kb,
    )
    assert final.code == 0, final.err
    return runner_db, split_db


def test_the_runner_path_leaves_the_split_paths_rows(
    cli: Cli, example_kb: Path, new_db: Callable[[str], Path]
):
    model = "claude-opus-4-6"
    runner_db, split_db = both_paths(cli, example_kb, new_db, model)
    via_runner, via_split = logical_rows(runner_db), logical_rows(split_db)
    assert len(via_runner["gate_reviews"]) == 5 and len(via_runner["acceptance_events"]) == 5
    assert sorted(r["decision"] for r in via_runner["gate_reviews"]) == ["pass"] * 4 + ["warn"]
    assert any(r["findings_json"] != "[]" for r in via_runner["gate_reviews"])
    assert {r["model_id"] for r in via_runner["acceptance_events"]} == {model}
    assert {r["status"] for r in via_runner["review_runs"]} == {"completed"}
    for table in VARYING:
        assert via_runner[table] == via_split[table], table


def test_the_split_path_keeps_the_runs_canonical_document_too(
    cli: Cli, example_kb: Path, new_db: Callable[[str], Path]
):
    runner_db, split_db = both_paths(cli, example_kb, new_db, "claude-opus-4-6")
    documents = [
        (run_id, stored_text(db, "review_runs", "raw_bundle_markdown", run_id))
        for db in (runner_db, split_db)
        for ((run_id,),) in [rows(db, "SELECT id FROM review_runs")]
    ]
    (runner_id, runner_doc), (split_id, split_doc) = documents
    assert runner_doc is not None and f"Review run id: {runner_id}" in runner_doc
    assert split_doc is not None
    # the same document but for the run id and the batch's token
    runner_token, split_token = (
        one(db, "SELECT boundary_token FROM review_batches") for db in (runner_db, split_db)
    )
    assert runner_token in runner_doc and split_token in split_doc
    assert split_doc.replace(f"Review run id: {split_id}", "").replace(
        split_token, "<token>"
    ) == runner_doc.replace(f"Review run id: {runner_id}", "").replace(runner_token, "<token>")


def test_review_sweep_shows_a_progress_bar_when_stderr_is_a_terminal(example_kb: Path) -> None:
    """On a real pseudo-terminal: one bar line per finished batch, ending
    with a newline; stdout (a pipe) has only the report."""
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [console_script("commonplace-review-sweep"), "--runner", "stand-in", "--model", "demo"],
            cwd=example_kb,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
            check=False,
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0, seen.decode()
    bars = seen.decode().replace("\r\n", "\n").split("\r")  # the terminal adds \r to \n
    batches = len(rows(store_of(example_kb), "SELECT id FROM review_batches"))
    assert batches > 1
    assert f"] {batches}/{batches} batches, {batches} completed, 0 failed" in bars[-1]
    assert sum(" batches, " in bar for bar in bars) == batches + 1  # each batch, then final
    assert "batches" not in done.stdout.decode().split("\n")[-2]  # the report is on stdout
