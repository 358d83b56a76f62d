"""`commonplace-repair-codex-model-partitions` (SPEC 10): rebuild telemetry
from the harness CLIs' session logs and rekey runs, reported as text or JSON,
with `--runner`, `--review-run-id`, `--dry-run` and `--db`. The logs are the
vendor-format files rewritten into the test's HOME (see
tests/review/runners/test_session_logs.py); the real CLIs write them in
tests/review/runners/test_repair_real_cli.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import EX_CLAIM_NOTE, EX_NOTE, Cli, assert_refused, complete_run, create_run
from helpers.db import dump, one, store_of
from helpers.session_logs import claude_log, codex_rollout, with_marker

COMMAND = "repair-codex-model-partitions"
DATE_NOTE = "kb/notes/date-every-entry-before-writing-anything-else.md"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The HOME of the test (see tests/conftest.py), where the command looks
    for ~/.claude and ~/.codex: no config dir of the machine is read."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return Path(os.environ["HOME"])


def codex_run(cli: Cli, kb: Path, note: str = EX_CLAIM_NOTE) -> int:
    """A completed run labelled `codex` for gpt-5.5 at high effort, as a live
    agent leaves it: no telemetry. (A `--runner` in `extra` wins over the
    helper's `live-agent`.)"""
    created, _ = complete_run(
        cli, kb, note, "clarity", model="gpt-5.5", extra=("--runner", "codex", "--effort", "high")
    )
    return int(created["review_run_id"])


def claude_run(cli: Cli, kb: Path, note: str = EX_NOTE) -> int:
    created, _ = complete_run(
        cli, kb, note, "clarity", model="claude-sonnet-4-5", extra=("--runner", "claude-code")
    )
    return int(created["review_run_id"])


def a_store_to_repair(cli: Cli, kb: Path, home: Path) -> tuple[int, int, int]:
    """A codex run that codex served with gpt-5.4-mini at medium effort, a
    claude run whose log shows the model it was filed under, and a codex run
    still running; each named by its session's prompt. Their ids."""
    rekey, restore = codex_run(cli, kb), claude_run(cli, kb)
    created = create_run(
        cli, kb, DATE_NOTE, "clarity", model="gpt-5.5", extra=("--runner", "codex")
    )
    running = int(created["review_run_id"])
    codex_rollout(
        home / ".codex",
        "thread-1",
        cwd=kb,
        prompt=with_marker(rekey),
        model="gpt-5.4-mini",
        effort="medium",
    )
    claude_log(home / ".claude", "session-1", cwd=kb, prompt=with_marker(restore))
    codex_rollout(home / ".codex", "thread-2", cwd=kb, prompt=with_marker(running))
    return rekey, restore, running


def counts(report: Any) -> tuple[int, ...]:
    return tuple(
        report[k]
        for k in (
            "session_logs",
            "scanned",
            "matched",
            "telemetry_updated",
            "rekeyed",
            "unresolved",
        )
    )


def test_json_reports_the_counts_and_each_run(cli: Cli, example_kb: Path, home: Path) -> None:
    rekey, restore, running = a_store_to_repair(cli, example_kb, home)

    result = cli(COMMAND, "--json", cwd=example_kb)

    assert result.code == 0, result.err
    report = result.json()
    assert isinstance(report, dict)
    assert report["dry_run"] is False
    assert counts(report) == (3, 3, 2, 2, 1, 1)
    runs = {r["review_run_id"]: r for r in report["runs"]}
    assert runs[rekey] == {
        "review_run_id": rekey,
        "runner": "codex",
        "model_id": "gpt-5-4-mini-medium",
        "rekeyed_from": "gpt-5-5-high",
        "telemetry_updated": True,
        "session_logs": [
            str(home / ".codex/sessions/2026/11/20/rollout-2026-11-20T23-13-54-thread-1.jsonl")
        ],
        "unresolved": None,
    }
    assert runs[restore]["model_id"] == "claude-sonnet-4-5"
    assert (runs[restore]["rekeyed_from"], runs[restore]["telemetry_updated"]) == (None, True)
    assert runs[running]["unresolved"] == "still running"
    assert runs[running]["session_logs"] == []
    db = store_of(example_kb)
    assert one(db, "SELECT model_id, rekeyed_from FROM review_runs WHERE id = ?", (rekey,)) == (
        "gpt-5-4-mini-medium",
        "gpt-5-5-high",
    )
    check = cli("review-store", "check", cwd=example_kb)
    assert check.code == 0, check.out + check.err


def test_text_names_each_change_and_sums_up(cli: Cli, example_kb: Path, home: Path) -> None:
    rekey, restore, running = a_store_to_repair(cli, example_kb, home)

    result = cli(COMMAND, cwd=example_kb)

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"run {rekey}: gpt-5-5-high -> gpt-5-4-mini-medium",
        f"run {restore}: telemetry restored (claude-sonnet-4-5)",
        f"run {running}: unresolved: still running",
        "scanned 3 run(s) against 3 session log(s): matched 2, telemetry updated 2,"
        " rekeyed 1, unresolved 1 (written)",
    ]
    again = cli(COMMAND, cwd=example_kb)
    assert again.out.splitlines()[-2:] == [
        f"run {running}: unresolved: still running",
        "scanned 3 run(s) against 2 session log(s): matched 2, telemetry updated 0,"
        " rekeyed 0, unresolved 1 (written)",
    ]


def test_a_dry_run_reports_the_same_and_changes_nothing(
    cli: Cli, example_kb: Path, home: Path
) -> None:
    a_store_to_repair(cli, example_kb, home)
    db = store_of(example_kb)
    before = dump(db)

    text = cli(COMMAND, "--dry-run", cwd=example_kb)
    dry = cli(COMMAND, "--dry-run", "--json", cwd=example_kb)

    assert (text.code, dry.code) == (0, 0), text.err + dry.err
    assert dump(db) == before
    assert text.out.splitlines()[-1].endswith("(dry run, nothing changed)")
    planned = dry.json()
    assert isinstance(planned, dict) and planned["dry_run"] is True
    done = cli(COMMAND, "--json", cwd=example_kb).json()
    assert isinstance(done, dict)
    assert counts(planned) == counts(done)
    assert planned["runs"] == done["runs"]


def test_runner_chooses_whose_logs_and_runs(cli: Cli, example_kb: Path, home: Path) -> None:
    rekey, restore, running = a_store_to_repair(cli, example_kb, home)

    only_claude = cli(COMMAND, "--runner", "claude-code", "--dry-run", "--json", cwd=example_kb)
    only_codex = cli(COMMAND, "--runner", "codex", "--dry-run", "--json", cwd=example_kb)

    claude_report, codex_report = only_claude.json(), only_codex.json()
    assert isinstance(claude_report, dict) and isinstance(codex_report, dict)
    assert [r["review_run_id"] for r in claude_report["runs"]] == [restore]
    assert claude_report["session_logs"] == 1
    assert [r["review_run_id"] for r in codex_report["runs"]] == [rekey, running]
    assert codex_report["session_logs"] == 2


def test_review_run_ids_name_runs_whatever_their_runner(
    cli: Cli, example_kb: Path, home: Path
) -> None:
    created, _ = complete_run(cli, example_kb, EX_NOTE, "clarity", model="gpt-5.5")
    agent = int(created["review_run_id"])  # runner live-agent
    codex = codex_run(cli, example_kb)
    for run in (agent, codex):
        codex_rollout(
            home / ".codex", f"t-{run}", cwd=example_kb, prompt=with_marker(run), effort="high"
        )

    default = cli(COMMAND, "--json", "--dry-run", cwd=example_kb).json()
    named = cli(
        COMMAND,
        *("--review-run-id", str(agent), "--review-run-id", str(codex)),
        "--json",
        cwd=example_kb,
    ).json()

    assert isinstance(default, dict) and isinstance(named, dict)
    assert [r["review_run_id"] for r in default["runs"]] == [codex]
    assert [(r["review_run_id"], r["runner"]) for r in named["runs"]] == [
        (agent, "live-agent"),
        (codex, "codex"),
    ]
    assert named["telemetry_updated"] == 2


def test_db_and_the_config_dirs_of_the_environment_are_used(
    cli: Cli, example_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "elsewhere" / "store.sqlite"
    monkeypatch.setenv("COMMONPLACE_REVIEW_DB", str(db))
    run = codex_run(cli, example_kb)
    monkeypatch.delenv("COMMONPLACE_REVIEW_DB")
    codex_home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    codex_rollout(codex_home, "t-1", cwd=example_kb, prompt=with_marker(run), model="o4")

    result = cli(COMMAND, "--db", str(db), "--json", cwd=example_kb)

    assert result.code == 0, result.err
    report = result.json()
    assert isinstance(report, dict) and report["rekeyed"] == 1
    assert one(db, "SELECT model_id FROM review_runs WHERE id = ?", (run,)) == "o4-xhigh"
    assert not store_of(example_kb).exists()


# --- refusals ---------------------------------------------------------------------------------


def test_an_unknown_run_id_is_refused_and_nothing_changes(
    cli: Cli, example_kb: Path, home: Path
) -> None:
    rekey, _, _ = a_store_to_repair(cli, example_kb, home)
    db = store_of(example_kb)
    before = dump(db)

    result = cli(COMMAND, "--review-run-id", str(rekey), "99", "--json", cwd=example_kb)

    assert_refused(result, 1, mentions="no review run 99")
    error = result.json()
    assert isinstance(error, dict) and error["exit_code"] == 1
    assert dump(db) == before


def test_without_a_store_it_is_refused_and_creates_none(
    cli: Cli, example_kb: Path, home: Path
) -> None:
    result = cli(COMMAND, "--dry-run", cwd=example_kb)
    assert_refused(result, 1, mentions="no review store")
    assert not store_of(example_kb).exists()


@pytest.mark.parametrize(
    "args",
    [("--runner", "live-agent"), ("--review-run-id", "0"), ("--review-run-id", "x"), ("--bogus",)],
)
def test_bad_arguments_are_usage_errors(
    cli: Cli, example_kb: Path, home: Path, args: tuple[str, ...]
) -> None:
    codex_run(cli, example_kb)
    before = dump(store_of(example_kb))
    assert_refused(cli(COMMAND, *args, cwd=example_kb), 2)
    assert dump(store_of(example_kb)) == before
