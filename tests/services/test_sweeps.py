"""The packings that review through a runner (`run-gate-sweep`, `review-sweep`,
and their dry runs), driven in-process through the `cli` fixture with fake
reviewers running as real child processes, plus the library entry points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.backends import PgTarget
from helpers.commands import Result
from helpers.db import rows as store_rows
from helpers.db import store_of
from helpers.fake_runners import (
    USAGE_LIMIT_MESSAGE,
    add_codex,
    add_reviewer,
    alive,
    calls,
    configure,
    pairs_in,
    pids,
    prompt,
    started,
)
from helpers.store import ABBREV, DATE, FROST, OVERREACH, REPEATS, SEEDS, TAGS, make_plan

from commonplace.errors import UsageError
from commonplace.lifecycle import Packing
from commonplace.services.sweeps import (
    SweepOptions,
    execute_plans,
    prepare_runner,
    review_sweep,
    run_gate_sweep,
)
from commonplace.workspace import open_workspace

pytestmark = pytest.mark.both_backends

MODEL = "fake-model"
RUN = ("--runner", "fake", "--model", MODEL)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "fake-state"


def rows(kb: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return store_rows(store_of(kb), sql, params)


def sweep(cli: Any, kb: Path, *args: str, command: str = "review-sweep") -> tuple[Result, Any]:
    """The command with `--json`; (result, payload)."""
    result = cli(command, *args, "--json", cwd=kb)
    assert "Traceback" not in result.err, result.err
    return result, json.loads(result.out)


def stale(cli: Any, kb: Path, *args: str) -> set[tuple[str, str]]:
    result = cli("review-target-selector", *args, "--json", cwd=kb)
    assert result.code == 0, result.err
    return {(p["note_path"], p["gate_id"]) for p in json.loads(result.out)}


def reviewed_pairs(kb: Path, batch_ids: list[int]) -> list[tuple[str, str]]:
    marks = ", ".join("?" * len(batch_ids))
    return sorted(
        rows(
            kb,
            "SELECT v.note_path, v.gate_id FROM gate_reviews v JOIN review_runs r"
            f" ON r.id = v.review_run_id WHERE r.batch_id IN ({marks})",
            tuple(batch_ids),
        )
    )


def assert_store_checks(cli: Any, kb: Path) -> None:
    assert rows(kb, "SELECT id FROM review_runs WHERE status = 'running'") == []
    checked = cli("review-store", "check", "--json", cwd=kb)
    assert checked.code == 0, checked.out + checked.err
    assert json.loads(checked.out)["violations"] == []


# --- run-gate-sweep --------------------------------------------------------------------------


def test_gate_sweep_packs_notes_and_stores_telemetry_once_per_batch(
    cli, example_kb: Path, state: Path
):
    add_reviewer(example_kb, "fake", state, "--cost", "0.25", "--model", MODEL)
    result, payload = sweep(
        cli,
        example_kb,
        OVERREACH,
        *("--note", FROST, SEEDS, DATE, "--batch-size", "2", *RUN, "--quiet"),
        command="run-gate-sweep",
    )
    assert result.code == 0, result.err
    assert payload["completed"] == 3 and payload["failed"] == 0
    assert [len(b["completed"]) for b in payload["batches"]] == [2, 1]
    assert all(b["runner"] == "fake" and b["failed"] == [] for b in payload["batches"])
    assert payload["cost_usd"] == 0.5
    assert [pairs_in(prompt(state, n)) for n in (1, 2)] in (
        [[(FROST, OVERREACH), (SEEDS, OVERREACH)], [(DATE, OVERREACH)]],
        [[(DATE, OVERREACH)], [(FROST, OVERREACH), (SEEDS, OVERREACH)]],
    )
    batches = rows(example_kb, "SELECT packing, telemetry_json FROM review_batches ORDER BY id")
    assert [packing for packing, _ in batches] == ["gate", "gate"]
    assert all(telemetry is not None for _, telemetry in batches)
    # summed over batches each call counts once; each run knows its share
    assert sum(json.loads(t)["cost_usd"] for _, t in batches) == 0.5
    per_run = [json.loads(t) for (t,) in rows(example_kb, "SELECT telemetry_json FROM review_runs")]
    assert sorted(t["runs_in_batch"] for t in per_run) == [1, 2, 2]
    assert sum(t["cost_usd"] / t["runs_in_batch"] for t in per_run) == 0.5
    assert_store_checks(cli, example_kb)


def test_gate_sweep_stale_only_skips_fresh_notes(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    notes = ("--note", FROST, SEEDS, DATE)
    first, _ = sweep(cli, example_kb, OVERREACH, "--note", FROST, *RUN, command="run-gate-sweep")
    assert first.code == 0, first.err
    result, payload = sweep(
        cli, example_kb, OVERREACH, *notes, "--stale-only", *RUN, command="run-gate-sweep"
    )
    assert result.code == 0, result.err
    assert payload["completed"] == 2 and len(payload["batches"]) == 1
    assert pairs_in(prompt(state, 2)) == [(SEEDS, OVERREACH), (DATE, OVERREACH)]
    again, _ = sweep(
        cli, example_kb, OVERREACH, *notes, "--stale-only", *RUN, command="run-gate-sweep"
    )
    assert again.code == 1 and "error: no notes to review against" in again.err


def test_gate_sweep_reports_notes_the_gate_does_not_apply_to(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    claim_gate = "claims/title-states-a-claim"  # FROST lacks the title-as-claim trait
    result, payload = sweep(
        cli, example_kb, claim_gate, "--note", FROST, SEEDS, *RUN, command="run-gate-sweep"
    )
    assert result.code == 0, result.err
    assert payload["completed"] == 1
    assert [(s["note_path"], s["gate_id"]) for s in payload["skipped"]] == [(FROST, claim_gate)]


# --- review-sweep ------------------------------------------------------------------------------


def test_review_sweep_reviews_exactly_the_stale_pairs_one_batch_per_note_and_lens(
    cli, example_kb: Path, state: Path
):
    add_reviewer(example_kb, "fake", state)
    bundle = cli("run-review-bundle", FROST, "clarity", *RUN, "--quiet", cwd=example_kb)
    assert bundle.code == 0, bundle.err
    notes = ("--note", FROST, SEEDS)
    wanted = stale(cli, example_kb, "--all-gates", "--model", MODEL, *notes)
    assert (FROST, REPEATS) not in wanted and (SEEDS, REPEATS) in wanted

    result, payload = sweep(cli, example_kb, *RUN, *notes)
    assert result.code == 0, result.err
    batch_ids = [b["batch_id"] for b in payload["batches"]]
    assert set(reviewed_pairs(example_kb, batch_ids)) == wanted
    assert len(reviewed_pairs(example_kb, batch_ids)) == len(wanted)
    groups = {(note, gate.split("/")[0]) for note, gate in wanted}
    # FROST: claims, metadata, type (clarity was reviewed); SEEDS: those and clarity.
    assert {lens for _, lens in groups} == {"claims", "clarity", "metadata", "type"}
    assert len(batch_ids) == len(groups) == 7
    assert payload["completed"] == 7 and payload["failed"] == 0
    for batch_id in batch_ids:
        found = rows(
            example_kb,
            "SELECT r.note_path, g.gate_id FROM review_runs r JOIN review_run_gates g"
            " ON g.review_run_id = r.id WHERE r.batch_id = ?",
            (batch_id,),
        )
        assert len({note for note, _ in found}) == 1
        assert len({gate.split("/")[0] for _, gate in found}) == 1
    assert stale(cli, example_kb, "--all-gates", "--model", MODEL, *notes) == set()

    again, payload = sweep(cli, example_kb, *RUN, *notes)
    assert again.code == 0, again.err
    assert payload["batches"] == [] and payload["completed"] == 0
    assert started(state) == 8  # the bundle and seven batches; nothing more
    assert_store_checks(cli, example_kb)


def test_review_sweep_grouped_per_note(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    result, payload = sweep(cli, example_kb, *RUN, "--note", FROST, SEEDS, "--group", "note")
    assert result.code == 0, result.err
    assert len(payload["batches"]) == 2 and payload["completed"] == 2
    gates_per_run = rows(
        example_kb,
        "SELECT note_path, COUNT(*) FROM review_run_gates g JOIN review_runs r"
        " ON r.id = g.review_run_id GROUP BY 1 ORDER BY 1",
    )
    assert gates_per_run == [(FROST, 5), (SEEDS, 6)]  # each with its type/note


def test_review_sweep_jobs_run_batches_at_the_same_time(cli, example_kb: Path, state: Path):
    # each call waits until three have started: run one at a time, they never would
    add_reviewer(example_kb, "fake", state, "--barrier", "3")
    result, payload = sweep(
        cli, example_kb, "clarity", *RUN, "--note", FROST, SEEDS, DATE, "--jobs", "3"
    )
    assert result.code == 0, result.err
    assert payload["completed"] == 3
    intervals = [(c["start"], c["end"]) for c in calls(state)]
    assert len(intervals) == 3
    assert max(start for start, _ in intervals) < min(end for _, end in intervals)


def test_review_sweep_max_batches(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    args = ("clarity", *RUN, "--note", FROST, SEEDS, DATE, "--jobs", "1", "--max-batches", "2")
    result, payload = sweep(cli, example_kb, *args)
    assert result.code == 0, result.err
    assert len(payload["batches"]) == 2 and payload["completed"] == 2
    assert payload["not_launched"] == 1
    assert payload["stopped"] == "--max-batches 2 reached"
    assert rows(example_kb, "SELECT COUNT(*) FROM review_batches") == [(2,)]
    assert started(state) == 2


def test_review_sweep_stops_launching_once_the_budget_is_spent(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state, "--cost", "1.0")
    args = ("clarity", *RUN, "--note", FROST, SEEDS, DATE, "--jobs", "1", "--max-cost-usd", "1.5")
    result, payload = sweep(cli, example_kb, *args)
    assert result.code == 0, result.err
    assert len(payload["batches"]) == 2 and payload["cost_usd"] == 2.0
    assert payload["not_launched"] == 1
    assert payload["stopped"].startswith("--max-cost-usd 1.5 spent")
    assert rows(example_kb, "SELECT COUNT(*) FROM review_batches") == [(2,)]


def test_a_usage_limit_stops_the_sweep(cli, example_kb: Path, state: Path):
    add_codex(example_kb, state, limit_from=2)
    args = ("clarity", "--runner", "codex", "--model", "gpt-5.5", "--note", FROST, SEEDS, DATE)
    result, payload = sweep(cli, example_kb, *args, "--jobs", "1")

    assert result.code == 75, result.err
    assert "error: usage limit reached" in result.err
    assert payload["usage_limited"] is True and payload["stopped"] == "usage limit reached"
    assert payload["not_launched"] == 1 and payload["completed"] == 1 and payload["failed"] == 1
    assert rows(example_kb, "SELECT COUNT(*) FROM review_batches") == [(2,)]  # no third launch
    assert started(state) == 2
    ((reason,),) = rows(example_kb, "SELECT failure_reason FROM review_runs WHERE status='failed'")
    assert reason.startswith(f"usage exhausted: {USAGE_LIMIT_MESSAGE}"), reason
    # the codex command line and the version asked once per command
    argv = json.loads((state / "argv-1.json").read_text(encoding="utf-8"))
    assert argv[:2] == ["exec", "--json"] and argv[-1] == "-"
    assert argv[argv.index("--model") + 1] == "gpt-5.5"
    assert argv[argv.index("--sandbox") + 1] == "read-only"
    (telemetry,) = rows(example_kb, "SELECT telemetry_json FROM review_batches WHERE id = 1")[0]
    assert json.loads(telemetry)["cli_version"] == "codex-cli 0.0.0-fake"
    assert rows(example_kb, "SELECT DISTINCT model_id FROM review_runs") == [("gpt-5-5",)]
    assert_store_checks(cli, example_kb)


def test_a_usage_limit_stops_the_batches_in_flight(cli, example_kb: Path, state: Path):
    # both calls start; the first hits the limit, the second would hang
    add_codex(example_kb, state, barrier=2, limit_calls=1, sleep_calls=2)
    args = ("clarity", "--runner", "codex", "--model", "gpt-5.5", "--note", FROST, SEEDS, DATE)
    result, payload = sweep(cli, example_kb, *args, "--jobs", "2")

    assert result.code == 75, result.err
    assert payload["stopped"] == "usage limit reached" and payload["not_launched"] == 1
    assert payload["completed"] == 0 and payload["failed"] == 2
    reasons = sorted(r for (r,) in rows(example_kb, "SELECT failure_reason FROM review_runs"))
    assert len(reasons) == 2 and all(r.startswith("usage exhausted: ") for r in reasons)
    assert any(r.startswith(f"usage exhausted: {USAGE_LIMIT_MESSAGE}") for r in reasons)
    assert any("hit the usage limit" in r and "stopped: batch" in r for r in reasons), reasons
    assert not any(alive(pid) for pid in pids(state))
    assert_store_checks(cli, example_kb)


def test_an_observed_effort_becomes_the_partition_asked_for_next_time(
    cli, example_kb: Path, state: Path
):
    """codex served gpt-5.5 at xhigh effort although none was asked for: the
    runs are rekeyed to gpt-5-5-xhigh, and asking again without an effort
    looks at that partition (SPEC 4: the observed resolution)."""
    add_codex(example_kb, state, rollout_model="gpt-5.5", rollout_effort="xhigh")
    args = ("clarity", "--runner", "codex", "--model", "gpt-5.5", "--note", FROST)
    result, payload = sweep(cli, example_kb, *args)
    assert result.code == 0, result.err
    assert payload["model_id"] == "gpt-5-5" and payload["completed"] == 1
    assert rows(example_kb, "SELECT model_id, rekeyed_from FROM review_runs") == [
        ("gpt-5-5-xhigh", "gpt-5-5")
    ]
    assert {m for (m,) in rows(example_kb, "SELECT model_id FROM acceptance_events")} == {
        "gpt-5-5-xhigh"
    }
    assert rows(
        example_kb,
        "SELECT requested_model, requested_effort, resolved_model, resolved_model_id"
        " FROM model_alias_resolutions",
    ) == [("gpt-5-5", None, "gpt-5-5", "gpt-5-5-xhigh")]
    (telemetry,) = rows(example_kb, "SELECT telemetry_json FROM review_batches")[0]
    assert json.loads(telemetry)["sources"] == ["stream", "rollout"]
    assert stale(cli, example_kb, "clarity", "--model", "gpt-5.5", "--note", FROST) == set()

    again, payload = sweep(cli, example_kb, *args)
    assert again.code == 0, again.err
    assert payload["model_id"] == "gpt-5-5-xhigh" and payload["batches"] == []
    # an explicit effort is another partition, still to review
    assert (
        len(
            stale(
                cli,
                example_kb,
                "clarity",
                "--model",
                "gpt-5.5",
                "--effort",
                "high",
                "--note",
                FROST,
            )
        )
        == 2
    )


def test_review_sweep_skips_pairs_whose_gate_is_dirty(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    gate_file = example_kb / "kb/instructions/review-gates/clarity/undefined-abbreviation.md"
    gate_file.write_text(gate_file.read_text(encoding="utf-8") + "\nAn uncommitted line.\n")
    result, payload = sweep(cli, example_kb, "clarity", *RUN, "--note", FROST)
    assert result.code == 0, result.err
    assert payload["skipped"] == [
        {"note_path": FROST, "gate_id": ABBREV, "reason": "gate-dirty: commit the gate first"}
    ]
    assert payload["completed"] == 1
    assert rows(example_kb, "SELECT gate_id FROM gate_reviews") == [(REPEATS,)]
    assert pairs_in(prompt(state, 1)) == [(FROST, REPEATS)]
    text = cli("review-sweep", "clarity", *RUN, "--note", FROST, cwd=example_kb)
    assert f"skipped {FROST} :: {ABBREV}: gate-dirty" in text.out


def test_review_sweep_with_nothing_stale(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    result, payload = sweep(cli, example_kb, "clarity", *RUN, "--note", FROST)
    assert result.code == 0
    result, payload = sweep(cli, example_kb, "clarity", *RUN, "--note", FROST)
    assert result.code == 0, result.err
    assert payload["batches"] == [] and payload["failed"] == 0 and payload["stopped"] is None


def test_a_failed_run_makes_the_sweep_exit_1(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state, "--omit", ABBREV)
    result, payload = sweep(cli, example_kb, "clarity", *RUN, "--note", FROST, SEEDS)
    assert result.code == 1
    assert payload["completed"] == 0 and payload["failed"] == 2
    failed = [f for b in payload["batches"] for f in b["failed"]]
    assert all(f["reason"] == f"missing pair reviews: {ABBREV}" for f in failed)
    assert "Traceback" not in result.err


# --- dry runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("review-sweep", "clarity", "--note", FROST, SEEDS),
        ("run-review-bundle", FROST, "clarity"),
        ("run-gate-sweep", REPEATS, "--note", FROST, SEEDS),
    ],
    ids=["review-sweep", "run-review-bundle", "run-gate-sweep"],
)
def test_a_dry_run_prints_prompts_and_touches_nothing(
    cli, example_kb: Path, state: Path, command: tuple[str, ...]
):
    add_reviewer(example_kb, "fake", state)
    name, *args = command
    text = cli(name, *args, *RUN, "--dry-run", "--show-prompts", cwd=example_kb)
    assert text.code == 0, text.err
    assert "## Requested pairs" in text.out and "=== dry run: batch 1 of" in text.out
    assert "Review run id: 0" in text.out
    shown = ("--dry-run", "--show-prompts")
    result, payload = sweep(cli, example_kb, *args, *RUN, *shown, command=name)
    assert result.code == 0, result.err
    assert payload["dry_run"] is True and payload["model_id"] == MODEL
    batch = payload["batches"][0]
    assert batch["notes"][0] == FROST
    assert f"{FROST} :: {REPEATS}" in batch["pairs"]
    assert "## Requested pairs" in batch["prompt"]
    assert not store_of(example_kb).exists()
    assert not (example_kb / "kb" / "reports").exists()
    assert started(state) == 0


def test_a_dry_run_needs_no_runner_binary(cli, example_kb: Path):
    configure(example_kb, {"runners.codex": {"binary": "/nonexistent/codex"}})
    args = ("clarity", "--runner", "codex", "--model", "gpt-5.5", "--note", FROST, "--dry-run")
    result, payload = sweep(cli, example_kb, *args)
    assert result.code == 0, result.err
    assert payload["dry_run"] is True and len(payload["batches"]) == 1
    assert not (example_kb / "kb" / "reports").exists()


def test_a_dry_run_reports_what_max_batches_holds_back(cli, example_kb: Path, state: Path):
    add_reviewer(example_kb, "fake", state)
    args = ("clarity", *RUN, "--note", FROST, SEEDS, DATE, "--max-batches", "1", "--dry-run")
    result, payload = sweep(cli, example_kb, *args)
    assert result.code == 0, result.err
    assert len(payload["batches"]) == 1 and payload["not_launched"] == 2


# --- the library -------------------------------------------------------------------------------


def test_execute_plans_dry_run_renders_with_run_id_zero(example_kb: Path, db: Path | PgTarget):
    ws = open_workspace(db=db, cwd=example_kb)
    options = SweepOptions(runner="stand-in", model="demo", dry_run=True)
    runner = prepare_runner(ws, options)
    assert runner.cli_version is None and runner.partition.model_id == "demo-reviewer-1"
    plans = [make_plan(example_kb, [(FROST, [REPEATS]), (SEEDS, [REPEATS, TAGS])])]
    report = execute_plans(ws, runner, plans, Packing.EXPLICIT, options)
    (planned,) = report.planned
    assert report.dry_run and report.batches == () and planned.pairs == 3
    assert planned.prompt.text.count("Review run id: 0") == 2
    assert not db.exists() and (isinstance(db, PgTarget) or not db.parent.exists())


def test_prepare_runner_asks_the_cli_for_its_version(example_kb: Path, tmp_path: Path, db: Path):
    add_codex(example_kb, tmp_path / "state")
    ws = open_workspace(db=db, cwd=example_kb)
    runner = prepare_runner(ws, SweepOptions(runner="codex", model="gpt-5.5", effort="xhigh"))
    assert runner.cli_version == "codex-cli 0.0.0-fake"
    assert runner.partition.model_id == "gpt-5-5-xhigh" and runner.model == "gpt-5.5"
    assert runner.timeout == 1800.0


def test_prepare_runner_passes_a_configured_alias_to_the_cli(example_kb: Path, db: Path):
    ws = open_workspace(db=db, cwd=example_kb)
    runner = prepare_runner(ws, SweepOptions(runner="stand-in", model="demo", dry_run=True))
    assert runner.model == "demo-reviewer-1"  # what the CLI is asked for
    assert runner.timeout == 60.0  # [runners.stand-in] timeout


@pytest.mark.parametrize(
    "call",
    [
        lambda ws, o: review_sweep(ws, [], o, group="gate"),
        lambda ws, o: run_gate_sweep(ws, "clarity", o),
        lambda ws, o: review_sweep(ws, [], SweepOptions(runner="stand-in", model="demo", jobs=0)),
    ],
    ids=["bad-group", "lens-to-gate-sweep", "zero-jobs"],
)
def test_usage_errors_of_the_library(example_kb: Path, db: Path, call: Any):
    ws = open_workspace(db=db, cwd=example_kb)
    with pytest.raises(UsageError):
        call(ws, SweepOptions(runner="stand-in", model="demo"))
    assert not db.exists()


def test_review_sweep_in_the_library_with_the_stand_in(example_kb: Path, db: Path):
    ws = open_workspace(db=db, cwd=example_kb)
    options = SweepOptions(runner="stand-in", model="demo", jobs=2, stream=False)
    report = review_sweep(ws, ["metadata"], options, note_refs=[FROST, SEEDS, DATE])
    assert report.completed == 3 and report.failed == 0 and report.stopped is None
    assert [len(b.completed) for b in report.batches] == [1, 1, 1]
    assert [b.batch_id for b in report.batches] == sorted(b.batch_id for b in report.batches)
    again = review_sweep(ws, ["metadata"], options, note_refs=[FROST, SEEDS, DATE])
    assert again.batches == () and again.completed == 0
