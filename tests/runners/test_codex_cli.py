"""The `codex` runner end to end: `commonplace-run-review-bundle --runner codex`
as a real process, launching the real `codex` CLI against the loopback OpenAI
Responses API (SPEC 4, 8, 9, 14)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.real_cli import CLARITY, SEEDS, Bench, benches, cli_version, telemetry_of

pytestmark = pytest.mark.real_cli  # run again with the current CLIs (.ci/run)

RUNNER = "codex"
MODEL = "gpt-5.5"
EFFORT = ("--effort", "xhigh")
PARTITION = "gpt-5-5-xhigh"


@pytest.fixture
def codex(
    request: pytest.FixtureRequest, example_kb: Path, tmp_path: Path
) -> Iterator[Callable[..., Bench]]:
    """`codex(**VendorAPI options)`: a Bench of the codex runner on the example KB."""
    with benches(request, example_kb, tmp_path) as make:
        yield lambda **options: make(RUNNER, **options)


def bundle(bench: Bench, *flags: str, model: str = MODEL) -> tuple[int, dict, str]:
    """`run-review-bundle SEEDS clarity` through codex; (exit code, JSON, stderr)."""
    done = bench.run(
        "run-review-bundle", SEEDS, "clarity", "--quiet", *bench.runner_args(model, *flags)
    )
    return done.code, json.loads(done.out) if done.out.strip() else {}, done.err


def test_a_review_bundle_completes_with_the_usage_the_server_reported(
    codex: Callable[..., Bench],
) -> None:
    bench = codex(decisions={CLARITY[0]: "FAIL"})
    code, report, err = bundle(bench)
    assert code == 0, err
    assert (report["completed"], report["failed"]) == (1, 0)
    (batch,) = report["batches"]
    assert batch["runner"] == RUNNER

    ((run_id, status, model_id, rekeyed_from, runner),) = bench.rows(
        "SELECT id, status, model_id, rekeyed_from, runner FROM review_runs"
    )
    assert (status, model_id, rekeyed_from, runner) == ("completed", "gpt-5-5", None, RUNNER)
    (telemetry,) = telemetry_of(bench.db, "review_runs")
    # OpenAI's counts as codex reports them: cached input inside input,
    # reasoning inside output.
    assert telemetry["tokens"]["input"] == 2000
    assert telemetry["tokens"]["cache_read"] == 1500
    assert telemetry["tokens"]["output"] == 400
    assert telemetry["tokens"]["reasoning"] == 60
    assert telemetry["input_includes_cache_read"] is True
    assert telemetry["model"] == MODEL
    assert telemetry["cli_version"] == cli_version(bench.cli or "codex")
    assert telemetry["batch_id"] == batch["batch_id"]
    assert telemetry["runs_in_batch"] == 1
    (batch_telemetry,) = telemetry_of(bench.db, "review_batches")
    assert batch_telemetry == {
        k: v for k, v in telemetry.items() if k not in ("batch_id", "runs_in_batch")
    }

    reviews = bench.rows(
        "SELECT gate_id, model_id, decision, findings_json FROM gate_reviews"
        " WHERE review_run_id = ? ORDER BY gate_id",
        (run_id,),
    )
    assert [r[:3] for r in reviews] == [
        (CLARITY[0], "gpt-5-5", "fail"),
        (CLARITY[1], "gpt-5-5", "pass"),
    ]
    assert json.loads(reviews[0][3]) == [
        {"severity": "fail", "text": f"example finding for {CLARITY[0]}."}
    ]
    events = bench.rows(
        "SELECT e.gate_id, e.model_id, e.acceptance_kind FROM acceptance_events e"
        " JOIN gate_reviews r ON r.id = e.accepted_review_id ORDER BY e.gate_id"
    )
    assert events == [(gate, "gpt-5-5", "full-review") for gate in CLARITY]


def test_the_effort_reaches_the_request_and_names_the_partition(
    codex: Callable[..., Bench],
) -> None:
    bench = codex()
    code, report, err = bundle(bench, *EFFORT)
    assert code == 0, err
    assert report["completed"] == 1
    (request,) = bench.api.review_requests()
    assert request.model == MODEL
    assert request.effort == "xhigh"
    assert bench.rows("SELECT status, model_id, rekeyed_from FROM review_runs") == [
        ("completed", PARTITION, None)
    ]
    assert bench.rows("SELECT DISTINCT model_id FROM gate_reviews") == [(PARTITION,)]
    assert bench.rows("SELECT model_id FROM acceptance_events") == [(PARTITION,)] * len(CLARITY)
    assert bench.rows("SELECT requested_effort, requested_model_id FROM review_batches") == [
        ("xhigh", PARTITION)
    ]
    (telemetry,) = telemetry_of(bench.db, "review_runs")
    assert telemetry["effort"] == "xhigh"


def test_a_rerouted_run_is_rekeyed_to_the_model_that_served(
    codex: Callable[..., Bench],
) -> None:
    bench = codex(served_model="gpt-5.4-mini")
    code, report, err = bundle(bench, *EFFORT)
    assert code == 0, err
    assert report["completed"] == 1
    actual = "gpt-5-4-mini-xhigh"
    assert bench.rows("SELECT status, model_id, rekeyed_from FROM review_runs") == [
        ("completed", actual, PARTITION)
    ]
    assert bench.rows("SELECT DISTINCT model_id FROM gate_reviews") == [(actual,)]
    assert bench.rows("SELECT model_id FROM acceptance_events") == [(actual,)] * len(CLARITY)
    (telemetry,) = telemetry_of(bench.db, "review_runs")
    assert telemetry["model"] == "gpt-5.4-mini"
    assert telemetry["requested_model"] == MODEL

    stale = bench.stale(MODEL, *EFFORT)
    assert [p for p in stale if p[0] == SEEDS and p[1] in CLARITY] == []
    assert [p for p in stale if p[0] == SEEDS]  # the other lenses are still stale


@pytest.mark.parametrize("mode", ["usage_limit", "rate_limit"])
def test_a_usage_limit_exits_75(codex: Callable[..., Bench], mode: str) -> None:
    bench = codex(mode=mode)
    started = time.monotonic()
    code, report, err = bundle(bench, *EFFORT)
    print(f"{mode} run ended after {time.monotonic() - started:.1f} s")
    assert code == 75, err
    assert report["usage_limited"] is True
    ((status, reason),) = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert status == "failed"
    assert reason.startswith("usage exhausted"), reason
    assert bench.rows("SELECT COUNT(*) FROM acceptance_events") == [(0,)]
    # No second call for a limit.
    assert len(bench.api.api_requests("responses")) == 1


def test_a_hung_server_times_out_and_leaves_no_codex_process(
    codex: Callable[..., Bench],
) -> None:
    bench = codex(mode="hang")
    done = bench.bundle_against_a_hung_server(MODEL, "codex")
    assert done.code == 1, done.err
    ((status, reason),) = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert status == "failed"
    assert reason.startswith("timed out after 5 s"), reason


def test_missing_pairs_are_asked_for_again_alone(codex: Callable[..., Bench]) -> None:
    missing = f"{SEEDS} :: {CLARITY[0]}"
    bench = codex(omit={missing}, omit_once=True, decisions={CLARITY[0]: "WARN"})
    code, report, err = bundle(bench, *EFFORT)
    assert code == 0, err
    assert (report["completed"], report["failed"]) == (1, 0)
    first, second = bench.api.review_requests()
    assert first.requested_pairs == [f"{SEEDS} :: {gate}" for gate in CLARITY]
    assert second.requested_pairs == [missing]
    assert second.effort == "xhigh"
    assert bench.rows("SELECT gate_id, decision FROM gate_reviews ORDER BY gate_id") == [
        (CLARITY[0], "warn"),
        (CLARITY[1], "pass"),
    ]
    (telemetry,) = telemetry_of(bench.db, "review_batches")
    assert telemetry["tokens"]["input"] == 2 * 2000
    assert len(telemetry["calls"]) == 2


def test_codex_reviews_in_its_read_only_sandbox(codex: Callable[..., Bench]) -> None:
    """Codex offers its model shell and patch tools; what keeps the reviewer
    read-only is the sandbox, and its own session rollout says which it used."""
    bench = codex()
    code, _, err = bundle(bench)
    assert code == 0, err
    (thread,) = [
        json.loads(r[0])["session_id"]
        for r in bench.rows("SELECT telemetry_json FROM review_batches")
    ]
    (rollout,) = (bench.home / ".codex" / "sessions").glob(f"*/*/*/rollout-*{thread}.jsonl")
    contexts = [
        event["payload"]
        for event in map(json.loads, rollout.read_text(encoding="utf-8").splitlines())
        if event.get("type") == "turn_context"
    ]
    assert contexts
    assert {c["sandbox_policy"]["type"] for c in contexts} == {"read-only"}
    assert {c["approval_policy"] for c in contexts} == {"never"}
