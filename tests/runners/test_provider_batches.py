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
from helpers.api_imitation import (
    SERVED,
    ApiImitation,
    point_sdks_at,
)
from helpers.commands import Result, console_script

LENS = "semantic"
Cli = Callable[..., Result]


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiImitation]:
    with ApiImitation(served=SERVED) as api:
        point_sdks_at(api, monkeypatch)
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


def acceptances_per_pair(kb: Path) -> list[int]:
    found = rows(
        kb,
        "SELECT COUNT(*) FROM acceptance_events WHERE acceptance_kind = 'full-review'"
        " GROUP BY note_path, gate_id",
    )
    return [n for (n,) in found]


def pairs(kb: Path) -> int:
    return int(rows(kb, "SELECT COUNT(*) FROM review_run_gates")[0][0])


def reasons(kb: Path) -> dict[str, str]:
    found = rows(kb, "SELECT note_path, failure_reason FROM review_runs WHERE status = 'failed'")
    return dict(found)


def in_progress(cli: Cli, kb: Path, count: int) -> int:
    listed = cli(
        "review-target-selector",
        LENS,
        "--model",
        "claude-sonnet-4-5",
        "--note",
        *notes(kb, count),
        "--reason",
        "in-progress",
        "--json",
        cwd=kb,
    )
    assert listed.code in (0, 1), listed.err
    return len(json.loads(listed.out))


def collector(kb: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [console_script("commonplace-collect-provider-batches"), "--json"],
        cwd=kb,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )


def test_a_collector_killed_twice_loses_nothing_and_a_second_collect_is_a_no_op(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    done = submit(cli, corpus_kb, 20)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["requests"] == 20 and statuses(corpus_kb) == {"running": 20}
    # the job's pairs are in progress for the selector, and the reaper leaves them
    assert in_progress(cli, corpus_kb, 20) == pairs(corpus_kb)
    reaped = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=corpus_kb)
    assert reaped.code == 0 and json.loads(reaped.out)["reaped"] == []
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    seen = []
    for low, high in ((0, 8), (9, 18)):  # SIGKILL twice, at a random point of the ingest
        target = chance.randint(low, high)
        process = collector(corpus_kb)
        while process.poll() is None and statuses(corpus_kb).get("completed", 0) < target:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        seen.append(statuses(corpus_kb).get("completed", 0))
    left = statuses(corpus_kb)
    os.write(2, f"completed when killed: {seen}, seed {seed}\n".encode())
    assert "failed" not in left, (seed, left)
    collected = cli("collect-provider-batches", "--json", cwd=corpus_kb)
    assert collected.code == 0, (seed, collected.err)
    assert statuses(corpus_kb) == {"completed": 20}, seed
    assert acceptances_per_pair(corpus_kb) == [1] * pairs(corpus_kb)
    assert in_progress(cli, corpus_kb, 20) == 0
    # telemetry per batch: the server's usage incl. cache, the served model, batch prices
    telemetry = [
        json.loads(t) for (t,) in rows(corpus_kb, "SELECT telemetry_json FROM review_batches")
    ]
    assert all(t["model"] == SERVED["claude-sonnet-4-5"] for t in telemetry)
    assert all(t["details"]["provider_job"] == report["jobs"][0]["job_id"] for t in telemetry)
    custom = {c for (c,) in rows(corpus_kb, "SELECT provider_custom_id FROM review_batches")}
    assert {t["details"]["request_id"] for t in telemetry} == custom
    assert all(t["details"]["provider_batch"] for t in telemetry)
    assert sum(t["tokens"]["cache_read"] or 0 for t in telemetry) > 0
    assert all(t["cost_usd"] > 0 for t in telemetry)
    model_ids = {m for (m,) in rows(corpus_kb, "SELECT DISTINCT model_id FROM review_runs")}
    assert model_ids == {"claude-sonnet-4-5-20250929"}  # rekeyed to the served model
    # a second collect changes nothing
    before = rows(
        corpus_kb, "SELECT id, status, completed_at, telemetry_json FROM review_runs ORDER BY id"
    )
    again = cli("collect-provider-batches", "--json", cwd=corpus_kb)
    assert again.code == 0 and json.loads(again.out)["jobs"] == []
    assert (
        rows(
            corpus_kb,
            "SELECT id, status, completed_at, telemetry_json FROM review_runs ORDER BY id",
        )
        == before
    )


def test_errored_and_expired_requests_fail_exactly_their_runs(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.job_outcomes = {1: "errored", 3: "expired"}
    done = submit(cli, corpus_kb, 5)
    assert done.code == 0, done.err
    collected = cli("collect-provider-batches", cwd=corpus_kb)
    assert collected.code == 0, collected.err
    assert statuses(corpus_kb) == {"completed": 3, "failed": 2}
    failed = reasons(corpus_kb)
    ordered = [n for (n,) in rows(corpus_kb, "SELECT note_path FROM review_runs ORDER BY id")]
    assert set(failed) == {ordered[1], ordered[3]}
    assert failed[ordered[1]].startswith("request errored: invalid_request_error: max_tokens")
    assert failed[ordered[3]].startswith("request expired: job msgbatch_")


def test_a_cancelled_job_fails_its_runs_as_cancelled_once_the_provider_says_so(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.hold_jobs = True
    done = submit(cli, corpus_kb, 3)
    job = json.loads(done.out)["jobs"][0]["job_id"]
    waiting = cli("collect-provider-batches", cwd=corpus_kb)
    assert waiting.code == 0 and "in_progress, waiting" in waiting.out
    cancelled = cli("collect-provider-batches", "--cancel", job, cwd=corpus_kb)
    assert cancelled.code == 0, cancelled.err
    assert "canceling, waiting" in cancelled.out  # not ended yet: the runs wait
    assert statuses(corpus_kb) == {"running": 3}
    collected = cli("collect-provider-batches", cwd=corpus_kb)
    assert collected.code == 0
    assert statuses(corpus_kb) == {"failed": 3}
    assert set(reasons(corpus_kb).values()) == {
        f"cancelled: provider batch job {job} was cancelled"
    }
    assert imitation.reviews() == []
    refused = cli("collect-provider-batches", "--cancel", job, cwd=corpus_kb)
    assert refused.code == 1 and "collected already" in refused.err


def test_wait_polls_until_the_jobs_end_and_collects(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    done = submit(cli, corpus_kb, 4, "--wait", "--poll-seconds", "0.1")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["collected"]["open"] == 0
    assert statuses(corpus_kb) == {"completed": 4}


def test_openai_submit_and_collect(cli: Cli, corpus_kb: Path, imitation: ApiImitation) -> None:
    imitation.job_outcomes = {2: "expired", 0: "errored"}
    done = submit(cli, corpus_kb, 5, runner="openai-api")
    assert done.code == 0, done.err
    job = json.loads(done.out)["jobs"][0]["job_id"]
    assert job.startswith("batch_")
    collected = cli("collect-provider-batches", "--json", cwd=corpus_kb)
    assert collected.code == 0, collected.err
    assert statuses(corpus_kb) == {"completed": 3, "failed": 2}
    failed = sorted(reasons(corpus_kb).values())
    assert failed[0].startswith("request errored: invalid_request_error: Invalid value")
    assert failed[1] == "request expired: the completion window ended"
    telemetry = [
        json.loads(t)
        for (t,) in rows(corpus_kb, "SELECT telemetry_json FROM review_batches")
        if t is not None
    ]
    assert all(t["model"] == SERVED["gpt-5"] for t in telemetry) and len(telemetry) == 3


def test_bad_inputs_say_why(cli: Cli, corpus_kb: Path, imitation: ApiImitation) -> None:
    cli_runner = cli(
        "review-sweep",
        LENS,
        "--runner",
        "claude-code",
        "--model",
        "m",
        "--provider-batch",
        cwd=corpus_kb,
    )
    assert cli_runner.code != 0 and "needs an API runner" in cli_runner.err
    wait = cli(
        "review-sweep", LENS, "--runner", "anthropic-api", "--model", "m", "--wait", cwd=corpus_kb
    )
    assert wait.code != 0 and "--wait goes with --provider-batch" in wait.err
    unknown = cli("collect-provider-batches", "--cancel", "msgbatch_nope", cwd=corpus_kb)
    assert unknown.code == 1 and "no provider job" in unknown.err
    assert "Traceback" not in cli_runner.err + wait.err + unknown.err
    assert not (corpus_kb / "kb/reports/review-store.sqlite").exists() or statuses(corpus_kb) == {}


def test_on_postgresql_the_job_owns_its_runs_until_collected(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    db = f"{url}?schema={schema}"
    imitation.hold_jobs = True
    imitation.job_outcomes = {1: "errored"}
    done = submit(cli, corpus_kb, 3, "--db", db)
    assert done.code == 0, done.err
    listed = cli(
        "review-target-selector",
        LENS,
        "--model",
        "claude-sonnet-4-5",
        "--note",
        *notes(corpus_kb, 3),
        "--reason",
        "in-progress",
        "--json",
        "--db",
        db,
        cwd=corpus_kb,
    )
    assert listed.code in (0, 1) and len(json.loads(listed.out)) > 0, listed.err
    reaped = cli("reap-stale-runs", "--older-than", "0s", "--json", "--db", db, cwd=corpus_kb)
    assert reaped.code == 0 and json.loads(reaped.out)["reaped"] == []
    imitation.finish_jobs()
    collected = cli("collect-provider-batches", "--json", "--db", db, cwd=corpus_kb)
    assert collected.code == 0, collected.err
    (job,) = json.loads(collected.out)["jobs"]
    assert (job["completed"], job["failed"]) == (2, 1)
    again = cli("collect-provider-batches", "--json", "--db", db, cwd=corpus_kb)
    assert json.loads(again.out)["jobs"] == []


def test_runs_of_a_job_that_can_no_longer_deliver_are_reaped(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.hold_jobs = True
    done = submit(cli, corpus_kb, 2)
    job = json.loads(done.out)["jobs"][0]["job_id"]
    kept = cli("reap-stale-runs", "--older-than", "0s", "--json", cwd=corpus_kb)
    assert json.loads(kept.out)["reaped"] == []
    with sqlite3.connect(corpus_kb / "kb/reports/review-store.sqlite") as conn:
        conn.execute("UPDATE provider_jobs SET deliver_until = '2000-01-01T00:00:00Z'")
    assert in_progress(cli, corpus_kb, 2) == 0  # no longer live for the selector
    reaped = cli("reap-stale-runs", "--json", cwd=corpus_kb)
    assert len(json.loads(reaped.out)["reaped"]) == 2
    assert set(reasons(corpus_kb).values()) == {
        f"provider job {job} can no longer deliver (its results were due by 2000-01-01T00:00:00Z)"
    }
