"""The repair path with the real `claude` and `codex` CLIs (the seeds' path 5;
SPEC 4, 8, 10, 14): reviews run against the loopback vendor API leave real
session logs in a temporary HOME; `commonplace-repair-codex-model-partitions`,
run as a real process, rebuilds from them the telemetry a run lost, and moves a
run whose log shows another model, its gate reviews and their acceptances, to
that model's partition."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from helpers.db import dump, execute_sql, filed_in, moved
from helpers.real_cli import CLARITY, COMMAND_DEADLINE, SEEDS, Bench, cli_version, telemetry_of
from helpers.vendor_api import Usage, run_cli

pytestmark = pytest.mark.real_cli  # run again with the current CLIs (.ci/run)

REPAIR = "repair-codex-model-partitions"
USAGE = Usage()
# The tokens the server reports, as each runner's telemetry counts them.
SERVER_TOKENS = {
    "claude-code": {
        "input": USAGE.input_tokens,
        "output": USAGE.output_tokens,
        "cache_read": USAGE.cache_read,
        "cache_write": USAGE.cache_write,
        "reasoning": None,
    },
    "codex": {
        "input": USAGE.responses_input_tokens,
        "output": USAGE.responses_output_tokens,
        "cache_read": USAGE.responses_cached_tokens,
        "cache_write": 0,
        "reasoning": USAGE.reasoning,
    },
}
# runner -> (--model, further flags, the partition they name)
REVIEWED_AS = {
    "claude-code": ("claude-sonnet-4-5", (), "claude-sonnet-4-5"),
    "codex": ("gpt-5.5", ("--effort", "xhigh"), "gpt-5-5-xhigh"),
}
# What a log can tell, and so what a repair must give back as the run had it.
FROM_THE_LOG = ("runner", "model", "models", "session_id", "cli_version", "effort", "tokens")


def bundle(bench: Bench, model: str, *flags: str) -> None:
    """`run-review-bundle SEEDS clarity` through the bench's runner; must succeed."""
    done = bench.run(
        "run-review-bundle", SEEDS, "clarity", "--quiet", *bench.runner_args(model, *flags)
    )
    assert done.code == 0, done.err


def repair(bench: Bench, *args: str) -> dict[str, Any]:
    """The repair command's JSON report; it must succeed."""
    done = bench.run(REPAIR, *args, "--json")
    assert done.code == 0, done.err
    report = done.json()
    assert isinstance(report, dict)
    return report


def counts(report: dict[str, Any]) -> dict[str, int]:
    keys = ("scanned", "matched", "telemetry_updated", "rekeyed", "unresolved")
    return {k: report[k] for k in keys}


def store_checks(bench: Bench) -> None:
    done = bench.run("review-store", "check")
    assert done.code == 0, done.out + done.err


def seeds_clarity(stale: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [p for p in stale if p[0] == SEEDS and p[1] in CLARITY]


def only_run_id(bench: Bench) -> int:
    ((run_id,),) = bench.rows("SELECT id FROM review_runs")
    return int(run_id)


# --- lost telemetry comes back --------------------------------------------------------------


@pytest.mark.parametrize("kept", ["nothing", "the session id"])
@pytest.mark.parametrize("runner", ["claude-code", "codex"])
def test_repair_restores_the_telemetry_a_run_lost(
    bench_factory: Callable[..., Bench], runner: str, kept: str
) -> None:
    """Found by the `Review run id` of the prompt its session was given, or by
    the session id when that survived."""
    bench = bench_factory(runner)
    model, flags, partition = REVIEWED_AS[runner]
    bundle(bench, model, *flags)
    (live,) = telemetry_of(bench.db, "review_runs")
    assert live["tokens"] == SERVER_TOKENS[runner]
    left = "NULL" if kept == "nothing" else f"'{json.dumps({'session_id': live['session_id']})}'"
    execute_sql(
        bench.db,
        f"UPDATE review_runs SET telemetry_json = {left}",
        "UPDATE review_batches SET telemetry_json = NULL",
    )

    report = repair(bench)

    assert counts(report) == {
        "scanned": 1,
        "matched": 1,
        "telemetry_updated": 1,
        "rekeyed": 0,
        "unresolved": 0,
    }
    (restored,) = telemetry_of(bench.db, "review_runs")
    assert restored["tokens"] == SERVER_TOKENS[runner]
    assert (restored["model"], restored["models"]) == (model, [model])
    assert restored["session_id"] == live["session_id"]
    assert restored["cli_version"] == cli_version(bench.cli or runner)
    assert {k: restored[k] for k in FROM_THE_LOG} == {k: live[k] for k in FROM_THE_LOG}
    assert (restored["batch_id"], restored["runs_in_batch"]) == (live["batch_id"], 1)
    (batch,) = telemetry_of(bench.db, "review_batches")
    assert batch["tokens"] == SERVER_TOKENS[runner]
    assert filed_in(bench.db, only_run_id(bench)) == moved(partition, None)
    store_checks(bench)
    assert repair(bench)["telemetry_updated"] == 0


# --- the logged model differs: the run and its acceptances are rekeyed --------------------------


def test_a_claude_run_never_rekeyed_moves_to_the_model_that_served_it(
    bench_factory: Callable[..., Bench],
) -> None:
    """A historical row: written under the requested model although the API
    served another, as rows were before runs were rekeyed when they finished.
    The served model shows only in the session log's answers."""
    bench = bench_factory("claude-code", served_model="claude-opus-4-6")
    bundle(bench, "claude-sonnet-4-5")
    run = only_run_id(bench)
    assert filed_in(bench.db, run) == moved("claude-opus-4-6", "claude-sonnet-4-5")
    (live,) = telemetry_of(bench.db, "review_runs")
    requested = "'claude-sonnet-4-5'"
    execute_sql(
        bench.db,
        f"UPDATE review_runs SET model_id = {requested}, rekeyed_from = NULL,"
        " telemetry_json = NULL",
        f"UPDATE gate_reviews SET model_id = {requested}",
        f"UPDATE acceptance_events SET model_id = {requested}",
        "UPDATE review_batches SET telemetry_json = NULL",
        "DELETE FROM model_alias_resolutions",
    )
    assert seeds_clarity(bench.stale("claude-sonnet-4-5")) == []

    report = repair(bench)

    assert (report["matched"], report["rekeyed"], report["unresolved"]) == (1, 1, 0)
    (done,) = report["runs"]
    assert (done["model_id"], done["rekeyed_from"]) == ("claude-opus-4-6", "claude-sonnet-4-5")
    assert filed_in(bench.db, run) == moved("claude-opus-4-6", "claude-sonnet-4-5")
    (restored,) = telemetry_of(bench.db, "review_runs")
    assert (restored["model"], restored["session_id"]) == ("claude-opus-4-6", live["session_id"])
    assert restored["tokens"] == SERVER_TOKENS["claude-code"]
    store_checks(bench)
    assert seeds_clarity(bench.stale("claude-opus-4-6")) == []
    assert seeds_clarity(bench.stale("claude-sonnet-4-5")) == [
        (SEEDS, gate, "missing-review") for gate in CLARITY
    ]


def live_agent_review(bench: Bench, created_with: tuple[str, ...], agent: list[str]) -> int:
    """The live-agent path run by hand: `create-review-run ... --with-prompt`,
    the agent CLI given the prompt on stdin in the KB, its answer written to
    the output file and ingested. The run id; the run is completed under the
    partition it was created for, without telemetry."""
    created = bench.run(
        "create-review-run", SEEDS, "clarity", *created_with, "--with-prompt", "--json"
    )
    assert created.code == 0, created.err
    run = created.json()
    prompt = (bench.kb / run["prompt_path"]).read_text(encoding="utf-8")
    assert f"Review run id: {run['review_run_id']}" in prompt
    session = run_cli(agent, cwd=bench.kb, env=bench.env, stdin=prompt, timeout=COMMAND_DEADLINE)
    assert (session.returncode, session.killed) == (0, False), session.stderr[-2000:]
    if bench.runner == "codex":
        answers = [e["item"] for e in session.of_type("item.completed")]
        text = "\n".join(a["text"] for a in answers if a.get("type") == "agent_message")
    else:
        (result,) = session.of_type("result")
        text = result["result"]
    output = bench.kb / run["bundle_output_path"]
    output.write_text(text, encoding="utf-8")
    ingested = bench.run(
        "ingest-bundle-output",
        *("--review-run-id", str(run["review_run_id"]), "--input-file", str(output), "--json"),
    )
    assert ingested.code == 0, ingested.err
    assert ingested.json()["status"] == "completed"
    assert bench.rows("SELECT telemetry_json FROM review_runs") == [(None,)]
    return int(run["review_run_id"])


def test_a_codex_live_agent_run_moves_to_the_model_codex_ran(
    bench_factory: Callable[..., Bench],
) -> None:
    """The run was created for gpt-5.5 at high effort, but the agent ran codex
    with gpt-5.4-mini at medium; only its rollout says so, and the run has no
    session id: the `Review run id` of the prompt finds it."""
    bench = bench_factory("codex")
    assert bench.cli is not None
    run = live_agent_review(
        bench,
        ("--runner", "codex", "--model", "gpt-5.5", "--effort", "high"),
        [
            *(bench.cli, "exec", "--json", "--sandbox", "read-only", "--skip-git-repo-check"),
            *("--model", "gpt-5.4-mini", "-c", "model_reasoning_effort=medium", "-"),
        ],
    )
    assert filed_in(bench.db, run) == moved("gpt-5-5-high", None)
    (request,) = bench.api.review_requests()
    assert (request.model, request.effort) == ("gpt-5.4-mini", "medium")

    report = repair(bench)

    assert counts(report) == {
        "scanned": 1,
        "matched": 1,
        "telemetry_updated": 1,
        "rekeyed": 1,
        "unresolved": 0,
    }
    assert filed_in(bench.db, run) == moved("gpt-5-4-mini-medium", "gpt-5-5-high")
    (restored,) = telemetry_of(bench.db, "review_runs")
    assert (restored["model"], restored["effort"]) == ("gpt-5.4-mini", "medium")
    assert restored["tokens"] == SERVER_TOKENS["codex"]
    assert restored["cli_version"] == cli_version(bench.cli)
    (log,) = report["runs"][0]["session_logs"]
    assert log.endswith(f"-{restored['session_id']}.jsonl")
    store_checks(bench)
    assert seeds_clarity(bench.stale("gpt-5.4-mini", "--effort", "medium")) == []
    assert seeds_clarity(bench.stale("gpt-5.5", "--effort", "high")) == [
        (SEEDS, gate, "missing-review") for gate in CLARITY
    ]


def test_a_claude_live_agent_run_moves_to_the_model_that_served_it(
    bench_factory: Callable[..., Bench],
) -> None:
    bench = bench_factory("claude-code", served_model="claude-opus-4-6")
    assert bench.cli is not None
    run = live_agent_review(
        bench,
        ("--runner", "claude-code", "--model", "claude-sonnet-4-5"),
        [
            *(bench.cli, "-p", "--output-format", "stream-json", "--verbose"),
            *("--model", "claude-sonnet-4-5", "--tools", "Read,Glob,Grep"),
        ],
    )
    assert filed_in(bench.db, run) == moved("claude-sonnet-4-5", None)

    report = repair(bench)

    assert (report["matched"], report["rekeyed"], report["unresolved"]) == (1, 1, 0)
    assert filed_in(bench.db, run) == moved("claude-opus-4-6", "claude-sonnet-4-5")
    (restored,) = telemetry_of(bench.db, "review_runs")
    assert (restored["model"], restored["tokens"]) == (
        "claude-opus-4-6",
        SERVER_TOKENS["claude-code"],
    )
    store_checks(bench)
    assert seeds_clarity(bench.stale("claude-opus-4-6")) == []


# --- nothing to repair ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "runner",
    [
        "claude-code",
        "codex",
    ],
)
def test_a_healthy_store_is_left_as_it_is(bench_factory: Callable[..., Bench], runner: str) -> None:
    """Runs that kept their telemetry: their logs are found and agree."""
    bench = bench_factory(runner)
    model, flags, _ = REVIEWED_AS[runner]
    bundle(bench, model, *flags)
    before = dump(bench.db)

    report = repair(bench)

    assert counts(report) == {
        "scanned": 1,
        "matched": 1,
        "telemetry_updated": 0,
        "rekeyed": 0,
        "unresolved": 0,
    }
    assert dump(bench.db) == before


def test_a_rerouted_codex_run_stays_where_it_was_rekeyed(
    bench_factory: Callable[..., Bench],
) -> None:
    bench = bench_factory("codex", served_model="gpt-5.4-mini")
    bundle(bench, "gpt-5.5", "--effort", "xhigh")
    run = only_run_id(bench)
    assert filed_in(bench.db, run) == moved("gpt-5-4-mini-xhigh", "gpt-5-5-xhigh")
    execute_sql(
        bench.db,
        "UPDATE review_runs SET telemetry_json = NULL",
        "UPDATE review_batches SET telemetry_json = NULL",
    )

    repair(bench)

    assert filed_in(bench.db, run) == moved("gpt-5-4-mini-xhigh", "gpt-5-5-xhigh")
