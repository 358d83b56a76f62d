"""`execute_batch` through real child processes: a fake reviewer configured as
a `[runners.<name>]` command runner in a temporary copy of the example KB.

Every test ends with every run final and `review-store check` passing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers.commands import Result
from helpers.fake_runners import add_reviewer, alive, calls, configure, pairs_in, pids, prompt
from helpers.store import ABBREV, DATE, FROST, OVERREACH, REPEATS, SEEDS, TAGS, make_plan

from commonplace.cli.progress import LinePrinter
from commonplace.lifecycle import Packing
from commonplace.protocol.prompt import prompt_token
from commonplace.runners import get_runner
from commonplace.runners.base import Failure, FailureKind
from commonplace.services import executor
from commonplace.services.execution import Cancel, RunnerCall
from commonplace.services.executor import (
    FOLLOW_UP_MARK,
    RETRY_PROMPT,
    BatchResult,
    execute_batch,
)
from commonplace.store.packing import unpack
from commonplace.workspace import Workspace, open_workspace

MODEL = "fake-model"  # no alias: the partition is the name itself
CLARITY = [REPEATS, ABBREV]
THREE_NOTES = [(FROST, [OVERREACH, TAGS]), (SEEDS, [OVERREACH, TAGS]), (DATE, [OVERREACH, TAGS])]


# --- helpers ---------------------------------------------------------------------------------


class Batch:
    """One batch executed through the fake reviewer, and the store it wrote."""

    def __init__(
        self,
        kb: Path,
        tmp_path: Path,
        *options: str,
        requests: Sequence[tuple[str, Sequence[str]]] = ((FROST, CLARITY),),
        name: str = "fake",
        model: str = MODEL,
        effort: str | None = None,
        timeout: float | None = 30,
        retry_missing: bool = True,
        cancel: Cancel | None = None,
        echo: Any = None,
        install: bool = True,
    ) -> None:
        self.kb = kb
        self.state = tmp_path / f"state-{name}"
        if install:
            add_reviewer(kb, name, self.state, *options)
        self.db = tmp_path / "db" / "store.sqlite"
        self.ws: Workspace = open_workspace(db=self.db, cwd=kb)
        self.partition = self.ws.partition(model, effort)
        self.call = RunnerCall(
            adapter=get_runner(self.ws.config, name),
            model=model,
            partition=self.partition,
            timeout=timeout,
            retry_missing=retry_missing,
        )
        self.plan = make_plan(kb, requests)
        self.cancel, self.echo = cancel, echo

    def run(self) -> BatchResult:
        return execute_batch(
            self.ws.config,
            self.ws.store,
            self.plan,
            self.call,
            packing=Packing.NOTE if len(self.plan.targets) == 1 else Packing.EXPLICIT,
            cancel=self.cancel,
            echo=self.echo,
        )

    def token(self, batch_id: int) -> str:
        """The boundary token the store drew for the batch."""
        ((token,),) = self.rows(
            "SELECT boundary_token FROM review_batches WHERE id = ?", (batch_id,)
        )
        return str(token)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def text(self, table: str, column: str, row_id: int | None = None) -> Any:
        """A text the store may keep compressed, as the store reads it (the
        first row when `row_id` is None)."""
        where = "" if row_id is None else f" WHERE id = {int(row_id)}"
        found = self.rows(f"SELECT {column}, {column}_z FROM {table}{where} ORDER BY id LIMIT 1")
        return unpack(*found[0])

    def runs(self) -> dict[str, tuple[Any, ...]]:
        """note path -> (id, status, failure_reason, model_id, rekeyed_from)."""
        found = self.rows(
            "SELECT note_path, id, status, failure_reason, model_id, rekeyed_from FROM review_runs"
        )
        return {r[0]: r[1:] for r in found}

    def batch_dir(self, batch_id: int) -> Path:
        return self.kb / "kb" / "reports" / "bundle-reviews" / f"review-batch-{batch_id}"


def assert_settled(cli: Any, batch: Batch) -> None:
    """Nothing left running, and the store's invariants hold."""
    assert batch.rows("SELECT id FROM review_runs WHERE status = 'running'") == []
    checked: Result = cli("review-store", "check", "--db", str(batch.db), "--json", cwd=batch.kb)
    assert checked.code == 0, checked.out + checked.err
    assert json.loads(checked.out)["violations"] == []


def reasons(result: BatchResult) -> dict[int, str]:
    return dict(result.failed)


# --- a clean batch ---------------------------------------------------------------------------


def test_one_note_two_gates_completes_with_its_records(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--model", MODEL, "--cost", "0.25")
    result = batch.run()

    (run_id,) = result.completed
    assert result.failed == [] and result.failure is None
    assert result.runner == "fake" and result.cost_usd == 0.25
    assert batch.runs()[FROST] == (run_id, "completed", None, MODEL, None)
    assert batch.rows("SELECT host, pid FROM review_runs") == [(os.uname().nodename, os.getpid())]
    assert sorted(batch.rows("SELECT gate_id, decision, model_id FROM gate_reviews")) == sorted(
        [(REPEATS, "pass", MODEL), (ABBREV, "pass", MODEL)]
    )
    accepted = batch.rows("SELECT gate_id, model_id, acceptance_kind FROM acceptance_events")
    assert sorted(accepted) == sorted([(g, MODEL, "full-review") for g in CLARITY])

    # the batch: its telemetry, debug log and raw output, once
    ((telemetry_json, prompt_sha, finished),) = batch.rows(
        "SELECT telemetry_json, prompt_sha256, finished_at FROM review_batches WHERE id = ?",
        (result.batch_id,),
    )
    debug_log = batch.text("review_batches", "debug_log", result.batch_id)
    raw_output = batch.text("review_batches", "raw_output", result.batch_id)
    telemetry = json.loads(telemetry_json)
    assert telemetry["model"] == MODEL and telemetry["cost_usd"] == 0.25
    assert telemetry["tokens"]["input"] == 1000 and telemetry["runner"] == "fake"
    assert "batch_id" not in telemetry
    assert "$ runner fake exited 0" in debug_log
    token = batch.token(result.batch_id)
    assert f"=== PAIR REVIEW START {token}: {FROST} :: {REPEATS} ===" in raw_output
    assert prompt_token(prompt(batch.state, 1)) == token
    assert finished is not None
    # each run: the batch's telemetry plus its batch and size
    (run_telemetry,) = batch.rows("SELECT telemetry_json FROM review_runs")
    per_run = json.loads(run_telemetry[0])
    assert per_run == {**telemetry, "batch_id": result.batch_id, "runs_in_batch": 1}

    # artifacts: a batch that went well writes its manifest only; the store
    # has the rest, and `review-store artifacts` writes the files from it
    directory = batch.batch_dir(result.batch_id)
    sent = prompt(batch.state, 1)
    assert os.listdir(directory) == ["manifest.json"]
    assert not (directory.parent / f"review-run-{run_id}").exists()
    assert hashlib.sha256(sent.encode("utf-8")).hexdigest() == prompt_sha
    assert f"Review run id: {run_id}" in sent
    assert pairs_in(sent) == [(FROST, REPEATS), (FROST, ABBREV)]
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["batch_id"] == result.batch_id and manifest["model_id"] == MODEL
    assert manifest["runs"] == [{"review_run_id": run_id, "note_path": FROST, "gate_ids": CLARITY}]
    assert manifest["prompt_sha256"] == prompt_sha and manifest["prompt_file"] is None
    again = cli(
        "review-store", "artifacts", "--batch", str(result.batch_id), "--db", str(batch.db),
        cwd=batch.kb,
    )  # fmt: skip
    assert again.code == 0, again.err
    assert (directory / "bundle-output.md").read_text(encoding="utf-8") == raw_output
    run_dir = directory.parent / f"review-run-{run_id}"
    assert "clarity__undefined-abbreviation.md" in os.listdir(run_dir)
    assert (run_dir / "bundle-output.md").exists()
    assert not (directory / RETRY_PROMPT).exists()
    assert len(calls(batch.state)) == 1
    assert_settled(cli, batch)


def test_the_runner_gets_the_model_flags_and_a_telemetry_file(example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, model="fake-model", effort="high")
    batch.run()
    env = json.loads((batch.state / "env-1.json").read_text(encoding="utf-8"))
    assert env["COMMONPLACE_MODEL"] == "fake-model"
    assert env["COMMONPLACE_EFFORT"] == "high"
    assert env["COMMONPLACE_TELEMETRY_FILE"]
    assert not Path(env["COMMONPLACE_TELEMETRY_FILE"]).exists()  # read and removed


def test_a_runner_without_telemetry_leaves_wall_time_only(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path)
    result = batch.run()
    assert result.completed and result.cost_usd is None
    ((telemetry_json,),) = batch.rows("SELECT telemetry_json FROM review_batches")
    telemetry = json.loads(telemetry_json)
    assert telemetry["model"] is None and telemetry["sources"] == []
    assert batch.runs()[FROST][3:] == (MODEL, None)  # nothing to rekey to
    assert batch.rows("SELECT COUNT(*) FROM model_alias_resolutions") == [(0,)]
    assert_settled(cli, batch)


# --- re-asking for missing pairs -------------------------------------------------------------


def test_a_pair_missing_the_first_time_is_asked_for_alone(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--omit-first", ABBREV, "--cost", "0.5", "--model", MODEL)
    result = batch.run()

    assert result.failed == [] and len(result.completed) == 1
    assert len(calls(batch.state)) == 2
    follow_up = prompt(batch.state, 2)
    assert pairs_in(prompt(batch.state, 1)) == [(FROST, REPEATS), (FROST, ABBREV)]
    assert pairs_in(follow_up) == [(FROST, ABBREV)]
    assert f"Review run id: {result.completed[0]}" in follow_up
    directory = batch.batch_dir(result.batch_id)
    assert (directory / RETRY_PROMPT).read_text(encoding="utf-8") == follow_up
    assert sorted(g for (g,) in batch.rows("SELECT gate_id FROM gate_reviews")) == sorted(CLARITY)
    # one batch telemetry over both calls, each call kept; both outputs kept
    ((telemetry_json,),) = batch.rows("SELECT telemetry_json FROM review_batches")
    raw_output = batch.text("review_batches", "raw_output")
    telemetry = json.loads(telemetry_json)
    assert telemetry["cost_usd"] == 1.0 and result.cost_usd == 1.0
    assert telemetry["tokens"]["input"] == 2000
    assert len(telemetry["calls"]) == 2 and telemetry["model"] == MODEL
    assert FOLLOW_UP_MARK.strip() in raw_output
    token = batch.token(result.batch_id)
    assert raw_output.count(f"=== PAIR REVIEW START {token}:") == 2
    # the follow-up is the same batch: same token, read with the same grammar
    assert prompt_token(prompt(batch.state, 1)) == prompt_token(follow_up) == token
    assert_settled(cli, batch)


def test_without_retry_a_missing_pair_fails_the_run(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--omit-first", ABBREV, retry_missing=False)
    result = batch.run()
    assert result.completed == []
    assert list(reasons(result).values()) == [f"missing pair reviews: {ABBREV}"]
    assert len(calls(batch.state)) == 1
    assert batch.rows("SELECT COUNT(*) FROM acceptance_events") == [(0,)]
    assert_settled(cli, batch)


def test_a_pair_missing_twice_fails_the_run_naming_it(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--omit", ABBREV)
    result = batch.run()
    assert len(calls(batch.state)) == 2
    assert pairs_in(prompt(batch.state, 2)) == [(FROST, ABBREV)]
    assert list(reasons(result).values()) == [f"missing pair reviews: {ABBREV}"]
    assert batch.rows("SELECT COUNT(*) FROM acceptance_events") == [(0,)]
    assert_settled(cli, batch)


def test_one_missing_pair_in_three_notes_fails_only_its_run(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--omit", f"{SEEDS} :: {TAGS}", requests=THREE_NOTES)
    result = batch.run()

    runs = batch.runs()
    assert runs[FROST][1] == runs[DATE][1] == "completed"
    assert runs[SEEDS][1:3] == ("failed", f"missing pair reviews: {TAGS}")
    assert sorted(result.completed) == sorted([runs[FROST][0], runs[DATE][0]])
    assert pairs_in(prompt(batch.state, 2)) == [(SEEDS, TAGS)]
    follow_up = prompt(batch.state, 2)
    assert f"### Note {SEEDS}" in follow_up and f"### Note {FROST}" not in follow_up
    # the failed run keeps the blocks that did arrive, without accepting them
    document = batch.text("review_runs", "raw_bundle_markdown", runs[SEEDS][0])
    assert f"{SEEDS} :: {OVERREACH}" in document
    accepted = batch.rows("SELECT DISTINCT note_path FROM acceptance_events ORDER BY 1")
    assert accepted == sorted([(FROST,), (DATE,)])
    for (telemetry_json,) in batch.rows("SELECT telemetry_json FROM review_runs"):
        assert json.loads(telemetry_json)["runs_in_batch"] == 3
        assert json.loads(telemetry_json)["batch_id"] == result.batch_id
    assert_settled(cli, batch)


# --- runner faults ---------------------------------------------------------------------------


def test_malformed_output_fails_every_run(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--malformed", requests=THREE_NOTES[:2])
    result = batch.run()
    assert result.completed == [] and len(result.failed) == 2
    for reason in reasons(result).values():
        assert reason.startswith("malformed output: "), reason
    assert len(calls(batch.state)) == 1  # an untrustworthy output is not re-asked
    raw = batch.text("review_batches", "raw_output")
    assert "Cut short." in raw  # kept for inspection, in the store and as files
    directory = batch.batch_dir(result.batch_id)
    assert "Cut short." in (directory / "bundle-output.md").read_text(encoding="utf-8")
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    sent = (batch.kb / manifest["prompt_file"]).read_text(encoding="utf-8")
    assert sent == prompt(batch.state, 1)
    assert batch.rows("SELECT COUNT(*) FROM gate_reviews") == [(0,)]
    assert_settled(cli, batch)


def test_a_nonzero_exit_with_complete_output_still_completes(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--exit", "3", "--stderr", "a warning at exit")
    result = batch.run()
    assert len(result.completed) == 1 and result.failed == []
    assert result.failure is not None and result.failure.kind is FailureKind.CRASH
    debug_log = batch.text("review_batches", "debug_log")
    assert "exited 3" in debug_log and "a warning at exit" in debug_log
    assert_settled(cli, batch)


def test_a_crash_with_partial_output_is_asked_again(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--omit-first", ABBREV, "--exit", "3")
    result = batch.run()
    assert len(calls(batch.state)) == 2
    assert pairs_in(prompt(batch.state, 2)) == [(FROST, ABBREV)]
    assert len(result.completed) == 1
    assert_settled(cli, batch)


def test_a_crash_without_output_fails_every_run_naming_the_exit(
    cli, example_kb: Path, tmp_path: Path
):
    batch = Batch(
        example_kb, tmp_path, "--silent", "--exit", "3", "--stderr", "boom", requests=THREE_NOTES
    )
    result = batch.run()
    assert result.completed == [] and len(result.failed) == 3
    for reason in reasons(result).values():
        assert "exited 3" in reason and "boom" in reason, reason
        assert "missing pair reviews" in reason
    assert len(calls(batch.state)) == 1  # nothing arrived: no follow-up call
    assert_settled(cli, batch)


def test_a_timeout_fails_the_runs_and_stops_the_runner(cli, example_kb: Path, tmp_path: Path):
    batch = Batch(example_kb, tmp_path, "--sleep", "60", timeout=1)
    result = batch.run()
    assert result.failure is not None and result.failure.kind is FailureKind.TIMEOUT
    (reason,) = reasons(result).values()
    assert reason.startswith("timed out after 1 s"), reason
    (pid,) = pids(batch.state)
    assert not alive(pid)
    assert_settled(cli, batch)


def test_a_missing_binary_fails_the_runs_naming_it(cli, example_kb: Path, tmp_path: Path):
    configure(example_kb, {"runners.ghost": {"command": ["/nonexistent/ghost-reviewer"]}})
    batch = Batch(example_kb, tmp_path, name="ghost", install=False, requests=THREE_NOTES[:2])
    result = batch.run()  # the version probe is bypassed: execute_batch meets the missing binary
    assert result.failure is not None and result.failure.kind is FailureKind.MISSING_BINARY
    assert len(result.failed) == 2
    for reason in reasons(result).values():
        assert "/nonexistent/ghost-reviewer" in reason and "not found" in reason, reason
    debug_log = batch.text("review_batches", "debug_log")
    assert "not found" in debug_log
    assert_settled(cli, batch)


def test_a_cancelled_batch_fails_with_the_cancel_reason(cli, example_kb: Path, tmp_path: Path):
    cancel = Cancel()
    cancel.set(Failure(FailureKind.USAGE_LIMIT, "stopped: batch 0 hit the usage limit"))
    batch = Batch(example_kb, tmp_path, "--sleep", "60", cancel=cancel)
    result = batch.run()
    assert result.usage_limited
    (reason,) = reasons(result).values()
    assert reason.startswith("usage exhausted: stopped: batch 0 hit the usage limit"), reason
    assert all(not alive(pid) for pid in pids(batch.state))
    assert_settled(cli, batch)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [(KeyboardInterrupt(), "interrupted"), (RuntimeError("bug"), "executor error: RuntimeError")],
    ids=["ctrl-c", "bug"],
)
def test_an_exception_fails_the_runs_and_is_raised_again(
    cli, example_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised, expected
):
    def explode(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(executor, "settle_runs", explode)
    batch = Batch(example_kb, tmp_path, requests=THREE_NOTES[:2])
    with pytest.raises(type(raised)):
        batch.run()
    found = batch.rows("SELECT status, failure_reason FROM review_runs")
    assert len(found) == 2
    assert all(status == "failed" and reason.startswith(expected) for status, reason in found)
    assert_settled(cli, batch)


# --- rekeying to the model that served the batch ---------------------------------------------


@pytest.mark.parametrize(
    ("effort", "actual"), [(None, "other-model-9"), ("high", "other-model-9-high")]
)
def test_runs_are_rekeyed_to_the_model_the_telemetry_names(
    cli, example_kb: Path, tmp_path: Path, effort: str | None, actual: str
):
    batch = Batch(example_kb, tmp_path, "--model", "Other Model 9", effort=effort)
    requested = batch.partition.model_id
    assert requested == ("fake-model-high" if effort else "fake-model")
    result = batch.run()

    (run_id,) = result.completed
    assert batch.runs()[FROST] == (run_id, "completed", None, actual, requested)
    assert {m for (m,) in batch.rows("SELECT model_id FROM gate_reviews")} == {actual}
    assert {m for (m,) in batch.rows("SELECT model_id FROM acceptance_events")} == {actual}
    resolutions = batch.rows(
        "SELECT requested_model, requested_effort, resolved_model, resolved_model_id, batch_id"
        " FROM model_alias_resolutions"
    )
    assert resolutions == [(MODEL, effort, "other-model-9", actual, result.batch_id)]
    # asking again with the same flags looks at the partition actually written
    flags = ["--model", MODEL, *(["--effort", effort] if effort else [])]
    selected = cli(
        "review-target-selector",
        "clarity",
        *flags,
        *("--note", FROST, "--db", str(batch.db), "--json"),
        cwd=example_kb,
    )
    assert selected.code == 0, selected.err
    assert json.loads(selected.out) == []
    assert_settled(cli, batch)


@pytest.mark.parametrize(
    "options",
    [
        ("--cost", "0.1"),
        ("--telemetry", json.dumps({"models": ["model-a", "model-b"]})),
        ("--omit-first", ABBREV, "--model", "model-a", "--model", "model-b"),
    ],
    ids=["no-model", "two-models", "two-calls-two-models"],
)
def test_runs_are_not_rekeyed_without_one_served_model(
    cli, example_kb: Path, tmp_path: Path, options: tuple[str, ...]
):
    batch = Batch(example_kb, tmp_path, *options)
    result = batch.run()
    assert len(result.completed) == 1
    assert batch.runs()[FROST][3:] == (MODEL, None)
    assert {m for (m,) in batch.rows("SELECT model_id FROM acceptance_events")} == {MODEL}
    assert batch.rows("SELECT COUNT(*) FROM model_alias_resolutions") == [(0,)]
    assert_settled(cli, batch)


def test_telemetry_naming_several_models_is_not_rekeyed_even_with_a_model(
    cli, example_kb: Path, tmp_path: Path
):
    """SPEC 4: a run whose telemetry shows several main models is not rekeyed."""
    telemetry = {"model": "model-a", "models": ["model-a", "model-b"]}
    batch = Batch(example_kb, tmp_path, "--telemetry", json.dumps(telemetry))
    batch.run()
    assert batch.runs()[FROST][3:] == (MODEL, None)
    assert_settled(cli, batch)


# --- live output -----------------------------------------------------------------------------


def test_live_text_goes_to_the_echo_prefixed_per_batch(example_kb: Path, tmp_path: Path):
    stream = io.StringIO()
    batch = Batch(
        example_kb,
        tmp_path,
        "--prose",
        "Looking at the note.\n",
        echo=lambda batch_id: LinePrinter(f"[batch {batch_id}] ", stream),
    )
    result = batch.run()
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"[batch {result.batch_id}] Looking at the note."
    token = batch.token(result.batch_id)
    end = f"=== PAIR REVIEW END {token}: {FROST} :: {ABBREV} ==="
    assert f"[batch {result.batch_id}] {end}" in lines
    assert all(line.startswith(f"[batch {result.batch_id}] ") for line in lines)


def test_the_line_printer_writes_whole_lines_only():
    stream = io.StringIO()
    printer = LinePrinter("[batch 7] ", stream)
    printer("half a ")
    assert stream.getvalue() == ""
    printer("line\nand more")
    assert stream.getvalue() == "[batch 7] half a line\n"
    printer.flush()
    assert stream.getvalue() == "[batch 7] half a line\n[batch 7] and more\n"
