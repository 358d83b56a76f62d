"""The `claude-code` runner end to end: `commonplace-run-review-bundle --runner
claude-code` as a real process, launching the real `claude` CLI against the
loopback Anthropic Messages API (SPEC 4, 8, 9, 14)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.real_cli import CLARITY, SEEDS, Bench, benches, cli_version, telemetry_of

pytestmark = pytest.mark.real_cli  # run again with the current CLIs (.ci/run)

RUNNER = "claude-code"
MODEL = "claude-sonnet-4-5"  # priced by claude at $0.00969 for the server's usage


@pytest.fixture
def claude(
    request: pytest.FixtureRequest, example_kb: Path, tmp_path: Path
) -> Iterator[Callable[..., Bench]]:
    """`claude(**VendorAPI options)`: a Bench of the claude-code runner on the example KB."""
    with benches(request, example_kb, tmp_path) as make:
        yield lambda **options: make(RUNNER, **options)


def bundle(
    bench: Bench, model: str = MODEL, *extra: str, quiet: bool = True
) -> tuple[int, dict, str]:
    """`run-review-bundle SEEDS clarity` through claude; (exit code, JSON, stderr)."""
    done = bench.run(
        "run-review-bundle",
        *(SEEDS, "clarity", *(["--quiet"] if quiet else [])),
        *bench.runner_args(model, *extra),
    )
    return done.code, json.loads(done.out) if done.out.strip() else {}, done.err


def test_a_review_bundle_completes_with_the_usage_the_server_reported(
    claude: Callable[..., Bench],
) -> None:
    bench = claude(decisions={CLARITY[1]: "WARN"})
    code, report, err = bundle(bench, quiet=False)
    assert code == 0, err
    assert (report["completed"], report["failed"]) == (1, 0)
    (batch,) = report["batches"]
    # The live text went to stderr, prefixed with its batch (stdout is the JSON).
    prefix = f"[batch {batch['batch_id']}] "
    ((token,),) = bench.rows("SELECT boundary_token FROM review_batches")
    start = f"=== PAIR REVIEW START {token}: {SEEDS} :: {CLARITY[0]} ==="
    assert f"{prefix}{start}" in err.splitlines()
    assert batch["runner"] == RUNNER
    assert batch["cost_usd"] == pytest.approx(0.00969)

    ((run_id, status, model_id, rekeyed_from, runner),) = bench.rows(
        "SELECT id, status, model_id, rekeyed_from, runner FROM review_runs"
    )
    assert (status, model_id, rekeyed_from, runner) == ("completed", MODEL, None, RUNNER)
    (telemetry,) = telemetry_of(bench.db, "review_runs")
    assert telemetry["tokens"] == {
        "input": 1200,
        "output": 340,
        "cache_read": 800,
        "cache_write": 200,
        "reasoning": None,
    }
    assert telemetry["cost_usd"] == pytest.approx(0.00969)
    assert telemetry["model"] == MODEL
    assert telemetry["models"] == [MODEL]
    assert telemetry["cli_version"] == cli_version(bench.cli or "claude")
    assert telemetry["batch_id"] == batch["batch_id"]
    assert telemetry["runs_in_batch"] == 1
    # The batch holds the same payload, without the per-run keys.
    (batch_telemetry,) = telemetry_of(bench.db, "review_batches")
    assert batch_telemetry == {
        k: v for k, v in telemetry.items() if k not in ("batch_id", "runs_in_batch")
    }

    reviews = bench.rows(
        "SELECT gate_id, model_id, decision, findings_json, review_kind FROM gate_reviews"
        " WHERE review_run_id = ? ORDER BY gate_id",
        (run_id,),
    )
    assert [r[:3] for r in reviews] == [(CLARITY[0], MODEL, "pass"), (CLARITY[1], MODEL, "warn")]
    assert json.loads(reviews[1][3]) == [
        {"severity": "warn", "text": f"example finding for {CLARITY[1]}."}
    ]
    assert {r[4] for r in reviews} == {"full-review"}
    events = bench.rows(
        "SELECT e.gate_id, e.model_id, e.acceptance_kind FROM acceptance_events e"
        " JOIN gate_reviews r ON r.id = e.accepted_review_id ORDER BY e.gate_id"
    )
    assert events == [(gate, MODEL, "full-review") for gate in CLARITY]
    # A batch that went well keeps its manifest; the store has the rest.
    reports = bench.kb / "kb" / "reports" / "bundle-reviews"
    assert (reports / f"review-batch-{batch['batch_id']}" / "manifest.json").is_file()
    assert not (reports / f"review-run-{run_id}").exists()


@pytest.mark.parametrize("model", [MODEL, "sonnet"])
def test_the_reviewer_is_offered_only_read_only_tools(
    claude: Callable[..., Bench], model: str
) -> None:
    bench = claude()
    code, _, err = bundle(bench, model)
    assert code == 0, err
    (request,) = bench.api.review_requests()
    assert request.requested_pairs == [f"{SEEDS} :: {gate}" for gate in CLARITY]
    writing = {"Bash", "Edit", "Write", "MultiEdit", "NotebookEdit"}
    assert not writing & {*request.tool_names, *request.deferred_tool_names}
    # deferred placeholders (claude 2.1.337 with `sonnet`) are not offered for use
    assert sorted(request.tool_names) == ["Glob", "Grep", "Read"]


def test_a_run_served_by_another_model_is_rekeyed_to_it(claude: Callable[..., Bench]) -> None:
    bench = claude(served_model="claude-opus-4-6")
    flags = ("--effort", "low")
    code, report, err = bundle(bench, "sonnet", *flags)
    assert code == 0, err
    assert report["completed"] == 1
    (request,) = bench.api.review_requests()
    assert request.effort == "low"  # sonnet takes an effort: sent as output_config.effort

    actual, requested = "claude-opus-4-6-low", "sonnet-low"
    assert bench.rows("SELECT status, model_id, rekeyed_from FROM review_runs") == [
        ("completed", actual, requested)
    ]
    assert bench.rows("SELECT DISTINCT model_id FROM gate_reviews") == [(actual,)]
    assert bench.rows("SELECT DISTINCT model_id FROM acceptance_events") == [(actual,)]
    assert bench.rows("SELECT COUNT(*) FROM acceptance_events") == [(len(CLARITY),)]
    assert bench.rows(
        "SELECT requested_model, requested_effort, resolved_model_id FROM model_alias_resolutions"
    ) == [("sonnet", "low", actual)]

    # Asking again with the same flags looks at the partition that was written.
    stale = bench.stale("sonnet", *flags)
    assert [p for p in stale if p[0] == SEEDS and p[1] in CLARITY] == []
    assert [p for p in stale if p[0] == SEEDS]  # the other lenses are still stale
    planned = bench.run(
        "run-review-bundle", SEEDS, "clarity", "--dry-run", *bench.runner_args("sonnet", *flags)
    )
    assert planned.code == 0, planned.err
    assert planned.json()["model_id"] == actual


def test_a_rate_limit_stops_the_call_and_exits_75(claude: Callable[..., Bench]) -> None:
    bench = claude(mode="rate_limit")
    started = time.monotonic()
    code, report, err = bundle(bench)
    print(f"rate limited run ended after {time.monotonic() - started:.1f} s")
    assert code == 75, err
    assert report["usage_limited"] is True
    runs = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert [status for status, _ in runs] == ["failed"]
    assert runs[0][1].startswith("usage exhausted"), runs
    assert "429" in runs[0][1]
    assert bench.rows("SELECT COUNT(*) FROM gate_reviews") == [(0,)]
    assert bench.rows("SELECT COUNT(*) FROM acceptance_events") == [(0,)]


def test_a_usage_limit_answered_at_once_exits_75(claude: Callable[..., Bench]) -> None:
    bench = claude(mode="usage_limit")
    code, report, err = bundle(bench)
    assert code == 75, err
    assert report["usage_limited"] is True
    ((status, reason),) = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert status == "failed"
    assert reason.startswith("usage exhausted"), reason


def test_a_hung_server_times_out_and_leaves_no_claude_process(
    claude: Callable[..., Bench],
) -> None:
    bench = claude(mode="hang")
    done = bench.bundle_against_a_hung_server(MODEL, "claude")
    assert done.code == 1, done.err
    ((status, reason),) = bench.rows("SELECT status, failure_reason FROM review_runs")
    assert status == "failed"
    assert reason.startswith("timed out after 5 s"), reason


def test_missing_pairs_are_asked_for_again_alone(claude: Callable[..., Bench]) -> None:
    missing = f"{SEEDS} :: {CLARITY[1]}"
    bench = claude(omit={missing}, omit_once=True)
    code, report, err = bundle(bench)
    assert code == 0, err
    assert (report["completed"], report["failed"]) == (1, 0)
    first, second = bench.api.review_requests()
    assert first.requested_pairs == [f"{SEEDS} :: {gate}" for gate in CLARITY]
    assert second.requested_pairs == [missing]
    assert bench.api.answerer.omitted == [missing]
    assert bench.rows("SELECT gate_id, decision FROM gate_reviews ORDER BY gate_id") == [
        (gate, "pass") for gate in CLARITY
    ]
    # Both calls are counted on the batch, once.
    (telemetry,) = telemetry_of(bench.db, "review_batches")
    assert telemetry["tokens"]["input"] == 2 * 1200
    assert len(telemetry["calls"]) == 2
