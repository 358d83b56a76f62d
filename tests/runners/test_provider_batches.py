"""Provider batch jobs (`--provider-batch`, `commonplace-collect-provider-batches`)
against the loopback imitation of both batch APIs, through the SDKs' base
URL: submit, collect (also after the collector was SIGKILLed), errored,
expired and cancelled requests, `--wait`, liveness of the job's runs."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.api_imitation import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, ApiImitation
from helpers.commands import Result, console_script

LENS = "semantic"
SERVED = {"claude-sonnet-4-5": "claude-sonnet-4-5-20250929", "gpt-5": "gpt-5-2025-08-07"}
Cli = Callable[..., Result]


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiImitation]:
    with ApiImitation(served=SERVED) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1")
        yield api


def notes(kb: Path, count: int) -> list[str]:
    found = sorted((kb / "kb/notes").glob("*.md"))
    kept = [p for p in found if p.read_text("utf-8").startswith("---\n")]
    return [p.relative_to(kb).as_posix() for p in kept][:count]


def submit(cli: Cli, kb: Path, count: int, *more: str, runner: str = "anthropic-api") -> Result:
    model = "claude-sonnet-4-5" if runner == "anthropic-api" else "gpt-5"
    return cli(
        "review-sweep",
        LENS,
        "--note",
        *notes(kb, count),
        "--runner",
        runner,
        "--model",
        model,
        "--provider-batch",
        "--json",
        *more,
        cwd=kb,
    )


def rows(kb: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(kb / "kb/reports/review-store.sqlite") as conn:
        return conn.execute(sql).fetchall()


def statuses(kb: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (status,) in rows(kb, "SELECT status FROM review_runs"):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_submit_then_collect_completes_every_run(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    done = submit(cli, corpus_kb, 3)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert len(report["jobs"]) == 1 and report["requests"] == 3
    assert statuses(corpus_kb) == {"running": 3}
    assert imitation.reviews() == []  # nothing reviewed before the job runs
    collected = cli("collect-provider-batches", "--json", cwd=corpus_kb)
    assert collected.code == 0, collected.err
    assert statuses(corpus_kb) == {"completed": 3}
