"""What reviewing cost (`reports.cost.cost_summary`): tokens and cost as the
runners reported them, summed over batches (each run carries a copy of its
batch's telemetry, which must not count again), whole to a batch's partition,
runner and day, shared among its gates so that the gates add up to the total.

Telemetry comes from the real runner path: command runners (the fake
reviewer of `helpers.fake_runners`) that write `COMMONPLACE_TELEMETRY_FILE`,
and the fake `codex`; the library's `attach_execution_data` for the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from helpers.db import execute_sql, rows, store_of
from helpers.fake_runners import add_codex, configure, reviewer_command
from helpers.reviewed_corpus import review_pairs
from helpers.store import ABBREV, COMPOST, DATE, FROST, REPEATS, SEEDS, SKETCH, TAGS, create_runs

from commonplace.lifecycle import ExecutionData, attach_execution_data
from commonplace.reports.cost import CostLine, CostSummary, cost_summary
from commonplace.workspace import Workspace, open_workspace

PARTITION = "demo-reviewer-1"  # what `--model demo` names in the example KB
TOKENS = {"input": 1000, "output": 100, "cache_read": 500}  # what the fake reports with --cost


def summary_of(kb: Path) -> CostSummary:
    with open_workspace(cwd=kb).store as store:
        return cost_summary(store)


def review(cli: Cli, kb: Path, command: str, *args: str, runner: str, code: int = 0) -> None:
    result = cli(command, *args, "--runner", runner, "--model", "demo", "--quiet", cwd=kb)
    assert result.code == code, result.out + result.err


def line(lines: tuple[CostLine, ...], key: str) -> CostLine:
    (found,) = [c for c in lines if c.key == key]
    return found


def batch_days(kb: Path) -> dict[int, str]:
    return {
        batch_id: created[:10]
        for batch_id, created in rows(store_of(kb), "SELECT id, created_at FROM review_batches")
    }


@pytest.fixture
def runners(example_kb: Path, tmp_path: Path) -> Path:
    """Command runners on the example KB: `paid` reports tokens and a cost of
    0.6, `free` tokens without a cost, `swap` that another model served."""
    state = tmp_path / "state"
    configure(
        example_kb,
        {
            "runners.paid": {"command": reviewer_command(state / "paid", "--cost", "0.6")},
            "runners.free": {
                "command": reviewer_command(
                    state / "free",
                    "--telemetry",
                    json.dumps({"tokens": {"input": 300, "output": 30, "reasoning": None}}),
                )
            },
            "runners.swap": {
                "command": reviewer_command(
                    state / "swap", "--model", "served-model", "--cost", "0.1"
                )
            },
            "runners.broken": {
                "command": reviewer_command(state / "broken", "--malformed", "--cost", "0.2")
            },
        },
    )
    return example_kb


def test_batches_count_once_whole_by_partition_runner_and_day_shared_by_gate(
    cli: Cli, runners: Path
) -> None:
    kb = runners
    # one batch of three runs, one gate
    review(
        cli,
        kb,
        "run-gate-sweep",
        REPEATS,
        "--note",
        FROST,
        SEEDS,
        DATE,
        "--batch-size",
        "3",
        runner="paid",
    )
    # one batch of one run, two gates
    review(cli, kb, "run-review-bundle", SKETCH, REPEATS, ABBREV, runner="paid")
    # tokens without a cost
    review(cli, kb, "run-review-bundle", COMPOST, TAGS, runner="free")
    # served by another model: the run is rekeyed, and so is the batch's cost
    review(cli, kb, "run-review-bundle", FROST, TAGS, runner="swap")

    copies = rows(store_of(kb), "SELECT telemetry_json FROM review_runs WHERE batch_id = 1")
    assert len(copies) == 3
    for (telemetry,) in copies:
        copy = json.loads(telemetry)
        assert (copy["batch_id"], copy["runs_in_batch"], copy["cost_usd"]) == (1, 3, 0.6)
        assert copy["tokens"]["input"] == 1000

    summary = summary_of(kb)
    total = summary.total
    assert total.batches == 4
    assert total.tokens["input"] == 3 * 1000 + 300  # not 5 * 1000 + 300: copies never count
    assert total.tokens["output"] == 3 * 100 + 30
    assert total.tokens["cache_read"] == 3 * 500
    assert total.cost_usd == pytest.approx(0.6 + 0.6 + 0.1)

    assert [c.key for c in summary.by_partition] == [PARTITION, "served-model"]
    assert line(summary.by_partition, PARTITION).batches == 3
    assert line(summary.by_partition, PARTITION).cost_usd == pytest.approx(1.2)
    assert line(summary.by_partition, "served-model").cost_usd == pytest.approx(0.1)

    assert [c.key for c in summary.by_runner] == ["free", "paid", "swap"]
    assert line(summary.by_runner, "paid").batches == 2
    assert line(summary.by_runner, "free").cost_usd is None
    assert line(summary.by_runner, "free").tokens["input"] == 300

    repeats, abbrev, tags = (line(summary.by_gate, g) for g in (REPEATS, ABBREV, TAGS))
    assert [c.key for c in summary.by_gate] == sorted([REPEATS, ABBREV, TAGS])
    assert (repeats.batches, abbrev.batches, tags.batches) == (2, 1, 2)
    assert repeats.cost_usd == pytest.approx(0.6 + 0.3)
    assert abbrev.cost_usd == pytest.approx(0.3)
    assert tags.cost_usd == pytest.approx(0.1)  # the free batch adds tokens, no cost
    assert tags.tokens["input"] == pytest.approx(300 + 1000)
    for kind, amount in total.tokens.items():
        assert sum(g.tokens[kind] for g in summary.by_gate) == pytest.approx(amount)
    assert sum(g.cost_usd or 0 for g in summary.by_gate) == pytest.approx(total.cost_usd)

    (today,) = set(batch_days(kb).values())
    assert [(c.key, c.batches) for c in summary.by_day] == [(today, 4)]
    execute_sql(
        store_of(kb),
        "UPDATE review_batches SET created_at = '2024-05-01T23:59:59.000Z' WHERE id = 3",
    )
    by_day = summary_of(kb).by_day
    assert [(c.key, c.batches) for c in by_day] == [("2024-05-01", 1), (today, 3)]
    assert by_day[0].cost_usd is None and by_day[1].cost_usd == pytest.approx(1.3)


def test_cost_is_none_when_no_batch_reported_one(cli: Cli, runners: Path) -> None:
    review(cli, runners, "run-review-bundle", COMPOST, "clarity", runner="free")
    summary = summary_of(runners)
    assert summary.total.cost_usd is None
    assert summary.total.tokens["input"] == 300
    lines = (*summary.by_partition, *summary.by_gate, *summary.by_runner, *summary.by_day)
    assert lines and all(c.cost_usd is None for c in lines)
    document = summary.as_dict()
    assert document["total"] == {
        "key": "total",
        "batches": 1,
        "tokens": {"input": 300, "output": 30, "cache_read": 0, "cache_write": 0, "reasoning": 0},
        "cost_usd": None,
    }
    assert [g["tokens"]["input"] for g in document["by_gate"]] == [150, 150]


def test_a_failed_batch_still_cost_what_it_reported(cli: Cli, runners: Path) -> None:
    review(cli, runners, "run-review-bundle", FROST, "clarity", runner="broken", code=1)
    assert rows(store_of(runners), "SELECT DISTINCT status FROM review_runs") == [("failed",)]
    summary = summary_of(runners)
    assert summary.total.cost_usd == pytest.approx(0.2)
    assert sum(g.cost_usd or 0 for g in summary.by_gate) == pytest.approx(0.2)


def test_batches_without_telemetry_are_not_counted(cli: Cli, example_kb: Path) -> None:
    assert summary_of(example_kb).total.batches == 0
    assert not store_of(example_kb).exists()
    review_pairs(cli, example_kb, {(FROST, REPEATS): ("WARN", ())}, model="demo")  # a live agent
    summary = summary_of(example_kb)
    assert summary.total == CostLine("total", 0, dict.fromkeys(summary.total.tokens, 0.0), None)
    assert summary.by_partition == summary.by_gate == summary.by_runner == summary.by_day == ()


# --- telemetry attached through the library ------------------------------------------------


def _batch(ws: Workspace, kb: Path, telemetry: Any, *, on_runs_only: bool = False) -> int:
    created = create_runs(ws.store, kb, [(FROST, [REPEATS, ABBREV])])
    execution = ExecutionData(telemetry=telemetry)
    if on_runs_only:
        run_ids = [r.review_run_id for r in created.runs]
        attach_execution_data(ws.store, execution, review_run_ids=run_ids)
    else:
        attach_execution_data(ws.store, execution, batch_id=created.batch_id)
    return created.batch_id


def test_telemetry_only_on_runs_is_not_a_batch_cost(ws: Workspace, example_kb: Path) -> None:
    _batch(ws, example_kb, {"tokens": {"input": 10}, "cost_usd": 1.0}, on_runs_only=True)
    assert cost_summary(ws.store).total.batches == 0


def test_values_that_are_not_numbers_are_ignored(ws: Workspace, example_kb: Path) -> None:
    _batch(
        ws,
        example_kb,
        {
            "tokens": {"input": "12", "output": True, "cache_read": None, "reasoning": 7},
            "cost_usd": "0.5",
        },
    )
    second = _batch(ws, example_kb, {"tokens": [1, 2], "cost_usd": False})
    _batch(ws, example_kb, {"cost_usd": 0})
    execute_sql(
        ws.store.path, f"UPDATE review_batches SET telemetry_json = 'not json' WHERE id = {second}"
    )
    summary = cost_summary(ws.store)
    assert summary.total.batches == 3
    assert summary.total.tokens == {
        "input": 0.0,
        "output": 0.0,
        "cache_read": 0.0,
        "cache_write": 0.0,
        "reasoning": 7.0,
    }
    assert summary.total.cost_usd == 0.0  # a reported zero is a cost, not None


def test_codex_tokens_are_not_counted_twice(cli: Cli, example_kb: Path, tmp_path: Path) -> None:
    add_codex(example_kb, tmp_path / "codex-state")
    result = cli(
        "run-review-bundle",
        FROST,
        REPEATS,
        "--runner",
        "codex",
        "--model",
        "gpt-5.5",
        "--quiet",
        cwd=example_kb,
    )
    assert result.code == 0, result.err
    (telemetry,) = rows(store_of(example_kb), "SELECT telemetry_json FROM review_batches")
    reported = json.loads(telemetry[0])
    assert reported["input_includes_cache_read"] is True
    assert reported["tokens"]["input"] == 2000 and reported["tokens"]["cache_read"] == 1500
    summary = summary_of(example_kb)
    assert summary.total.total_tokens == 2400  # codex's own total: input 2000 + output 400
