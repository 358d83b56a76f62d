"""The API runners (`anthropic-api`, `openai-api`) through the official SDKs
against the loopback imitation of both APIs (helpers/api_imitation.py),
pointed at through ANTHROPIC_BASE_URL / OPENAI_BASE_URL: lens sweeps on
corpus notes complete with the server's token counts, the served model and
the cost from the price table; the second and later requests carry the
cache breakpoint or key at the shared prefix and read from the cache; and
every fault ends with a specific reason, nothing left `running`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.api_imitation import (
    SERVED,
    ApiImitation,
    breakpoints,
    point_sdks_at,
)
from helpers.commands import Result
from helpers.db import stored_text

LENS = "semantic"
NOTES = [
    "kb/notes/agent-is-a-tool-loop.md",
    "kb/notes/agents-navigate-by-deciding-what-to-read-next.md",
    "kb/notes/ad-hoc-prompts-extend-the-system-without-schema-changes.md",
]
Cli = Callable[..., Result]


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiImitation]:
    with ApiImitation(served=SERVED) as api:
        point_sdks_at(api, monkeypatch)
        yield api


def sweep(cli: Cli, kb: Path, runner: str, model: str, *more: str, notes: list[str] = NOTES):
    return cli(
        "review-sweep",
        LENS,
        "--note",
        *notes,
        "--runner",
        runner,
        "--model",
        model,
        "--json",
        "--jobs",
        "1",
        *more,
        cwd=kb,
    )


def rows(kb: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(kb / "kb/reports/review-store.sqlite") as conn:
        return conn.execute(sql).fetchall()


def batch_telemetry(kb: Path) -> list[dict[str, Any]]:
    found = rows(kb, "SELECT telemetry_json FROM review_batches ORDER BY id")
    return [json.loads(t) for (t,) in found]


def statuses(kb: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (status,) in rows(kb, "SELECT status FROM review_runs"):
        counts[status] = counts.get(status, 0) + 1
    return counts


def reasons(kb: Path) -> list[str]:
    return [r for (r,) in rows(kb, "SELECT failure_reason FROM review_runs WHERE status='failed'")]


def test_a_lens_sweep_through_anthropic_api_reads_the_shared_prefix_from_the_cache(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    done = sweep(cli, corpus_kb, "anthropic-api", "claude-sonnet-4-5")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert (report["completed"], report["failed"]) == (len(NOTES), 0)
    assert statuses(corpus_kb) == {"completed": len(NOTES)}
    requests = imitation.reviews()
    assert len(requests) == len(NOTES)
    # Every request cuts its prompt at the end of the instructions, of the
    # gates every note gets, and of all its gates (two notes here get the
    # title-as-claim gates too): the cut texts recur across the sweep.
    common, full = set(), []
    for request in requests:
        cuts = breakpoints(request.body)
        assert len(cuts) in (2, 3)  # no conditional gate: the last two cuts are one
        assert request.prompt[cuts[-1] :].startswith("\n## Notes\n")
        common.add(request.prompt[: cuts[1]])
        full.append(request.prompt[: cuts[-1]])
    assert len(common) == 1
    # batches with the same gates ran one after the other
    assert full == sorted(full, key=full.index)
    first, *later = requests
    assert first.usage["cache_read"] == 0 and first.usage["cache_write"] > 0
    assert all(r.usage["cache_read"] > 0 for r in later)
    # a prefix cut before is all read; a new one written from where it differs
    cut_before = {first.prompt[:c] for c in breakpoints(first.body)}
    for i, request in enumerate(later, start=1):
        assert (request.usage["cache_write"] == 0) == (full[i] in cut_before)
        cut_before |= {request.prompt[:c] for c in breakpoints(request.body)}
    # telemetry holds the server's counts, the served model, the request id, the cost
    telemetry = batch_telemetry(corpus_kb)
    for doc, request in zip(telemetry, requests, strict=True):
        assert doc["runner"] == "anthropic-api"
        assert doc["model"] == "claude-sonnet-4-5-20250929"
        assert doc["requested_model"] == "claude-sonnet-4-5"
        assert doc["tokens"]["input"] == request.usage["input"]
        assert doc["tokens"]["cache_read"] == request.usage["cache_read"]
        assert doc["tokens"]["cache_write"] == request.usage["cache_write"]
        assert doc["tokens"]["output"] == request.usage["output"]
        assert doc["details"]["request_id"].startswith("req_imit_")
        expected = (
            request.usage["input"] * 3.0
            + request.usage["cache_write"] * 3.75
            + request.usage["cache_read"] * 0.3
            + request.usage["output"] * 15.0
        ) / 1e6
        assert doc["cost_usd"] == pytest.approx(expected)
    assert report["cost_usd"] == pytest.approx(sum(d["cost_usd"] for d in telemetry))
    # the runs are rekeyed to the snapshot that served them, as with the CLI runners
    assert rows(corpus_kb, "SELECT DISTINCT model_id FROM review_runs") == [
        ("claude-sonnet-4-5-20250929",)
    ]
    assert {b["model_id"] for b in report["batches"]} == {"claude-sonnet-4-5-20250929"}


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_lens_sweep_through_openai_api_sends_one_cache_key_per_shared_prefix(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, api: str
) -> None:
    (corpus_kb / "commonplace.toml").write_text(f'[runners.openai-api]\napi = "{api}"\n')
    done = sweep(cli, corpus_kb, "openai-api", "gpt-5", "--effort", "low")
    assert done.code == 0, done.err
    assert statuses(corpus_kb) == {"completed": len(NOTES)}
    requests = imitation.reviews()
    assert {r.path for r in requests} == {
        "/v1/responses" if api == "responses" else "/v1/chat/completions"
    }
    keys = {r.body["prompt_cache_key"] for r in requests}
    assert len(keys) == 1
    if api == "responses":
        assert all(r.body["reasoning"] == {"effort": "low"} for r in requests)
    else:
        assert all(r.body["reasoning_effort"] == "low" for r in requests)
    first, *later = requests
    assert first.usage["cache_read"] == 0
    assert all(r.usage["cache_read"] >= 1024 for r in later)
    for doc, request in zip(batch_telemetry(corpus_kb), requests, strict=True):
        assert doc["model"] == "gpt-5-2025-08-07"
        assert doc["effort"] == "low"
        assert doc["input_includes_cache_read"] is True
        assert doc["tokens"]["input"] == request.usage["input"]
        assert doc["tokens"]["cache_read"] == request.usage["cache_read"]
        uncached = request.usage["input"] - request.usage["cache_read"]
        expected = (
            uncached * 1.25 + request.usage["cache_read"] * 0.125 + request.usage["output"] * 10
        ) / 1e6
        assert doc["cost_usd"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("claude-sonnet-4-5", None, {"max_tokens": 32_000}),
        (
            "claude-sonnet-4-5",
            "high",
            {"thinking": {"type": "enabled", "budget_tokens": 16_384}, "max_tokens": 32_000},
        ),
        (
            "claude-opus-4-1-20250805",
            "max",
            {"thinking": {"type": "enabled", "budget_tokens": 23_808}, "max_tokens": 32_000},
        ),
        (
            "claude-opus-4-7",
            "low",
            {
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "low"},
                "max_tokens": 32_000,
            },
        ),
    ],
)
def test_effort_reaches_the_messages_request(
    model: str, effort: str | None, expected: dict[str, Any], tmp_path: Path
) -> None:
    from commonplace.runners.anthropic_api import message_params
    from commonplace.runners.base import Call

    params = message_params(Call("x" * 100, model, effort, tmp_path, (10, 40, 40)))
    for key in ("thinking", "output_config"):
        assert params.get(key) == expected.get(key)
    assert params["max_tokens"] == expected["max_tokens"]
    blocks = params["messages"][0]["content"]
    assert [len(b["text"]) for b in blocks] == [10, 30, 60]
    assert [("cache_control" in b) for b in blocks] == [True, True, False]


def test_a_dry_run_needs_no_key(cli: Cli, corpus_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    done = cli(
        "review-sweep", LENS, "--note", NOTES[0], "--runner", "anthropic-api",
        "--model", "claude-sonnet-4-5", "--dry-run", "--json", cwd=corpus_kb,
    )  # fmt: skip
    assert done.code == 0, done.err


def test_a_model_missing_from_the_price_table_gets_tokens_and_no_cost(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    done = sweep(cli, corpus_kb, "openai-api", "llama3.1:8b", notes=NOTES[:1])
    assert done.code == 0, done.err
    (doc,) = batch_telemetry(corpus_kb)
    assert doc["tokens"]["input"] > 0 and doc["cost_usd"] is None
    assert "no price for model llama3.1:8b" in doc["details"]["cost_note"]
    log = stored_text(corpus_kb / "kb/reports/review-store.sqlite", "review_batches", "debug_log")
    assert "no price for model llama3.1:8b" in log
    assert json.loads(done.out)["cost_usd"] is None
