"""How the API runners meet a provider's faults, against the loopback
imitation (helpers/api_imitation.py) through the real SDKs: push-back is
retried after the server's retry-after and shown; a quota ends the sweep
with exit 75; every other fault fails the runs with a reason of its own;
nothing stays `running`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.api_imitation import (
    FAKE_ANTHROPIC_KEY,
    ApiImitation,
    Fault,
    point_sdks_at,
)
from helpers.commands import Result

from commonplace.runners.anthropic_api import AnthropicApiAdapter
from commonplace.runners.base import Call, FailureKind
from commonplace.runners.pushback import AdaptiveLimit, retry_after
from commonplace.services.execution import Cancel
from commonplace.settings import RunnerSettings
from commonplace.store.packing import unpack

NOTE = "kb/notes/agent-is-a-tool-loop.md"
Cli = Callable[..., Result]
MODELS = {"anthropic-api": "claude-sonnet-4-5", "openai-api": "gpt-5"}


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiImitation]:
    with ApiImitation() as api:
        point_sdks_at(api, monkeypatch)
        yield api


def sweep(cli: Cli, kb: Path, runner: str, *more: str) -> Result:
    return cli(
        "review-sweep", "semantic", "--note", NOTE, "--runner", runner,
        "--model", MODELS[runner], "--json", "--jobs", "1", *more, cwd=kb,
    )  # fmt: skip


def rows(kb: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(kb / "kb/reports/review-store.sqlite") as conn:
        return conn.execute(sql).fetchall()


def runs(kb: Path) -> list[tuple[str, str | None]]:
    return rows(kb, "SELECT status, failure_reason FROM review_runs ORDER BY id")


def debug_log(kb: Path) -> str:
    found = rows(kb, "SELECT debug_log, debug_log_z FROM review_batches")
    return "\n".join(unpack(plain, packed) or "" for plain, packed in found)


def settings(kb: Path, runner: str, text: str) -> None:
    (kb / "commonplace.toml").write_text(f"[runners.{runner}]\n{text}\n")


@pytest.mark.parametrize("runner", ["anthropic-api", "openai-api"])
def test_a_429_is_retried_after_the_servers_retry_after_then_the_run_completes(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, runner: str
) -> None:
    imitation.script(Fault(429, "rate_limit_error", "slow down", {"retry-after": "1"}))
    started = time.monotonic()
    done = sweep(cli, corpus_kb, runner)
    assert done.code == 0, done.err
    assert time.monotonic() - started >= 1.0  # it waited what the server asked
    assert [s for s, _ in runs(corpus_kb)] == ["completed"]
    assert len(imitation.requests) == 2
    (telemetry,) = rows(corpus_kb, "SELECT telemetry_json FROM review_batches")
    retries = json.loads(telemetry[0])["details"]["retries"]
    assert retries == [{"status": 429, "wait_s": 1.0, "retry_after": 1.0}]
    log = debug_log(corpus_kb)
    assert "rate limited" in log and "retrying in 1 s (the server's retry-after)" in log


def test_a_500_is_retried_then_the_run_completes(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.script(Fault(500, "api_error", "internal", {"retry-after": "0"}))
    done = sweep(cli, corpus_kb, "anthropic-api")
    assert done.code == 0, done.err
    assert [s for s, _ in runs(corpus_kb)] == ["completed"]
    assert [r.status for r in imitation.requests] == [500, 200]


def test_overload_that_outlasts_the_retries_fails_the_runs_as_a_server_error(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    settings(corpus_kb, "anthropic-api", "max_retries = 2")
    overloaded = Fault(529, "overloaded_error", "Overloaded", {"retry-after": "0"})
    imitation.script(overloaded, overloaded, overloaded, overloaded)
    done = sweep(cli, corpus_kb, "anthropic-api")
    assert done.code == 1
    assert len(imitation.requests) == 3  # the first and two retries
    ((status, reason),) = runs(corpus_kb)
    assert status == "failed"
    assert "overloaded (529 overloaded_error: Overloaded)" in reason
    assert "after 2 retries" in reason


@pytest.mark.parametrize(
    ("runner", "fault"),
    [
        (
            "anthropic-api",
            Fault(400, "invalid_request_error", "Your credit balance is too low to access it."),
        ),
        ("anthropic-api", Fault(429, "rate_limit_error", "You have reached your usage limit.")),
        ("openai-api", Fault(429, "insufficient_quota", "You exceeded your current quota.")),
    ],
)
def test_a_quota_answer_ends_the_sweep_with_exit_75(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, runner: str, fault: Fault
) -> None:
    imitation.script(fault)
    done = sweep(cli, corpus_kb, runner)
    assert done.code == 75, done.err
    assert len(imitation.requests) == 1  # a quota is not retried
    ((status, reason),) = runs(corpus_kb)
    assert status == "failed" and reason.startswith("usage exhausted:")
    assert json.loads(done.out)["usage_limited"] is True


@pytest.mark.parametrize(
    ("runner", "fault", "reason"),
    [
        (
            "anthropic-api",
            Fault(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000"),
            "prompt too long",
        ),
        (
            "openai-api",
            Fault(400, "context_length_exceeded", "Your input exceeds the context window."),
            "prompt too long",
        ),
        ("anthropic-api", Fault(401, "authentication_error", "bad x-api-key"), "not authorized"),
        ("openai-api", Fault(401, "invalid_api_key", "Incorrect API key"), "not authorized"),
        ("anthropic-api", Fault(404, "not_found_error", "model: nope"), "request rejected (404"),
        ("anthropic-api", Fault(200, stop="refusal"), "the model refused"),
        ("openai-api", Fault(200, stop="refusal"), "the model refused"),
    ],
)
def test_each_fault_fails_the_runs_with_its_own_reason(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, runner: str, fault: Fault, reason: str
) -> None:
    imitation.script(fault)
    done = sweep(cli, corpus_kb, runner, "--no-retry-missing")
    assert done.code == 1, done.err
    assert len(imitation.requests) == 1  # none of these is retried
    found = runs(corpus_kb)
    assert found and all(s == "failed" and reason in (r or "") for s, r in found), found
    assert FAKE_ANTHROPIC_KEY not in done.out + done.err + debug_log(corpus_kb)


@pytest.mark.parametrize("runner", ["anthropic-api", "openai-api"])
def test_a_cut_off_answer_fails_the_run_as_cut_off(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, runner: str
) -> None:
    imitation.script(Fault(200, stop="max_tokens"))
    done = sweep(cli, corpus_kb, runner, "--no-retry-missing")
    assert done.code == 1
    ((status, reason),) = runs(corpus_kb)
    assert status == "failed" and "cut off at max" in reason


def test_a_request_that_outlasts_the_timeout_fails_the_runs_at_the_timeout(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.delay = 60
    started = time.monotonic()
    done = sweep(cli, corpus_kb, "anthropic-api", "--timeout", "1")
    assert time.monotonic() - started < 30  # not the minute the answer would take
    assert done.code == 1
    ((status, reason),) = runs(corpus_kb)
    assert status == "failed" and reason.startswith("timed out after 1 s")


def test_cancelling_stops_a_request_in_flight(imitation: ApiImitation, tmp_path: Path) -> None:
    imitation.delay = 60
    cancel = Cancel()
    threading.Timer(0.3, lambda: cancel.set(_interrupted())).start()
    adapter = AnthropicApiAdapter(RunnerSettings())
    started = time.monotonic()
    result = adapter.request(
        Call("hello", "claude-sonnet-4-5", None, tmp_path),
        timeout=60,
        cancel=cancel,
        echo=None,
        env={"ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": imitation.url},
    )
    assert time.monotonic() - started < 15  # not the minute the answer would take
    assert result.failure is not None and result.failure.kind is FailureKind.INTERRUPTED


def _interrupted() -> Any:
    from commonplace.runners.base import Failure

    return Failure(FailureKind.INTERRUPTED, "interrupted")


@pytest.mark.parametrize(
    ("runner", "variable"),
    [("anthropic-api", "ANTHROPIC_API_KEY"), ("openai-api", "OPENAI_API_KEY")],
)
def test_a_missing_key_is_an_error_before_any_run_exists(
    cli: Cli,
    corpus_kb: Path,
    imitation: ApiImitation,
    monkeypatch: pytest.MonkeyPatch,
    runner: str,
    variable: str,
) -> None:
    monkeypatch.delenv(variable)
    done = sweep(cli, corpus_kb, runner)
    assert done.code == 1
    assert done.err.startswith(f"error: runner {runner}: set {variable}")
    assert "Traceback" not in done.err
    assert imitation.requests == []
    assert not (corpus_kb / "kb/reports/review-store.sqlite").exists() or not runs(corpus_kb)


def test_a_missing_sdk_names_the_extra_to_install(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic fails
    done = sweep(cli, corpus_kb, "anthropic-api")
    assert done.code == 1
    assert "pip install 'commonplace-review[anthropic]'" in done.err
    assert imitation.requests == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('base_url = "ftp://x"', "base_url must be an http:// or https:// URL"),
        ('api = "completions"', "api must be one of responses, chat"),
        ("max_retries = -1", "max_retries must be a whole number of at least 0"),
        ("max_output_tokens = 0", "max_output_tokens must be a whole number of at least 1"),
    ],
)
def test_bad_api_settings_are_refused_with_the_key_named(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, table: str, message: str
) -> None:
    settings(corpus_kb, "openai-api", table)
    done = sweep(cli, corpus_kb, "openai-api")
    assert done.code == 1 and message in done.err and "Traceback" not in done.err


def test_api_settings_on_a_cli_runner_are_refused(cli: Cli, corpus_kb: Path) -> None:
    settings(corpus_kb, "claude-code", 'base_url = "http://127.0.0.1:1"')
    done = cli(
        "review-sweep", "semantic", "--note", NOTE, "--runner", "claude-code",
        "--model", "sonnet", "--dry-run", cwd=corpus_kb,
    )  # fmt: skip
    assert done.code == 1 and "base_url: only for API runners" in done.err


def test_the_limit_halves_on_push_back_and_grows_back_slowly() -> None:
    limit = AdaptiveLimit()
    never = lambda: False  # noqa: E731
    for _ in range(4):
        assert limit.acquire(never)
    assert limit.pushed_back() == 2  # four in flight: at most two now
    assert limit.pushed_back() == 1
    blocked: list[bool] = []
    waiter = threading.Thread(target=lambda: blocked.append(limit.acquire(never)))
    waiter.start()
    time.sleep(0.2)
    assert blocked == []  # four in flight, one allowed: it waits
    for _ in range(4):
        limit.release()
    waiter.join(2)
    assert blocked == [True]
    for _ in range(3):
        limit.succeeded()
    assert limit.limit == 2  # one more after three successes
    for _ in range(6):
        limit.succeeded()
    assert limit.limit == 4  # the peak
    for _ in range(3):
        limit.succeeded()
    assert limit.limit is None  # back past the peak: no limit of its own


def test_push_back_shrinks_the_requests_in_flight_during_a_sweep(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    notes = [
        "kb/notes/agent-is-a-tool-loop.md",
        "kb/notes/agents-navigate-by-deciding-what-to-read-next.md",
        "kb/notes/ad-hoc-prompts-extend-the-system-without-schema-changes.md",
        "kb/notes/agentic-systems-interpret-underspecified-instructions.md",
    ]
    imitation.delay = 0.3
    slow = Fault(429, "rate_limit_error", "slow down", {"retry-after": "0.2"})
    imitation.script(slow, slow)
    done = cli(
        "review-sweep", "semantic", "--note", *notes, "--runner", "anthropic-api",
        "--model", "claude-sonnet-4-5", "--json", "--jobs", "4", cwd=corpus_kb,
    )  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["completed"] == 4
    assert "provider pushed back: at most" in debug_log(corpus_kb)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "99999999"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_as_the_providers_send_it(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after(headers) == seconds


def test_a_key_the_provider_echoes_back_is_redacted_everywhere(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation
) -> None:
    imitation.script(Fault(400, "invalid_request_error", f"bad header {FAKE_ANTHROPIC_KEY}"))
    done = sweep(cli, corpus_kb, "anthropic-api")
    assert done.code == 1
    ((_, reason),) = runs(corpus_kb)
    assert "[REDACTED]" in reason
    stored = reason + debug_log(corpus_kb) + done.out + done.err
    assert FAKE_ANTHROPIC_KEY not in stored


def test_an_unreachable_api_fails_the_runs_after_two_retries(
    cli: Cli, corpus_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    done = sweep(cli, corpus_kb, "anthropic-api")
    assert done.code == 1
    ((status, reason),) = runs(corpus_kb)
    assert status == "failed"
    assert "cannot reach the API" in reason and "after 2 retries" in reason


def test_a_base_url_variable_that_is_no_url_is_an_error_before_any_run(
    cli: Cli, corpus_kb: Path, imitation: ApiImitation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:11434")
    done = sweep(cli, corpus_kb, "openai-api")
    assert done.code == 1
    assert "error: OPENAI_BASE_URL must be an http:// or https:// URL" in done.err
    assert imitation.requests == []


def test_ctrl_c_stops_a_sweep_whose_request_is_in_flight(
    corpus_kb: Path, imitation: ApiImitation
) -> None:
    import os
    import signal
    import subprocess

    from helpers.commands import console_script

    imitation.delay = 60  # the answer would take a minute
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": imitation.url,
    }
    argv = [console_script("commonplace-review-sweep"), "semantic", "--note", NOTE]
    argv += ["--runner", "anthropic-api", "--model", "claude-sonnet-4-5"]
    proc = subprocess.Popen(
        argv, cwd=corpus_kb, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not imitation.most_in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert imitation.most_in_flight, "no request arrived"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - started < 20  # not the minute the answer would take
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert runs(corpus_kb) and all(s == "failed" for s, _ in runs(corpus_kb))
    assert all("interrupted" in (r or "") for _, r in runs(corpus_kb))
