"""The codex runner (SPEC 8): argv, `exec --json` decoding, classification,
telemetry from the stream and the session rollout, and the environment, checked
against real Codex CLI 0.169.0 output in ../shared/vendor-formats. No real CLI is
needed: where a process runs, it is a small Python script standing in for `codex`."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers.session_logs import vendor_lines

from commonplace.protocol.prompt import REVIEWER_SYSTEM_PROMPT
from commonplace.runners import launch
from commonplace.runners.base import Call, FailureKind, Outcome
from commonplace.runners.codex import (
    CodexAdapter,
    CodexStream,
    find_rollout,
    provider_key_names,
    read_rollout,
)
from commonplace.settings import RunnerSettings

EXEC_OK = "codex-0.169.0-exec-json-ok.jsonl"
USAGE_LIMIT = "codex-0.169.0-exec-json-usage-limit.jsonl"
STDERR_OK = "codex-0.169.0-exec-stderr-ok.txt"
ROLLOUT = "codex-0.169.0-rollout-ok.jsonl"
THREAD = "01a1fb3c-e3b9-7911-b8c0-d0c8403621e4"
LIMIT_MESSAGE = "You’ve hit your usage limit. Try again later."

PAIR_1 = "kb/notes/alpha.md :: prose/source-residue"
PAIR_2 = "kb/notes/alpha.md :: semantic/internal-consistency"


def decode(lines: list[str]) -> tuple[CodexStream, str]:
    decoder = CodexStream()
    text = "".join(decoder.feed(line) for line in lines)
    return decoder, text


def outcome(returncode: int | None = 0, stderr: str = "") -> Outcome:
    return Outcome(returncode=returncode, stderr=stderr, stopped=None, duration_ms=7)


def call(cwd: Path, prompt: str = "review these pairs", effort: str | None = "xhigh") -> Call:
    return Call(prompt=prompt, model="gpt-5.5", effort=effort, cwd=cwd)


def agent_message(text: str) -> str:
    return json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": text}})


def place_rollout(vendor: Path, codex_home: Path, day: str) -> Path:
    """Copy the vendor rollout to where codex writes it for `day` (YYYY/MM/DD)."""
    folder = codex_home / "sessions" / day
    folder.mkdir(parents=True)
    target = folder / f"rollout-2026-11-20T23-13-54-{THREAD}.jsonl"
    shutil.copy(vendor / ROLLOUT, target)
    return target


def today() -> str:
    return datetime.now(UTC).strftime("%Y/%m/%d")


# --- decoding ----------------------------------------------------------------


def test_exec_json_gives_the_agent_message_text(vendor: Path) -> None:
    decoder, text = decode(vendor_lines(vendor, EXEC_OK))

    assert text.startswith("Review complete.")
    for pair in (PAIR_1, PAIR_2):
        assert f"=== PAIR REVIEW START: {pair} ===" in text.splitlines()
        assert f"=== PAIR REVIEW END: {pair} ===" in text.splitlines()
    assert decoder.thread_id == THREAD
    assert decoder.errors == []


def test_exec_json_telemetry_without_a_rollout(vendor: Path, tmp_path: Path) -> None:
    decoder, _ = decode(vendor_lines(vendor, EXEC_OK))
    adapter = CodexAdapter()
    env = {"CODEX_HOME": str(tmp_path / "codex-home")}

    telemetry = adapter.telemetry(call(tmp_path), decoder, outcome(), env, "ours")

    assert telemetry.runner == "codex"
    assert telemetry.tokens.as_dict() == {
        "input": 2000,
        "output": 400,
        "cache_read": 1500,
        "cache_write": 0,
        "reasoning": 60,
    }
    assert telemetry.input_includes_cache_read is True  # OpenAI counts cached input in input
    assert telemetry.session_id == THREAD
    assert telemetry.turns == 1
    assert telemetry.sources == ("stream",)
    assert telemetry.model is None  # only the rollout names the served model
    assert telemetry.requested_model == "gpt-5.5"
    assert telemetry.effort == "xhigh"  # as requested, for want of the rollout
    assert adapter.classify(decoder, outcome(0, (vendor / STDERR_OK).read_text())) is None
    assert telemetry.as_dict()["input_includes_cache_read"] is True


def test_telemetry_reads_model_effort_and_version_from_the_rollout(
    vendor: Path, tmp_path: Path
) -> None:
    codex_home = tmp_path / "codex-home"
    place_rollout(vendor, codex_home, today())
    decoder, _ = decode(vendor_lines(vendor, EXEC_OK))

    telemetry = CodexAdapter().telemetry(
        call(tmp_path, effort=None), decoder, outcome(), {"CODEX_HOME": str(codex_home)}, "x"
    )

    assert telemetry.model == "gpt-5.5"
    assert telemetry.models == ("gpt-5.5",)
    assert telemetry.effort == "xhigh"
    assert telemetry.cli_version == "0.169.0"
    assert telemetry.duration_ms == 92
    assert telemetry.sources == ("stream", "rollout")
    assert telemetry.tokens.input == 2000


def test_rollout_usage_is_used_when_the_stream_has_none(vendor: Path, tmp_path: Path) -> None:
    codex_home = tmp_path / "codex-home"
    place_rollout(vendor, codex_home, today())
    decoder, _ = decode([json.dumps({"type": "thread.started", "thread_id": THREAD})])

    telemetry = CodexAdapter().telemetry(
        call(tmp_path), decoder, outcome(), {"CODEX_HOME": str(codex_home)}, "x"
    )

    assert telemetry.tokens.as_dict() == {
        "input": 2000,
        "output": 400,
        "cache_read": 1500,
        "cache_write": 0,
        "reasoning": 60,
    }
    assert telemetry.turns is None


def test_read_rollout(vendor: Path) -> None:
    facts = read_rollout(vendor / ROLLOUT)

    assert facts["model"] == "gpt-5.5"
    assert facts["effort"] == "xhigh"
    assert facts["cli_version"] == "0.169.0"
    assert facts["duration_ms"] == 92
    assert facts["usage"]["cached_input_tokens"] == 1500


def test_find_rollout_looks_in_todays_folder_under_codex_home(vendor: Path, tmp_path: Path) -> None:
    placed = place_rollout(vendor, tmp_path / "ch", today())

    assert find_rollout({"CODEX_HOME": str(tmp_path / "ch")}, THREAD) == placed


def test_find_rollout_defaults_to_home_dot_codex(vendor: Path, tmp_path: Path) -> None:
    placed = place_rollout(vendor, tmp_path / "home" / ".codex", today())

    assert find_rollout({"HOME": str(tmp_path / "home")}, THREAD) == placed


def test_find_rollout_falls_back_to_any_date_folder(vendor: Path, tmp_path: Path) -> None:
    placed = place_rollout(vendor, tmp_path / "ch", "2019/02/03")

    assert find_rollout({"CODEX_HOME": str(tmp_path / "ch")}, THREAD) == placed


def test_find_rollout_of_another_thread_is_none(vendor: Path, tmp_path: Path) -> None:
    place_rollout(vendor, tmp_path / "ch", today())
    env = {"CODEX_HOME": str(tmp_path / "ch")}

    assert find_rollout(env, "01a1fb3c-0000-0000-0000-000000000000") is None
    assert find_rollout({"CODEX_HOME": str(tmp_path / "absent")}, THREAD) is None


def test_several_agent_messages_are_separated_by_a_newline() -> None:
    start = f"=== PAIR REVIEW START: {PAIR_1} ==="

    _, text = decode([agent_message("I'll check."), agent_message(f"{start}\nok")])

    assert text == f"I'll check.\n{start}\nok"


def test_items_other_than_agent_messages_are_not_review_text() -> None:
    reasoning = {"type": "item.completed", "item": {"type": "reasoning", "text": "thinking"}}
    command = {"type": "item.completed", "item": {"type": "command_execution", "text": "ls"}}

    _, text = decode([json.dumps(reasoning), json.dumps(command), agent_message("review")])

    assert text == "review"


@pytest.mark.parametrize("line", ["", "Reading prompt from stdin...", "[1]", "3", "null"])
def test_lines_that_are_not_json_objects_are_ignored(line: str) -> None:
    decoder = CodexStream()

    assert decoder.feed(line) == ""
    assert decoder.feed(agent_message("still decoding")) == "still decoding"


# --- classification ------------------------------------------------------------


def test_usage_limit_events_classify_as_usage_limit(vendor: Path) -> None:
    decoder, text = decode(vendor_lines(vendor, USAGE_LIMIT))

    failure = CodexAdapter().classify(decoder, outcome(1))

    assert text == ""
    assert decoder.errors == [LIMIT_MESSAGE]  # `error` and `turn.failed` say it once
    assert failure is not None
    assert failure.kind is FailureKind.USAGE_LIMIT
    assert failure.message == LIMIT_MESSAGE
    assert failure.reason() == f"usage exhausted: {LIMIT_MESSAGE}"


def test_authentication_errors_classify_as_auth() -> None:
    error = "unexpected status 401 Unauthorized: Incorrect API key provided"
    decoder, _ = decode([json.dumps({"type": "error", "message": error})])

    failure = CodexAdapter().classify(decoder, outcome(1))

    assert failure is not None
    assert failure.kind is FailureKind.AUTH
    assert "401" in failure.message


def test_other_reported_errors_are_crashes() -> None:
    failed = {"type": "turn.failed", "error": {"message": "stream disconnected before completion"}}
    decoder, _ = decode([json.dumps(failed)])

    failure = CodexAdapter().classify(decoder, outcome(1))

    assert failure is not None
    assert failure.kind is FailureKind.CRASH
    assert failure.message == "codex reported: stream disconnected before completion"


def test_a_failed_exit_without_events_names_the_exit_code() -> None:
    failure = CodexAdapter().classify(CodexStream(), outcome(2, "error: unexpected argument\n"))

    assert failure is not None
    assert failure.kind is FailureKind.CRASH
    assert failure.message == "codex exited 2: error: unexpected argument"


def test_a_review_quoting_usage_limit_phrases_is_not_a_usage_limit() -> None:
    quoting = "The note quotes: 'You've hit your usage limit' and HTTP 429 (rate limit)."

    decoder, text = decode([agent_message(quoting)])

    assert "usage limit" in text
    assert CodexAdapter().classify(decoder, outcome(0)) is None


# --- command line and environment ------------------------------------------------


def test_argv_is_exec_json_in_a_read_only_sandbox(tmp_path: Path) -> None:
    prompt = "PROMPT-MARKER-77aa"

    argv = CodexAdapter().argv(call(tmp_path, prompt=prompt), "sid")

    assert argv == [
        "codex",
        "exec",
        "--json",
        "--sandbox",
        "read-only",
        "--skip-git-repo-check",
        "-C",
        str(tmp_path),
        "--model",
        "gpt-5.5",
        "-c",
        "model_reasoning_effort=xhigh",
        "-",
    ]
    assert "--full-auto" not in argv
    assert not any(prompt in arg for arg in argv)


def test_argv_without_effort_sets_no_effort(tmp_path: Path) -> None:
    argv = CodexAdapter().argv(call(tmp_path, effort=None), "sid")

    assert "-c" not in argv
    assert argv[-1] == "-"


def test_binary_and_extra_args_come_from_settings(tmp_path: Path) -> None:
    settings = RunnerSettings(binary="/opt/codex", extra_args=("-c", "model_provider=fake"))
    adapter = CodexAdapter(settings)

    argv = adapter.argv(call(tmp_path), "sid")

    assert argv[0] == "/opt/codex"
    assert argv[-3:] == ["-c", "model_provider=fake", "-"]  # stdin stays the last word
    assert adapter.version_argv() == ["/opt/codex", "--version"]


def test_stdin_is_the_reviewer_system_prompt_then_the_prompt(tmp_path: Path) -> None:
    stdin = CodexAdapter().stdin(call(tmp_path, prompt="the task prompt"))

    assert stdin == f"{REVIEWER_SYSTEM_PROMPT}\n\nthe task prompt"


def write_codex_config(codex_home: Path) -> None:
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        'model_provider = "fake"\n'
        "[model_providers.fake]\n"
        'base_url = "http://127.0.0.1:9/v1"\n'
        'env_key = "FAKE_VENDOR_API_KEY"\n'
        "[model_providers.keyless]\n"
        'base_url = "http://127.0.0.1:9/v1"\n',
        encoding="utf-8",
    )


def test_provider_key_names_reads_env_key(tmp_path: Path) -> None:
    write_codex_config(tmp_path)

    assert provider_key_names(tmp_path / "config.toml") == ["FAKE_VENDOR_API_KEY"]


def test_provider_key_names_of_a_missing_or_broken_config_is_empty(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[model_providers\nnot toml", encoding="utf-8")
    no_table = tmp_path / "flat.toml"
    no_table.write_text('model_providers = "x"\n', encoding="utf-8")

    assert provider_key_names(tmp_path / "absent.toml") == []
    assert provider_key_names(broken) == []
    assert provider_key_names(no_table) == []


PARENT_ENV = {
    "PATH": "/usr/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128",
    "OPENAI_API_KEY": "sk-openai",
    "ANTHROPIC_API_KEY": "sk-ant",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "GITHUB_TOKEN": "ghp",
    "SECRET_THING": "s",
    "FAKE_VENDOR_API_KEY": "sk-fake",
}


def test_environment_passes_openai_variables_and_nothing_unrelated(tmp_path: Path) -> None:
    parent = {**PARENT_ENV, "HOME": str(tmp_path / "home")}

    env = CodexAdapter().environment(parent, {"EXTRA": "set by us"})

    assert env == {
        "PATH": "/usr/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "OPENAI_API_KEY": "sk-openai",
        "EXTRA": "set by us",
    }


def test_environment_passes_the_provider_key_named_in_codex_home(tmp_path: Path) -> None:
    write_codex_config(tmp_path / "codex-home")
    parent = {**PARENT_ENV, "CODEX_HOME": str(tmp_path / "codex-home")}

    env = CodexAdapter().environment(parent, {})

    assert env["FAKE_VENDOR_API_KEY"] == "sk-fake"
    assert env["CODEX_HOME"] == str(tmp_path / "codex-home")
    for name in ("ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SECRET_THING"):
        assert name not in env


def test_environment_reads_the_config_under_home_without_codex_home(tmp_path: Path) -> None:
    write_codex_config(tmp_path / "home" / ".codex")
    parent = {**PARENT_ENV, "HOME": str(tmp_path / "home")}

    env = CodexAdapter().environment(parent, {})

    assert env["FAKE_VENDOR_API_KEY"] == "sk-fake"


def test_a_provider_key_absent_from_the_parent_is_not_invented(tmp_path: Path) -> None:
    write_codex_config(tmp_path / "codex-home")
    parent = {"PATH": "/usr/bin", "CODEX_HOME": str(tmp_path / "codex-home")}

    env = CodexAdapter().environment(parent, {})

    assert "FAKE_VENDOR_API_KEY" not in env


# --- a stand-in `codex` process ---------------------------------------------------


def fake_codex(tmp_path: Path, stdout: Path, exit_code: int) -> Path:
    """An executable that records its argv and stdin, prints `stdout`, and exits."""
    script = tmp_path / "fake-codex"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "from pathlib import Path\n"
        f"out = Path({str(tmp_path)!r})\n"
        "(out / 'argv.json').write_text(json.dumps(sys.argv[1:]))\n"
        "(out / 'stdin.txt').write_text(sys.stdin.read())\n"
        f"sys.stdout.write(Path({str(stdout)!r}).read_text())\n"
        f"sys.exit({exit_code})\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def test_a_run_through_launch_reports_the_usage_limit(vendor: Path, tmp_path: Path) -> None:
    binary = fake_codex(tmp_path, vendor / USAGE_LIMIT, exit_code=1)
    adapter = CodexAdapter(RunnerSettings(binary=str(binary)))

    result = launch.run_adapter(
        adapter, call(tmp_path, prompt="PROMPT-MARKER-31"), timeout=20, parent_env=PARENT_ENV
    )

    assert result.failure is not None
    assert result.failure.kind is FailureKind.USAGE_LIMIT
    assert result.failure.message == LIMIT_MESSAGE
    assert result.returncode == 1
    stdin = (tmp_path / "stdin.txt").read_text()
    assert stdin.startswith(REVIEWER_SYSTEM_PROMPT)
    assert stdin.endswith("PROMPT-MARKER-31")
    assert json.loads((tmp_path / "argv.json").read_text())[-1] == "-"


def test_a_run_through_launch_decodes_the_review(vendor: Path, tmp_path: Path) -> None:
    binary = fake_codex(tmp_path, vendor / EXEC_OK, exit_code=0)
    adapter = CodexAdapter(RunnerSettings(binary=str(binary)))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20, parent_env=PARENT_ENV)

    assert result.failure is None, result.debug_log()
    assert f"=== PAIR REVIEW END: {PAIR_2} ===" in result.text.splitlines()
    assert result.telemetry is not None
    assert result.telemetry.session_id == THREAD
    assert result.telemetry.tokens.reasoning == 60
