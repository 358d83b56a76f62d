"""The forecast before spend, through the commands: a dry run prints a
summary by default (text and streamed JSON) whose figures agree with the
prompts `--show-prompts` prints; `--max-cost-usd` below the forecast refuses
a sweep before any request or run (against the loopback imitation of the
Anthropic API, tests/helpers/api_imitation.py); a model without a price gets
tokens and no cost; and a sweep's telemetry calibrates the next forecast."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.api_imitation import FAKE_ANTHROPIC_KEY, OUTPUT_TOKENS_PER_PAIR, ApiImitation
from helpers.commands import Result
from helpers.store import DATE, FROST, SEEDS, TITLE_CLAIM

Cli = Callable[..., Result]
LENS = "semantic"
SONNET = ("--runner", "anthropic-api", "--model", "claude-sonnet-4-5")
STAND_IN = ("--runner", "stand-in", "--model", "demo")
CORPUS_NOTES = [
    "kb/notes/agent-is-a-tool-loop.md",
    "kb/notes/agents-navigate-by-deciding-what-to-read-next.md",
    "kb/notes/ad-hoc-prompts-extend-the-system-without-schema-changes.md",
]
OTHER_NOTES = [
    "kb/notes/a-derived-copy-of-recomputable-truth-must-be-checked-or-absent.md",
    "kb/notes/a-functioning-kb-needs-a-workshop-layer-not-just-a-library.md",
    "kb/notes/access-burden-and-transformation-burden-are-independent-query.md",
    "kb/notes/active-work-state-is-not-retrospective-memory-or-chat-history.md",
]
STORE = "kb/reports/review-store.sqlite"
TOKEN = re.compile(r"(Boundary token: `)[A-Za-z0-9_-]+")


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiImitation]:
    with ApiImitation() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        yield api


def run_json(cli: Cli, kb: Path, *args: str, command: str = "review-sweep") -> dict[str, Any]:
    done = cli(command, *args, "--json", cwd=kb)
    assert done.code == 0, done.err
    assert "Traceback" not in done.err
    payload: dict[str, Any] = json.loads(done.out)
    return payload


def rows(kb: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(kb / STORE) as conn:
        return conn.execute(sql).fetchall()


def test_the_summary_agrees_with_the_prompts_it_stands_for(cli: Cli, example_kb: Path) -> None:
    args = ("clarity", "--note", FROST, SEEDS, DATE, *STAND_IN, "--dry-run")
    summary = run_json(cli, example_kb, *args)
    prompts = run_json(cli, example_kb, *args, "--show-prompts")
    assert summary["dry_run"] is True and summary["model_id"] == prompts["model_id"]
    assert len(summary["batches"]) == len(prompts["batches"]) == 3
    for estimate, shown in zip(summary["batches"], prompts["batches"], strict=True):
        assert estimate["notes"] == shown["notes"]
        assert estimate["pairs"] == len(shown["pairs"])
        assert estimate["prompt_chars"] == len(shown["prompt"]) == shown["prompt_chars"]
    forecast = summary["forecast"]
    batches = summary["batches"]
    assert forecast["batches"] == 3 and forecast["notes"] == 3
    for key in ("pairs", "prompt_chars", "input_tokens", "cache_read_tokens", "output_tokens"):
        assert forecast[key] == sum(b[key] for b in batches), key
    assert forecast["input_tokens"] == (
        forecast["uncached_input_tokens"]
        + forecast["cache_read_tokens"]
        + forecast["cache_write_tokens"]
    )
    # a command runner with a model the table lacks: tokens, no cost
    assert forecast["cost_usd"] is None and forecast["payable_usd"] is None
    assert forecast["remarks"][0].startswith("no price for model demo-reviewer-1")
    text = cli("review-sweep", *args, cwd=example_kb)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[0] == (
        f"dry run: 3 batches, {forecast['pairs']} pairs, 3 notes (stand-in, demo-reviewer-1);"
        " nothing was created or changed"
    )
    assert f"prompts: {forecast['prompt_chars']:,} characters" in text.out
    assert "note: no price for model demo-reviewer-1 in the pricing table" in text.out
    assert (
        "## Requested pairs" not in text.out and lines[-1] == "(--show-prompts prints the prompts)"
    )
    assert not (example_kb / STORE).exists() and not (example_kb / "kb/reports").exists()


def test_show_prompts_prints_what_a_dry_run_printed_before(cli: Cli, example_kb: Path) -> None:
    # FROST lacks the trait the gate requires: skipped, in both outputs
    args = (TITLE_CLAIM, "--note", FROST, SEEDS, DATE, *STAND_IN, "--dry-run", "--show-prompts")
    payload = run_json(cli, example_kb, *args, command="run-gate-sweep")
    text = cli("run-gate-sweep", *args, cwd=example_kb)
    assert text.code == 0, text.err
    count = len(payload["batches"])
    expected = "".join(
        f"=== dry run: batch {n} of {count} (stand-in, demo-reviewer-1), {len(b['pairs'])}"
        f" pair(s); run ids are assigned when it runs ===\n{b['prompt']}"
        for n, b in enumerate(payload["batches"], 1)
    )
    expected += "".join(
        f"skipped {s['note_path']} :: {s['gate_id']}: {s['reason']}\n" for s in payload["skipped"]
    )
    assert payload["skipped"] and payload["skipped"][0]["note_path"] == FROST
    assert TOKEN.sub(r"\1T", text.out) == TOKEN.sub(r"\1T", expected.rstrip("\n") + "\n")
    summary = cli("run-gate-sweep", *args[:-1], cwd=example_kb)
    assert f"skipped 1 pair: 1 {payload['skipped'][0]['reason']}" in summary.out


def test_show_prompts_goes_with_a_dry_run(cli: Cli, example_kb: Path) -> None:
    done = cli("review-sweep", "clarity", *STAND_IN, "--show-prompts", cwd=example_kb)
    assert done.code == 2 and "error: --show-prompts goes with --dry-run" in done.err
    assert not (example_kb / STORE).exists()


def test_a_corpus_lens_sweep_reads_its_shared_prefix_from_the_cache(
    cli: Cli, corpus_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # a dry run needs no key
    notes = [*CORPUS_NOTES, *OTHER_NOTES]
    args = (LENS, "--note", *notes, *SONNET, "--jobs", "1", "--dry-run")
    payload = run_json(cli, corpus_kb, *args)
    forecast, batches = payload["forecast"], payload["batches"]
    assert forecast["batches"] == len(notes) == forecast["notes"]
    assert batches[0]["cache_read_tokens"] == 0 and batches[0]["cache_write_tokens"] > 1024
    assert all(b["cache_read_tokens"] > 0 for b in batches[1:])
    assert 0.2 < forecast["cache_share"] < 0.8
    costs = forecast["cost_usd"]
    assert costs["list"] > costs["cached"] > costs["batch_cached"] > 0
    assert costs["batch"] > costs["batch_cached"]
    assert forecast["payable_usd"] == costs["cached"] and forecast["remarks"] == []
    text = cli("review-sweep", *args, "--max-cost-usd", "0.01", cwd=corpus_kb)
    assert text.code == 0, text.err
    assert "forecast cost for claude-sonnet-4-5:" in text.out
    labels = (
        "at list price",
        "with caching",
        "with provider batch jobs",
        "with caching and batch jobs",
    )
    for label in labels:
        assert re.search(rf"^  {label} +\$\d+\.\d{{4}}$", text.out, re.MULTILINE), label
    assert "--max-cost-usd 0.01: the forecast $" in text.out and "would refuse to start" in text.out
    assert not (corpus_kb / STORE).exists()


def test_max_cost_usd_below_the_forecast_refuses_and_spends_nothing(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    args = (LENS, "--note", *CORPUS_NOTES, *SONNET, "--jobs", "1")
    for command, more in (
        ("review-sweep", args),
        ("run-review-bundle", (CORPUS_NOTES[0], LENS, *SONNET)),
    ):
        forecast = run_json(cli, corpus_kb, *more, "--dry-run", command=command)["forecast"]
        budget = forecast["payable_usd"] / 2
        done = cli(command, *more, "--max-cost-usd", f"{budget:.6f}", cwd=corpus_kb)
        assert done.code == 1 and "Traceback" not in done.err
        assert done.err.startswith("error: the forecast cost $"), done.err
        assert f"exceeds --max-cost-usd {budget:.6f}".rstrip("0") in done.err
        assert imitation.requests == []
        assert not (corpus_kb / STORE).exists()
    # above the forecast, the same sweep runs
    done = cli("review-sweep", *args, "--max-cost-usd", "5", "--json", cwd=corpus_kb)
    assert done.code == 0, done.err
    assert json.loads(done.out)["completed"] == len(CORPUS_NOTES)
    assert len(imitation.reviews()) == len(CORPUS_NOTES)


def test_a_budget_needs_a_price_unless_the_runner_reports_no_cost(
    cli: Cli, corpus_kb: Path, example_kb: Path, imitation: ApiImitation
) -> None:
    args = (LENS, "--note", CORPUS_NOTES[0], "--runner", "anthropic-api", "--model", "claude-x-9")
    forecast = run_json(cli, corpus_kb, *args, "--dry-run")["forecast"]
    assert forecast["cost_usd"] is None and forecast["input_tokens"] > 0
    assert forecast["remarks"][0].startswith("no price for model claude-x-9 in the pricing table")
    done = cli("review-sweep", *args, "--max-cost-usd", "1", cwd=corpus_kb)
    assert done.code == 1 and "Traceback" not in done.err
    assert "error: cannot check --max-cost-usd 1: no price for model claude-x-9" in done.err
    assert imitation.requests == [] and not (corpus_kb / STORE).exists()
    # a command runner: it goes, and only the cost it reports counts
    done = cli(
        "review-sweep", "clarity", "--note", FROST, *STAND_IN, "--max-cost-usd", "1", cwd=example_kb
    )
    assert done.code == 0, done.err
    assert "notice: no price for model demo-reviewer-1: --max-cost-usd 1 counts only" in done.err


def test_the_next_forecast_is_calibrated_on_the_sweep_before(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    first = cli(
        "review-sweep", LENS, "--note", *CORPUS_NOTES, *SONNET, "--jobs", "1", cwd=corpus_kb
    )
    assert first.code == 0, first.err
    measured_chars = sum(c for (c,) in rows(corpus_kb, "SELECT prompt_chars FROM review_batches"))
    measured_tokens = sum(
        r.usage["input"] + r.usage["cache_read"] + r.usage["cache_write"]
        for r in imitation.reviews()
    )
    args = (LENS, "--note", *OTHER_NOTES, *SONNET, "--jobs", "1")
    forecast = run_json(cli, corpus_kb, *args, "--dry-run")["forecast"]
    assert forecast["history_batches"] == len(CORPUS_NOTES)
    assert forecast["calibration"].startswith("measured on 3 past batch(es) of anthropic-api")
    assert forecast["chars_per_token"] == round(measured_chars / measured_tokens, 4)
    assert forecast["output_tokens_per_pair"] == OUTPUT_TOKENS_PER_PAIR
    # the sweep it forecast, measured by the imitation
    before = len(imitation.reviews())
    second = cli("review-sweep", *args, cwd=corpus_kb)
    assert second.code == 0, second.err
    usage = [r.usage for r in imitation.reviews()[before:]]
    inputs = sum(u["input"] + u["cache_read"] + u["cache_write"] for u in usage)
    assert abs(forecast["input_tokens"] - inputs) / inputs < 0.15
    assert forecast["output_tokens"] == sum(u["output"] for u in usage)
    # damaged history rows are left out, not trusted and not fatal
    with sqlite3.connect(corpus_kb / STORE) as conn:
        ids = [i for (i,) in conn.execute("SELECT id FROM review_batches ORDER BY id")]
        conn.execute("UPDATE review_batches SET telemetry_json = 'not json' WHERE id = ?", ids[:1])
        conn.execute("UPDATE review_batches SET prompt_chars = 'many' WHERE id = ?", ids[1:2])
        conn.execute(
            "UPDATE review_batches SET telemetry_json = ? WHERE id = ?",
            (json.dumps({"tokens": {"input": 1, "output": 10**9}}), ids[2]),
        )
    later = run_json(cli, corpus_kb, *args, "--dry-run")["forecast"]
    assert later["history_batches"] == len(ids) - 3
