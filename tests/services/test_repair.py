"""Repairing finished runs from the harness CLIs' own session logs (the seeds'
path 5; SPEC 4 and 6).

`lifecycle.repair_run` is the one place a finished run gets telemetry back and
moves, with its gate reviews and their `full-review` acceptances, to another
partition. `repair.repair_model_partitions` finds each run's log by the session
id its telemetry names, else by the `Review run id: N` lines of the prompts the
logs recorded, rebuilds telemetry (what is stored wins, the log fills gaps) and
rekeys through it. The logs are the vendor-format files rewritten into a
temporary HOME (see tests/review/runners/test_session_logs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.db import dump, filed_in, moved, one
from helpers.reviews import review
from helpers.session_logs import claude_log, codex_rollout, with_marker
from helpers.store import ABBREV, FROST, REPEATS, SEEDS, make_plan

from commonplace.errors import UserError
from commonplace.lifecycle import (
    ExecutionData,
    Packing,
    PendingReview,
    RunNotFinalizable,
    RunStatus,
    create_batch,
    fail_run,
    record_and_finalize_run,
    repair_run,
)
from commonplace.runners.claude_code import ClaudeCodeAdapter
from commonplace.runners.codex import CodexAdapter
from commonplace.services.repair import RepairReport, repair_model_partitions
from commonplace.services.selector import select_targets
from commonplace.store.check import check_store
from commonplace.workspace import Workspace, open_workspace

CLARITY = (REPEATS, ABBREV)
ADAPTERS = {"claude-code": ClaudeCodeAdapter, "codex": CodexAdapter}
# What the captured sessions report (tests/review/runners/test_session_logs.py).
CLAUDE_TOKENS = {"input": 1200, "output": 340, "cache_read": 800, "cache_write": 200}
CODEX_TOKENS = {"input": 2000, "output": 400, "cache_read": 1500, "cache_write": 0}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The HOME whose ~/.claude and ~/.codex the repair reads."""
    return tmp_path / "home"


def finished_run(
    ws: Workspace,
    *,
    runner: str = "codex",
    model: str = "gpt-5.5",
    effort: str | None = "high",
    note: str = SEEDS,
    telemetry: dict[str, Any] | None = None,
    actual: str | None = None,
) -> int:
    """A completed run of the clarity lens on `note` (both gates PASS), with
    `telemetry` stored as its runner left it and rekeyed to `actual` if
    given; returns its id."""
    batch = create_batch(
        ws.store,
        make_plan(ws.config.kb_root, [(note, CLARITY)]),
        packing=Packing.NOTE,
        runner=runner,
        partition=ws.partition(model, effort),
    )
    (run,) = batch.runs
    outcome = record_and_finalize_run(
        ws.store,
        run.review_run_id,
        reviews=[PendingReview.from_text(gate, review("PASS")) for gate in run.gate_ids],
        actual_model_id=actual,
        execution=None if telemetry is None else ExecutionData(telemetry=telemetry),
    )
    assert outcome.status is RunStatus.COMPLETED
    return run.review_run_id


def running_run(ws: Workspace, runner: str = "codex") -> int:
    """A run of the clarity lens on FROST for gpt-5.5 at high effort, still running."""
    batch = create_batch(
        ws.store,
        make_plan(ws.config.kb_root, [(FROST, CLARITY)]),
        packing=Packing.NOTE,
        runner=runner,
        partition=ws.partition("gpt-5.5", "high"),
    )
    return batch.runs[0].review_run_id


def repair(
    ws: Workspace,
    home: Path,
    *review_run_ids: int,
    runners: tuple[str, ...] = tuple(ADAPTERS),
    dry_run: bool = False,
) -> RepairReport:
    return repair_model_partitions(
        ws.store,
        [ADAPTERS[name]() for name in runners],
        kb_root=ws.config.kb_root,
        env={"HOME": str(home)},
        review_run_ids=review_run_ids,
        dry_run=dry_run,
    )


def filed(ws: Workspace, run_id: int) -> tuple[str, str | None, list[str], list[str]]:
    return filed_in(ws.store.path, run_id)


def telemetry_of(ws: Workspace, table: str, row_id: int) -> dict[str, Any] | None:
    text = one(ws.store.path, f"SELECT telemetry_json FROM {table} WHERE id = ?", (row_id,))
    return None if text is None else json.loads(text)


def batch_of(ws: Workspace, run_id: int) -> int:
    return int(one(ws.store.path, "SELECT batch_id FROM review_runs WHERE id = ?", (run_id,)))


def stale(ws: Workspace, model: str, effort: str | None) -> list[tuple[str, str, str]]:
    """The selector's stale clarity pairs of SEEDS in the partition of these flags."""
    selection = select_targets(
        ws, gate_refs=["clarity"], model=model, effort=effort, note_refs=[SEEDS]
    )
    return [(p.note_path, p.gate_id, p.reason) for p in selection.pairs]


# --- lifecycle.repair_run ---------------------------------------------------------------------


def test_repair_run_moves_a_completed_run_its_reviews_and_their_acceptances(
    ws: Workspace,
) -> None:
    run = finished_run(ws)
    other = finished_run(ws, note=FROST)
    events = one(ws.store.path, "SELECT COUNT(*) FROM acceptance_events")

    outcome = repair_run(
        ws.store, run, telemetry={"model": "gpt-5.4-mini"}, actual_model_id="gpt-5-4-mini-high"
    )

    assert (outcome.status, outcome.model_id, outcome.rekeyed_from, outcome.reason) == (
        RunStatus.COMPLETED,
        "gpt-5-4-mini-high",
        "gpt-5-5-high",
        None,
    )
    assert filed(ws, run) == moved("gpt-5-4-mini-high", "gpt-5-5-high")
    assert telemetry_of(ws, "review_runs", run) == {"model": "gpt-5.4-mini"}
    # Moved, not copied; the other run of the old partition stays where it is.
    assert one(ws.store.path, "SELECT COUNT(*) FROM acceptance_events") == events
    assert filed(ws, other) == moved("gpt-5-5-high", None)
    assert check_store(ws.store).ok


def test_rekeyed_from_stays_the_partition_the_run_was_created_under(ws: Workspace) -> None:
    run = finished_run(ws, actual="gpt-5-4-mini-high")  # rekeyed when it finished
    assert filed(ws, run) == moved("gpt-5-4-mini-high", "gpt-5-5-high")

    again = repair_run(ws.store, run, telemetry={}, actual_model_id="gpt-5-4-nano-high")

    assert again.rekeyed_from == "gpt-5-4-mini-high"  # where this repair moved it from
    assert filed(ws, run) == moved("gpt-5-4-nano-high", "gpt-5-5-high")
    back = repair_run(ws.store, run, telemetry={}, actual_model_id="gpt-5-5-high")
    assert back.model_id == "gpt-5-5-high"
    assert filed(ws, run) == moved("gpt-5-5-high", None)  # where it began: not rekeyed
    assert check_store(ws.store).ok


@pytest.mark.parametrize("actual", [None, "gpt-5-5-high"])
def test_repair_run_in_the_same_partition_only_attaches_telemetry(
    ws: Workspace, actual: str | None
) -> None:
    run = finished_run(ws)

    outcome = repair_run(ws.store, run, telemetry={"turns": 1}, actual_model_id=actual)

    assert (outcome.model_id, outcome.rekeyed_from) == ("gpt-5-5-high", None)
    assert filed(ws, run) == moved("gpt-5-5-high", None)
    assert telemetry_of(ws, "review_runs", run) == {"turns": 1}


def test_the_batch_gets_telemetry_only_when_it_has_none(ws: Workspace) -> None:
    run = finished_run(ws)
    batch = batch_of(ws, run)

    repair_run(ws.store, run, telemetry={"turns": 1}, batch_telemetry={"turns": 1})
    repair_run(ws.store, run, telemetry={"turns": 2}, batch_telemetry={"turns": 2})

    assert telemetry_of(ws, "review_batches", batch) == {"turns": 1}
    assert telemetry_of(ws, "review_runs", run) == {"turns": 2}


def test_a_failed_run_is_moved_and_stays_failed(ws: Workspace) -> None:
    run = running_run(ws)
    fail_run(ws.store, run, "usage exhausted: try later")

    outcome = repair_run(ws.store, run, telemetry={}, actual_model_id="gpt-5-4-mini-high")

    assert (outcome.status, outcome.model_id, outcome.reason) == (
        RunStatus.FAILED,
        "gpt-5-4-mini-high",
        "usage exhausted: try later",
    )
    assert filed(ws, run) == ("gpt-5-4-mini-high", "gpt-5-5-high", [], [])
    assert one(ws.store.path, "SELECT status FROM review_runs WHERE id = ?", (run,)) == "failed"


def test_repair_run_refuses_a_running_or_unknown_run_and_changes_nothing(
    ws: Workspace,
) -> None:
    run = running_run(ws)
    before = dump(ws.store.path)

    with pytest.raises(RunNotFinalizable, match="still running"):
        repair_run(ws.store, run, telemetry={"x": 1}, actual_model_id="gpt-5-4-mini-high")
    with pytest.raises(RunNotFinalizable, match="not found"):
        repair_run(ws.store, run + 1, telemetry={"x": 1}, actual_model_id="gpt-5-4-mini-high")

    assert dump(ws.store.path) == before


# --- finding a run's log ----------------------------------------------------------------------


@pytest.mark.parametrize("runner", list(ADAPTERS))
def test_a_run_is_found_by_the_session_id_its_telemetry_names(
    ws: Workspace, home: Path, runner: str
) -> None:
    """What was lost is restored from the log; the session id alone finds it,
    wherever the session ran."""
    session = "session-1"
    if runner == "codex":
        model, effort, tokens = "gpt-5.5", "high", CODEX_TOKENS
        log = codex_rollout(home / ".codex", session, cwd="/elsewhere", effort="high")
        partition, cli_version = "gpt-5-5-high", "0.169.0"
    else:
        model, effort, tokens = "claude-sonnet-4-5", None, CLAUDE_TOKENS
        log = claude_log(home / ".claude", session, cwd="/elsewhere")
        partition, cli_version = "claude-sonnet-4-5", "2.1.197"
    run = finished_run(
        ws, runner=runner, model=model, effort=effort, telemetry={"session_id": session}
    )

    report = repair(ws, home)

    assert (report.scanned, report.matched, report.telemetry_updated) == (1, 1, 1)
    assert (report.rekeyed, report.unresolved, report.session_logs) == (0, 0, 1)
    (done,) = report.runs
    assert (done.review_run_id, done.runner, done.model_id) == (run, runner, partition)
    assert done.session_logs == (str(log),)
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert {k: restored["tokens"][k] for k in tokens} == tokens
    assert (restored["model"], restored["models"]) == (model, [model])
    assert (restored["session_id"], restored["cli_version"]) == (session, cli_version)
    assert restored["effort"] == effort
    assert restored["sources"] == [("rollout" if runner == "codex" else "session-log")]
    assert (restored["batch_id"], restored["runs_in_batch"]) == (batch_of(ws, run), 1)
    batch = telemetry_of(ws, "review_batches", batch_of(ws, run))
    assert batch is not None and batch["tokens"] == restored["tokens"]
    assert "batch_id" not in batch
    assert filed(ws, run) == moved(partition, None)


def test_the_session_ids_of_every_call_are_followed(ws: Workspace, home: Path) -> None:
    """A re-ask for missing pairs is a second call with its own session."""
    first = codex_rollout(home / ".codex", "thread-1", cwd="/kb", effort="high")
    second = codex_rollout(home / ".codex", "thread-2", cwd="/kb", effort="high")
    calls = [{"session_id": "thread-1"}, {"session_id": "thread-2"}]
    run = finished_run(ws, telemetry={"calls": calls})

    (done,) = repair(ws, home).runs

    assert done.session_logs == (str(first), str(second))
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert restored["tokens"]["input"] == 2 * CODEX_TOKENS["input"]
    assert restored["calls"] == calls  # what was stored wins


def test_what_the_run_stored_wins_over_its_log(ws: Workspace, home: Path) -> None:
    """codex's rollout names the model codex asked for; a reroute the stream
    reported, stored on the run, is what counts, and the log fills only gaps."""
    codex_rollout(home / ".codex", "thread-1", cwd="/kb", model="gpt-5.5", effort="high")
    stored = {
        "session_id": "thread-1",
        "model": "gpt-5.4-mini",
        "models": ["gpt-5.4-mini"],
        "tokens": {"input": 7, "output": None},
    }
    run = finished_run(ws, telemetry=stored)  # a historical row, never rekeyed

    report = repair(ws, home)

    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert (restored["model"], restored["models"]) == ("gpt-5.4-mini", ["gpt-5.4-mini"])
    assert restored["tokens"]["input"] == 7
    assert restored["tokens"]["output"] == CODEX_TOKENS["output"]
    assert restored["cli_version"] == "0.169.0"
    assert report.rekeyed == 1
    assert filed(ws, run) == moved("gpt-5-4-mini-high", "gpt-5-5-high")


@pytest.mark.parametrize("archived", [False, True], ids=["dated", "archived"])
def test_a_run_without_telemetry_is_found_by_its_marker_and_rekeyed(
    ws: Workspace, home: Path, archived: bool
) -> None:
    """The live-agent case: codex ran the prompt of a run created for another
    model; the rollout of that session shows which."""
    run = finished_run(ws)  # gpt-5.5, high: no telemetry
    kb = ws.config.kb_root
    log = codex_rollout(
        home / ".codex",
        "thread-1",
        cwd=kb,
        prompt=with_marker(run),
        model="gpt-5.4-mini",
        effort="medium",
        archived=archived,
    )
    assert stale(ws, "gpt-5.5", "high") == []

    report = repair(ws, home)

    assert (report.scanned, report.matched, report.telemetry_updated, report.rekeyed) == (
        1,
        1,
        1,
        1,
    )
    (done,) = report.runs
    assert (done.model_id, done.rekeyed_from, done.session_logs) == (
        "gpt-5-4-mini-medium",
        "gpt-5-5-high",
        (str(log),),
    )
    assert filed(ws, run) == moved("gpt-5-4-mini-medium", "gpt-5-5-high")
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert (restored["model"], restored["effort"], restored["session_id"]) == (
        "gpt-5.4-mini",
        "medium",
        "thread-1",
    )
    assert check_store(ws.store).ok
    # The selector now finds the pairs fresh where they are, stale where they were.
    assert stale(ws, "gpt-5.4-mini", "medium") == []
    assert stale(ws, "gpt-5.5", "high") == [
        (SEEDS, gate, "missing-review") for gate in sorted(CLARITY)
    ]


def test_a_stored_session_id_without_its_log_falls_back_to_the_marker(
    ws: Workspace, home: Path
) -> None:
    run = finished_run(ws, telemetry={"session_id": "gone"})
    log = codex_rollout(home / ".codex", "thread-1", cwd=ws.config.kb_root, prompt=with_marker(run))

    (done,) = repair(ws, home).runs

    assert done.session_logs == (str(log),)
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None and restored["session_id"] == "gone"  # stored wins


def test_a_session_started_for_the_run_wins_over_one_that_mentions_it_later(
    ws: Workspace, home: Path
) -> None:
    """An agent that read the run's prompt mid-session used it as material;
    the session whose first prompt it was is the one that reviewed."""
    run = finished_run(ws, runner="claude-code", model="claude-sonnet-4-5", effort=None)
    kb = ws.config.kb_root
    # Named to sort first, so that only the preference can put it second.
    claude_log(
        home / ".claude",
        "0000-mention",
        cwd=kb,
        later=with_marker(run),
        models=["claude-haiku-4-5"],
    )
    started = claude_log(
        home / ".claude",
        "ffff-started",
        cwd=kb,
        prompt=with_marker(run),
        models=["claude-opus-4-6"],
    )

    (done,) = repair(ws, home).runs

    assert done.session_logs == (str(started),)
    assert filed(ws, run) == moved("claude-opus-4-6", "claude-sonnet-4-5")


def test_a_session_that_only_mentions_the_run_is_used_when_none_started_for_it(
    ws: Workspace, home: Path
) -> None:
    run = finished_run(ws, runner="claude-code", model="claude-sonnet-4-5", effort=None)
    mention = claude_log(
        home / ".claude",
        "0000-mention",
        cwd=ws.config.kb_root,
        later=with_marker(run),
        models=["claude-opus-4-6"],
    )

    (done,) = repair(ws, home).runs

    assert done.session_logs == (str(mention),)
    assert filed(ws, run) == moved("claude-opus-4-6", "claude-sonnet-4-5")


def test_logs_recorded_outside_the_kb_are_no_evidence(
    ws: Workspace, home: Path, tmp_path: Path
) -> None:
    """Run ids repeat across stores: a session in another KB naming `Review
    run id: 1` is about another run 1."""
    run = finished_run(ws)
    codex_rollout(
        home / ".codex",
        "thread-elsewhere",
        cwd=tmp_path / "other-kb",
        prompt=with_marker(run),
        model="gpt-5.4-mini",
    )
    before = dump(ws.store.path)

    report = repair(ws, home)

    (done,) = report.runs
    assert (done.session_logs, done.unresolved) == ((), "no session log found")
    assert (report.matched, report.unresolved, report.session_logs) == (0, 1, 1)
    assert dump(ws.store.path) == before


def test_a_session_in_a_folder_of_the_kb_counts_even_after_one_outside(
    ws: Workspace, home: Path, tmp_path: Path
) -> None:
    run = finished_run(ws)
    kb = ws.config.kb_root
    codex_rollout(home / ".codex", "thread-0", cwd=tmp_path / "other-kb", prompt=with_marker(run))
    inside = codex_rollout(
        home / ".codex",
        "thread-1",
        cwd=kb / "kb" / "notes",
        later=with_marker(run),
        model="gpt-5.4-mini",
        effort="high",
    )

    (done,) = repair(ws, home).runs

    assert done.session_logs == (str(inside),)
    assert done.model_id == "gpt-5-4-mini-high"


def test_several_sessions_of_one_run_are_merged(ws: Workspace, home: Path) -> None:
    run = finished_run(ws)
    kb = ws.config.kb_root
    logs = [
        codex_rollout(
            home / ".codex", f"thread-{n}", cwd=kb, prompt=with_marker(run), effort="high"
        )
        for n in (1, 2)
    ]

    (done,) = repair(ws, home).runs

    assert done.session_logs == tuple(map(str, logs))
    assert (done.unresolved, done.rekeyed_from) == (None, None)
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert restored["tokens"]["input"] == 2 * CODEX_TOKENS["input"]
    assert [c["session_id"] for c in restored["calls"]] == ["thread-1", "thread-2"]
    # Found again by the session ids it now names: nothing more to do.
    assert repair(ws, home).telemetry_updated == 0


@pytest.mark.parametrize("logs", ["one log", "two logs"])
def test_logs_naming_two_models_leave_the_run_where_it_is(
    ws: Workspace, home: Path, logs: str
) -> None:
    run = finished_run(ws, runner="claude-code", model="claude-sonnet-4-5", effort=None)
    kb = ws.config.kb_root
    served = ["claude-opus-4-6", "claude-haiku-4-5"]
    if logs == "one log":
        claude_log(home / ".claude", "s-1", cwd=kb, prompt=with_marker(run), models=served)
    else:
        for n, model in enumerate(served):
            claude_log(home / ".claude", f"s-{n}", cwd=kb, prompt=with_marker(run), models=[model])

    report = repair(ws, home)

    (done,) = report.runs
    assert done.unresolved is not None
    assert "claude-opus-4-6" in done.unresolved and "claude-haiku-4-5" in done.unresolved
    assert (report.unresolved, report.rekeyed, report.telemetry_updated) == (1, 0, 1)
    assert filed(ws, run) == moved("claude-sonnet-4-5", None)
    restored = telemetry_of(ws, "review_runs", run)
    assert restored is not None
    assert (restored["model"], restored["models"]) == (None, served)


def test_one_prompt_for_several_runs_repairs_each_and_the_batch_once(
    ws: Workspace, home: Path
) -> None:
    """A gate sweep or a prepared batch: one session served every run of the
    batch; each run carries the batch's telemetry, which is counted once."""
    batch = create_batch(
        ws.store,
        make_plan(ws.config.kb_root, [(SEEDS, CLARITY), (FROST, CLARITY)]),
        packing=Packing.EXPLICIT,
        runner="codex",
        partition=ws.partition("gpt-5.5", "high"),
    )
    runs = [r.review_run_id for r in batch.runs]
    for run in runs:
        reviews = [PendingReview.from_text(gate, review("PASS")) for gate in CLARITY]
        record_and_finalize_run(ws.store, run, reviews=reviews)
    prompt = with_marker(runs[0], with_marker(runs[1]))
    log = codex_rollout(
        home / ".codex", "t-1", cwd=ws.config.kb_root, prompt=prompt, model="gpt-5.4-mini"
    )

    report = repair(ws, home)

    assert [(r.review_run_id, r.session_logs) for r in report.runs] == [
        (run, (str(log),)) for run in runs
    ]
    assert report.rekeyed == 2
    for run in runs:
        assert filed(ws, run) == moved("gpt-5-4-mini-xhigh", "gpt-5-5-high")
        restored = telemetry_of(ws, "review_runs", run)
        assert restored is not None
        assert (restored["batch_id"], restored["runs_in_batch"]) == (batch.batch_id, 2)
    shared = telemetry_of(ws, "review_batches", batch.batch_id)
    assert shared is not None and shared["tokens"]["input"] == CODEX_TOKENS["input"]
    assert check_store(ws.store).ok


def test_a_marker_names_one_run_only(ws: Workspace, home: Path) -> None:
    """`Review run id: 10` is not about run 1."""
    run = finished_run(ws)
    codex_rollout(
        home / ".codex",
        "t-1",
        cwd=ws.config.kb_root,
        prompt=with_marker(int(f"{run}0")),
        model="gpt-5.4-mini",
    )

    (done,) = repair(ws, home).runs

    assert (done.session_logs, done.unresolved) == ((), "no session log found")


def test_without_any_log_every_run_is_unresolved_and_nothing_changes(
    ws: Workspace, home: Path
) -> None:
    runs = [finished_run(ws), finished_run(ws, runner="claude-code", note=FROST)]
    before = dump(ws.store.path)

    report = repair(ws, home)

    assert [(r.review_run_id, r.unresolved) for r in report.runs] == [
        (run, "no session log found") for run in runs
    ]
    assert (report.session_logs, report.matched, report.unresolved) == (0, 0, 2)
    assert dump(ws.store.path) == before


def test_a_running_run_is_unresolved_and_untouched(ws: Workspace, home: Path) -> None:
    run = running_run(ws)
    codex_rollout(
        home / ".codex", "t-1", cwd=ws.config.kb_root, prompt=with_marker(run), model="gpt-5.4-mini"
    )
    before = dump(ws.store.path)

    for report in (repair(ws, home), repair(ws, home, run)):
        (done,) = report.runs
        assert (done.review_run_id, done.unresolved) == (run, "still running")
        assert (report.matched, report.rekeyed, report.unresolved) == (0, 0, 1)

    assert dump(ws.store.path) == before


# --- what a repair touches ------------------------------------------------------------------


def a_store_to_repair(ws: Workspace, home: Path) -> list[int]:
    """A codex run to rekey (found by marker), a claude run whose telemetry lost
    all but its session id, and a running run: their ids."""
    kb = ws.config.kb_root
    rekey = finished_run(ws)
    codex_rollout(
        home / ".codex",
        "t-1",
        cwd=kb,
        prompt=with_marker(rekey),
        model="gpt-5.4-mini",
        effort="high",
    )
    restore = finished_run(
        ws,
        runner="claude-code",
        model="claude-sonnet-4-5",
        effort=None,
        note=FROST,
        telemetry={"session_id": "s-1"},
    )
    claude_log(home / ".claude", "s-1", cwd=kb)
    running = running_run(ws)
    return [rekey, restore, running]


def test_a_dry_run_reports_what_a_repair_does_and_changes_nothing(
    ws: Workspace, home: Path
) -> None:
    a_store_to_repair(ws, home)
    before = dump(ws.store.path)

    dry = repair(ws, home, dry_run=True)

    assert dump(ws.store.path) == before
    assert dry.dry_run is True
    assert (dry.scanned, dry.matched, dry.telemetry_updated, dry.rekeyed, dry.unresolved) == (
        3,
        2,
        2,
        1,
        1,
    )
    done = repair(ws, home)
    assert done.dry_run is False
    assert done.runs == dry.runs
    assert dump(ws.store.path) != before


def test_a_second_repair_changes_nothing(ws: Workspace, home: Path) -> None:
    rekey, restore, _ = a_store_to_repair(ws, home)
    first = repair(ws, home)
    after = dump(ws.store.path)

    second = repair(ws, home)

    assert (second.telemetry_updated, second.rekeyed) == (0, 0)
    assert (second.scanned, second.matched) == (first.scanned, first.matched)
    assert dump(ws.store.path) == after
    assert filed(ws, rekey) == moved("gpt-5-4-mini-high", "gpt-5-5-high")
    assert filed(ws, restore) == moved("claude-sonnet-4-5", None)
    assert check_store(ws.store).ok


def test_runs_of_other_runners_are_left_alone_unless_named(ws: Workspace, home: Path) -> None:
    agent = finished_run(ws, runner="live-agent")
    codex = finished_run(ws, note=FROST)
    for run in (agent, codex):
        codex_rollout(
            home / ".codex",
            f"t-{run}",
            cwd=ws.config.kb_root,
            prompt=with_marker(run),
            model="gpt-5.4-mini",
            effort="high",
        )

    only_claude = repair(ws, home, runners=("claude-code",))
    assert (only_claude.scanned, only_claude.rekeyed) == (0, 0)
    every_runner = repair(ws, home)
    assert [r.review_run_id for r in every_runner.runs] == [codex]
    assert filed(ws, agent) == moved("gpt-5-5-high", None)

    named = repair(ws, home, agent)

    assert [(r.review_run_id, r.runner) for r in named.runs] == [(agent, "live-agent")]
    assert filed(ws, agent) == moved("gpt-5-4-mini-high", "gpt-5-5-high")


def test_an_unknown_run_id_is_an_error_and_nothing_changes(ws: Workspace, home: Path) -> None:
    run = finished_run(ws)
    codex_rollout(
        home / ".codex", "t-1", cwd=ws.config.kb_root, prompt=with_marker(run), model="gpt-5.4-mini"
    )
    before = dump(ws.store.path)

    with pytest.raises(UserError, match=f"no review run {run + 1}\\b"):
        repair(ws, home, run, run + 1)

    assert dump(ws.store.path) == before


def test_without_a_store_repair_is_an_error_and_creates_none(
    example_kb: Path, tmp_path: Path, home: Path
) -> None:
    ws = open_workspace(db=tmp_path / "absent" / "store.sqlite", cwd=example_kb)
    with pytest.raises(UserError, match="no review store"):
        repair(ws, home, dry_run=True)
    assert not ws.store.path.exists()


# --- bugs -----------------------------------------------------------------------------------


def test_a_codex_rollout_does_not_undo_the_rekey_of_a_rerouted_run(
    ws: Workspace, home: Path
) -> None:
    run = finished_run(ws, actual="gpt-5-4-mini-high")  # rerouted; its telemetry lost
    codex_rollout(
        home / ".codex", "t-1", cwd=ws.config.kb_root, prompt=with_marker(run), effort="high"
    )

    repair(ws, home)

    assert filed(ws, run) == moved("gpt-5-4-mini-high", "gpt-5-5-high")


def test_a_damaged_log_among_the_candidates_does_not_stop_the_repair(
    ws: Workspace, home: Path
) -> None:
    run = finished_run(ws)
    kb = ws.config.kb_root
    damaged = home / ".codex" / "sessions" / "2026" / "11" / "19" / "rollout-x-damaged.jsonl"
    damaged.parent.mkdir(parents=True)
    damaged.write_text(
        json.dumps({"type": "turn_context", "payload": {"collaboration_mode": "default"}})
        + "\n"
        + json.dumps({"type": "response_item", "payload": {"text": with_marker(run)}})
        + "\n",
        encoding="utf-8",
    )
    codex_rollout(
        home / ".codex", "t-1", cwd=kb, prompt=with_marker(run), model="gpt-5.4-mini", effort="high"
    )

    report = repair(ws, home)

    assert report.rekeyed == 1
    assert filed(ws, run) == moved("gpt-5-4-mini-high", "gpt-5-5-high")
