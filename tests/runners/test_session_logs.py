"""The harness CLIs' own session logs (SPEC 8, the seeds' path 5): where the
adapters find them and what they read from them, checked on the real Claude
Code 2.1.197 session log and Codex 0.169.0 rollout in ../shared/vendor-formats.
A log that cannot be read, or reads as garbage, gives None and never raises."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.session_logs import (
    CLAUDE_LOG,
    CLAUDE_MODEL,
    CLAUDE_SESSION,
    CODEX_EFFORT,
    CODEX_MODEL,
    CODEX_ROLLOUT,
    CODEX_THREAD,
    VENDOR_CWD,
    claude_log,
    codex_rollout,
    vendor_file,
    with_marker,
)

from commonplace.runners.base import Adapter
from commonplace.runners.claude_code import ClaudeCodeAdapter, session_from_log
from commonplace.runners.codex import CodexAdapter, session_from_rollout
from commonplace.runners.command import CommandAdapter
from commonplace.runners.telemetry import TELEMETRY_SCHEMA, Session, merge_telemetry
from commonplace.settings import RunnerSettings

# --- what the readers read ------------------------------------------------------------------


def test_the_claude_session_log_gives_served_model_tokens_version_and_session() -> None:
    path = vendor_file(CLAUDE_LOG)

    session = ClaudeCodeAdapter().read_session(path)

    assert session == session_from_log(path)
    assert session is not None
    assert (session.path, session.session_id, session.cwd) == (path, CLAUDE_SESSION, VENDOR_CWD)
    telemetry = session.telemetry
    assert (telemetry.runner, telemetry.cli_version) == ("claude-code", "2.1.197")
    assert (telemetry.model, telemetry.models) == (CLAUDE_MODEL, (CLAUDE_MODEL,))
    assert telemetry.tokens.as_dict() == {
        "input": 1200,
        "output": 340,
        "cache_read": 800,
        "cache_write": 200,
        "reasoning": None,
    }
    assert telemetry.input_includes_cache_read is False
    assert telemetry.session_id == CLAUDE_SESSION
    assert telemetry.turns == 1
    assert telemetry.duration_ms == 87  # first to last timestamp of the log
    assert telemetry.sources == ("session-log",)
    # What only the stream knows is absent, never guessed.
    assert (telemetry.effort, telemetry.cost_usd, telemetry.requested_model) == (None, None, None)


def test_the_codex_rollout_gives_model_effort_tokens_version_and_session() -> None:
    path = vendor_file(CODEX_ROLLOUT)

    session = CodexAdapter().read_session(path)

    assert session == session_from_rollout(path)
    assert session is not None
    assert (session.path, session.session_id, session.cwd) == (path, CODEX_THREAD, VENDOR_CWD)
    telemetry = session.telemetry
    assert (telemetry.runner, telemetry.cli_version) == ("codex", "0.169.0")
    assert (telemetry.model, telemetry.models, telemetry.effort) == (
        CODEX_MODEL,
        (CODEX_MODEL,),
        CODEX_EFFORT,
    )
    # OpenAI's counts: cached input inside input, reasoning inside output.
    assert telemetry.tokens.as_dict() == {
        "input": 2000,
        "output": 400,
        "cache_read": 1500,
        "cache_write": 0,
        "reasoning": 60,
    }
    assert telemetry.input_includes_cache_read is True
    assert telemetry.session_id == CODEX_THREAD
    assert (telemetry.turns, telemetry.duration_ms) == (1, 92)
    assert telemetry.sources == ("rollout",)
    assert telemetry.as_dict()["schema"] == TELEMETRY_SCHEMA


def test_a_rewritten_log_reads_as_the_session_it_now_describes(tmp_path: Path) -> None:
    """The writers the repair tests use change exactly what they say."""
    claude = claude_log(
        tmp_path / "claude",
        "22222222-0000-0000-0000-000000000001",
        cwd=tmp_path / "kb",
        prompt=with_marker(7),
        models=("claude-opus-4-6", "claude-haiku-4-5"),
    )
    codex = codex_rollout(
        tmp_path / "codex",
        "01a1fb3c-0000-7000-8000-000000000001",
        cwd=tmp_path / "kb",
        model="gpt-5.4-mini",
        effort="medium",
        later="Read the prompt file. Review run id: 9",
        archived=True,
    )

    read_claude, read_codex = session_from_log(claude), session_from_rollout(codex)

    assert claude.parent.name == re.sub(r"[^A-Za-z0-9]", "-", str(tmp_path / "kb"))
    assert "Review run id: 7" in claude.read_text(encoding="utf-8")
    assert read_claude is not None and read_codex is not None
    assert read_claude.session_id == "22222222-0000-0000-0000-000000000001"
    assert read_claude.cwd == str(tmp_path / "kb")
    assert read_claude.telemetry.models == ("claude-opus-4-6", "claude-haiku-4-5")
    assert read_claude.telemetry.model is None  # two models: none is the model
    assert read_claude.telemetry.tokens.output == 2 * 340
    assert codex.parent.name == "archived_sessions"
    last = json.loads(codex.read_text(encoding="utf-8").splitlines()[-1])
    assert last["payload"]["role"] == "user"
    assert last["payload"]["content"][0]["text"] == "Read the prompt file. Review run id: 9"
    assert read_codex.session_id == "01a1fb3c-0000-7000-8000-000000000001"
    assert (read_codex.telemetry.model, read_codex.telemetry.effort) == ("gpt-5.4-mini", "medium")


# --- unreadable, empty, garbage --------------------------------------------------------------

READERS: dict[str, Callable[[Path], Session | None]] = {
    "claude-code": ClaudeCodeAdapter().read_session,
    "codex": CodexAdapter().read_session,
}
GARBAGE = {
    "binary": b"\x00\x01\xff\xfe\x80garbage\x00\n\xc3\x28\n",
    "not-json": b"not json at all\n{broken\n}\n",
    "other-json": b'[1, 2]\n"text"\n42\nnull\ntrue\n{}\n',
    "wrong-shapes": (
        b'{"type": "assistant", "message": "text", "sessionId": 5, "cwd": []}\n'
        b'{"type": "assistant", "message": {"model": 5, "usage": "many", "id": []}}\n'
        b'{"type": "session_meta", "payload": [1]}\n'
        b'{"type": "turn_context", "payload": "gpt-5.5"}\n'
        b'{"type": "event_msg", "payload": {"type": "token_count", "info": "x"}}\n'
        b'{"type": "event_msg", "payload": {"type": "task_complete", "duration_ms": "9"}}\n'
    ),
    "one-huge-line": b'{"type": "user", "content": "' + b"x" * 3_000_000 + b'"}\n',
}


@pytest.mark.parametrize("runner", list(READERS))
def test_a_missing_file_or_a_folder_is_none(tmp_path: Path, runner: str) -> None:
    read = READERS[runner]
    assert read(tmp_path / "absent.jsonl") is None
    (tmp_path / "folder.jsonl").mkdir()
    assert read(tmp_path / "folder.jsonl") is None


@pytest.mark.parametrize("runner", list(READERS))
def test_an_empty_file_is_none(tmp_path: Path, runner: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert READERS[runner](path) is None


@pytest.mark.parametrize("kind", list(GARBAGE))
@pytest.mark.parametrize("runner", list(READERS))
def test_garbage_is_none(tmp_path: Path, runner: str, kind: str) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(GARBAGE[kind])
    assert READERS[runner](path) is None


@pytest.mark.parametrize("runner", list(READERS))
def test_damaged_lines_around_a_good_log_are_skipped(tmp_path: Path, runner: str) -> None:
    good = vendor_file(CLAUDE_LOG if runner == "claude-code" else CODEX_ROLLOUT)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(
        GARBAGE["binary"] + GARBAGE["other-json"] + good.read_bytes() + b'{"cut off": "he'
    )

    read = READERS[runner]
    session, expected = read(damaged), read(good)

    assert session is not None and expected is not None
    assert session.telemetry == expected.telemetry
    assert (session.session_id, session.cwd) == (expected.session_id, expected.cwd)


@pytest.mark.parametrize("collaboration_mode", ["default", {"settings": ["high"]}])
def test_a_rollout_with_an_odd_collaboration_mode_still_reads(
    tmp_path: Path, collaboration_mode: object
) -> None:
    path = tmp_path / "rollout.jsonl"
    event = {"type": "turn_context", "payload": {"model": "gpt-5.5", "effort": None}}
    event["payload"]["collaboration_mode"] = collaboration_mode  # type: ignore[index]
    path.write_text(json.dumps(event) + "\n", encoding="utf-8")

    session = session_from_rollout(path)

    assert session is not None
    assert session.telemetry.model == "gpt-5.5"
    assert session.telemetry.effort is None


def test_a_claude_log_with_mixed_timestamp_forms_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    answer = {"model": CLAUDE_MODEL, "usage": {"output_tokens": 3}}
    events = [
        {"type": "user", "timestamp": "2026-11-20T23:13:51.000Z", "sessionId": "s-1"},
        {"type": "assistant", "timestamp": "2026-11-20T23:13:52", "message": answer},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")

    session = session_from_log(path)

    assert session is not None
    assert session.telemetry.model == CLAUDE_MODEL
    assert session.telemetry.tokens.output == 3


# --- where the logs are --------------------------------------------------------------------


def test_claude_logs_are_under_the_config_dir_else_home(tmp_path: Path) -> None:
    adapter = ClaudeCodeAdapter()
    home, config = tmp_path / "home", tmp_path / "config"
    in_home = claude_log(home / ".claude", "aaaa-1", cwd="/work/kb")
    in_config = claude_log(config, "bbbb-2", cwd="/elsewhere")
    (in_config.parent / "notes.txt").write_text("not a log")

    assert sorted(adapter.session_logs({"HOME": str(home)})) == [in_home]
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(config)}
    assert sorted(adapter.session_logs(env)) == [in_config]
    assert adapter.session_log(env, "bbbb-2") == in_config
    assert adapter.session_log(env, "aaaa-1") is None
    assert adapter.session_log({"HOME": str(home)}, "aaaa-1") == in_home


def test_codex_rollouts_are_under_codex_home_else_home_dated_or_archived(tmp_path: Path) -> None:
    adapter = CodexAdapter()
    home, codex_home = tmp_path / "home", tmp_path / "codex"
    in_home = codex_rollout(home / ".codex", "0000-home", cwd="/work/kb")
    dated = codex_rollout(codex_home, "0000-dated", cwd="/work/kb")
    archived = codex_rollout(codex_home, "0000-archived", cwd="/work/kb", archived=True)
    (codex_home / "sessions" / "notes.jsonl").write_text("{}\n")

    assert sorted(adapter.session_logs({"HOME": str(home)})) == [in_home]
    env = {"HOME": str(home), "CODEX_HOME": str(codex_home)}
    assert sorted(adapter.session_logs(env)) == sorted([dated, archived])
    assert adapter.session_log(env, "0000-dated") == dated
    assert adapter.session_log(env, "0000-archived") == archived
    assert adapter.session_log(env, "0000-home") is None
    assert adapter.session_log({"HOME": str(home)}, "0000-home") == in_home


@pytest.mark.parametrize("adapter", [ClaudeCodeAdapter(), CodexAdapter()], ids=lambda a: a.name)
@pytest.mark.parametrize("session_id", ["", "*", "../x", "a/b", "a b", "x" * 200])
def test_a_session_id_unfit_for_a_file_name_finds_nothing(
    tmp_path: Path, adapter: Adapter, session_id: str
) -> None:
    claude_log(tmp_path / ".claude", "abc", cwd="/kb")
    codex_rollout(tmp_path / ".codex", "abc", cwd="/kb")
    assert adapter.session_log({"HOME": str(tmp_path)}, session_id) is None


def test_a_command_runner_keeps_no_logs(tmp_path: Path) -> None:
    adapter = CommandAdapter("stand-in", RunnerSettings(command=("true",)), tmp_path)
    claude_log(tmp_path / ".claude", "abc", cwd="/kb")
    env = {"HOME": str(tmp_path)}
    assert list(adapter.session_logs(env)) == []
    assert adapter.session_log(env, "abc") is None
    assert adapter.read_session(vendor_file(CLAUDE_LOG)) is None


# --- several sessions of the same runs ----------------------------------------------------


def test_merged_sessions_sum_and_keep_each_call(tmp_path: Path) -> None:
    first = session_from_rollout(vendor_file(CODEX_ROLLOUT))
    second = session_from_rollout(
        codex_rollout(tmp_path, "0000-second", cwd=VENDOR_CWD, model="gpt-5.4-mini")
    )
    assert first is not None and second is not None
    documents = [first.telemetry.as_dict(), second.telemetry.as_dict()]

    merged = merge_telemetry(documents)

    assert merged["models"] == [CODEX_MODEL, "gpt-5.4-mini"]
    assert merged["model"] is None  # two models: nothing to rekey to
    assert merged["tokens"] == {
        "input": 4000,
        "output": 800,
        "cache_read": 3000,
        "cache_write": 0,
        "reasoning": 120,
    }
    assert (merged["turns"], merged["duration_ms"]) == (2, 2 * 92)
    assert merged["calls"] == documents
    assert merged["session_id"] == CODEX_THREAD  # the first one's
    assert [c["session_id"] for c in merged["calls"]] == [CODEX_THREAD, "0000-second"]
    assert merge_telemetry(documents[:1]) == documents[0]
    assert merge_telemetry([]) == {}


def test_merged_sessions_of_one_model_keep_it(tmp_path: Path) -> None:
    sessions = [
        session_from_rollout(codex_rollout(tmp_path, f"0000-{n}", cwd=VENDOR_CWD)) for n in range(3)
    ]
    merged = merge_telemetry([s.telemetry.as_dict() for s in sessions if s is not None])
    assert (merged["model"], merged["models"]) == (CODEX_MODEL, [CODEX_MODEL])
    assert merged["tokens"]["input"] == 3 * 2000
    assert len(merged["calls"]) == 3
