"""The claude-code runner (SPEC 8): argv, stream decoding, classification and
telemetry, checked against real Claude Code 2.1.197 output in
../shared/vendor-formats. No real CLI is needed: where a process runs, it is a
small Python script standing in for `claude`."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers.session_logs import vendor_lines

from commonplace.protocol.prompt import REVIEWER_SYSTEM_PROMPT
from commonplace.runners import launch
from commonplace.runners.base import Call, Failure, FailureKind, Outcome
from commonplace.runners.claude_code import (
    RATE_LIMIT_RETRIES,
    ClaudeCodeAdapter,
    ClaudeStream,
    read_session_log,
    session_log_path,
)
from commonplace.runners.telemetry import TELEMETRY_SCHEMA, usable_model
from commonplace.settings import RunnerSettings

STREAM_OK = "claude-2.1.197-stream-ok.jsonl"
MODEL_DIFFERS = "claude-2.1.197-stream-model-differs.jsonl"
RATE_LIMITED = "claude-2.1.197-stream-rate-limited-head.jsonl"
SESSION_LOG = "claude-2.1.197-session-log-ok.jsonl"
VENDOR_SESSION = "11111111-2222-3333-4444-555555555555"

PAIR_1 = "kb/notes/alpha.md :: prose/source-residue"
PAIR_2 = "kb/notes/alpha.md :: semantic/internal-consistency"


def decode(lines: list[str]) -> tuple[ClaudeStream, str]:
    decoder = ClaudeStream()
    text = "".join(decoder.feed(line) for line in lines)
    return decoder, text


def assistant(text: str, *, message_id: str | None = "msg_1", model: str = "claude-x") -> str:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
    }
    if message_id is None:
        del message["id"]
    return json.dumps({"type": "assistant", "message": message})


def result(**fields: object) -> str:
    return json.dumps({"type": "result", "subtype": "success", "is_error": False, **fields})


def outcome(returncode: int | None = 0, stderr: str = "") -> Outcome:
    return Outcome(returncode=returncode, stderr=stderr, stopped=None, duration_ms=12)


def call(cwd: Path, prompt: str = "review these pairs", effort: str | None = "high") -> Call:
    return Call(prompt=prompt, model="claude-sonnet-4-5", effort=effort, cwd=cwd)


# --- decoding the real stream ------------------------------------------------


def test_stream_ok_gives_the_review_text_with_both_pairs(vendor: Path) -> None:
    decoder, text = decode(vendor_lines(vendor, STREAM_OK))

    assert text.startswith("Review complete.")
    for pair in (PAIR_1, PAIR_2):
        assert f"=== PAIR REVIEW START: {pair} ===" in text.splitlines()
        assert f"=== PAIR REVIEW END: {pair} ===" in text.splitlines()
    assert decoder.stop() is None


def test_stream_ok_telemetry_comes_from_the_result_event(vendor: Path, tmp_path: Path) -> None:
    decoder, _ = decode(vendor_lines(vendor, STREAM_OK))
    adapter = ClaudeCodeAdapter()

    telemetry = adapter.telemetry(
        call(tmp_path), decoder, outcome(), {"HOME": str(tmp_path)}, "ours"
    )

    assert telemetry.runner == "claude-code"
    assert telemetry.tokens.as_dict() == {
        "input": 1200,
        "output": 340,  # the result's usage, not the assistant event's partial 1
        "cache_read": 800,
        "cache_write": 200,
        "reasoning": None,
    }
    assert telemetry.input_includes_cache_read is False
    assert telemetry.cost_usd == pytest.approx(0.00969)
    assert telemetry.duration_ms == 90
    assert telemetry.turns == 1
    assert telemetry.session_id == VENDOR_SESSION
    assert telemetry.cli_version == "2.1.197"
    assert telemetry.model == "claude-sonnet-4-5"
    assert telemetry.models == ("claude-sonnet-4-5",)
    assert telemetry.requested_model == "claude-sonnet-4-5"
    assert telemetry.effort == "high"
    assert telemetry.sources == ("stream",)
    assert telemetry.details["tools"] == ["Glob", "Grep", "Read"]
    assert telemetry.details["is_error"] is False
    assert adapter.classify(decoder, outcome()) is None

    data = telemetry.as_dict()
    assert data["schema"] == TELEMETRY_SCHEMA == "commonplace.telemetry/1"
    assert data["tokens"]["output"] == 340
    assert data["models"] == ["claude-sonnet-4-5"]
    json.dumps(data)  # serializable as it is


def test_the_served_model_is_the_assistant_message_model(vendor: Path, tmp_path: Path) -> None:
    decoder, text = decode(vendor_lines(vendor, MODEL_DIFFERS))

    telemetry = ClaudeCodeAdapter().telemetry(
        call(tmp_path), decoder, outcome(), {"HOME": str(tmp_path)}, "ours"
    )

    assert f"=== PAIR REVIEW END: {PAIR_1} ===" in text.splitlines()
    assert telemetry.model == "claude-opus-4-6"
    assert telemetry.models == ("claude-opus-4-6",)
    assert telemetry.details["init_model"] == "claude-sonnet-5"
    assert telemetry.details["model_usage_keys"] == ["claude-sonnet-5"]
    assert telemetry.session_id == "8a322b0b-812a-47e8-a527-3e0a50a3f341"


def test_repeated_429_retries_stop_the_call_after_three(vendor: Path) -> None:
    init, *retries = vendor_lines(vendor, RATE_LIMITED)
    assert len(retries) >= RATE_LIMIT_RETRIES == 3
    decoder = ClaudeStream()
    decoder.feed(init)
    for line in retries[:2]:
        assert decoder.feed(line) == ""
        assert decoder.stop() is None  # two 429s are not yet a rate limit

    decoder.feed(retries[2])
    failure = decoder.stop()

    assert failure is not None
    assert failure.kind is FailureKind.USAGE_LIMIT
    assert "429" in failure.message
    assert failure.reason().startswith("usage exhausted: ")


def test_retries_for_other_statuses_do_not_count_as_rate_limits() -> None:
    decoder = ClaudeStream()
    for attempt in range(1, 6):
        retry = {"type": "system", "subtype": "api_retry", "attempt": attempt}
        decoder.feed(json.dumps({**retry, "error_status": 529, "error": "overloaded"}))

    assert decoder.stop() is None


def test_separate_assistant_messages_are_separated_by_a_newline() -> None:
    start = f"=== PAIR REVIEW START: {PAIR_1} ==="
    _, text = decode(
        [
            assistant("I'll check.", message_id="msg_1"),
            assistant(f"{start}\n### Summary\nok", message_id="msg_2"),
            assistant("No id on this one.", message_id=None),
            assistant("Nor on this one.", message_id=None),
        ]
    )

    assert text == f"I'll check.\n{start}\n### Summary\nok\nNo id on this one.\nNor on this one."
    assert start in text.splitlines()


def test_no_extra_newline_when_a_message_already_ends_with_one() -> None:
    _, text = decode([assistant("First.\n", message_id="a"), assistant("Second.", message_id="b")])

    assert text == "First.\nSecond."


def test_a_block_repeated_within_one_message_is_kept_once() -> None:
    _, text = decode([assistant("Same block."), assistant("Same block."), assistant(" More.")])

    assert text == "Same block. More."


def test_result_text_is_used_when_no_assistant_text_was_seen() -> None:
    tool_only = {"type": "assistant", "message": {"id": "m", "model": "claude-x", "content": []}}
    _, text = decode([json.dumps(tool_only), result(result="From the result event.")])

    assert text == "From the result event."


def test_result_text_is_not_repeated_after_assistant_text() -> None:
    _, text = decode([assistant("The review."), result(result="The review.")])

    assert text == "The review."


def test_synthetic_model_is_not_a_served_model(tmp_path: Path) -> None:
    decoder, _ = decode(
        [
            assistant("You're out of extra usage · resets 5pm", model="<synthetic>"),
            result(is_error=True, result="You're out of extra usage · resets 5pm"),
        ]
    )

    assert usable_model("<synthetic>") is None
    assert decoder.models == []
    assert decoder.synthetic == ["You're out of extra usage · resets 5pm"]
    telemetry = ClaudeCodeAdapter().telemetry(
        call(tmp_path), decoder, outcome(1), {"HOME": str(tmp_path)}, "no-such-session"
    )
    assert telemetry.model is None
    assert telemetry.models == ()


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(
            [result(is_error=True, api_error_status=429, result="API Error: 429")], id="status-429"
        ),
        pytest.param(
            [result(is_error=True, api_error_status=None, result="You're out of extra usage")],
            id="out-of-extra-usage",
        ),
        pytest.param(
            [
                assistant("Claude AI usage limit reached|1767225600", model="<synthetic>"),
                result(is_error=True, result=""),
            ],
            id="synthetic-notice",
        ),
    ],
)
def test_usage_limits_reported_by_the_cli_classify_as_usage_limit(lines: list[str]) -> None:
    decoder, _ = decode(lines)

    failure = ClaudeCodeAdapter().classify(decoder, outcome(1))

    assert failure is not None
    assert failure.kind is FailureKind.USAGE_LIMIT
    assert failure.message


def test_status_401_classifies_as_auth() -> None:
    decoder, _ = decode(
        [result(is_error=True, api_error_status=401, result="Invalid API key · Please run /login")]
    )

    failure = ClaudeCodeAdapter().classify(decoder, outcome(1))

    assert failure is not None
    assert failure.kind is FailureKind.AUTH
    assert "Invalid API key" in failure.message


def test_other_reported_errors_are_crashes() -> None:
    decoder, _ = decode([result(is_error=True, subtype="error_max_turns", result="max turns")])

    failure = ClaudeCodeAdapter().classify(decoder, outcome(0))

    assert failure is not None
    assert failure.kind is FailureKind.CRASH
    assert "max turns" in failure.message


def test_a_review_quoting_usage_limit_phrases_is_not_a_usage_limit() -> None:
    quoting = (
        "=== PAIR REVIEW START: kb/notes/quota.md :: claims/overreach ===\n"
        "The note quotes the CLI: \"You're out of extra usage\" and 'usage limit reached'"
        " (HTTP 429, rate limit, quota exceeded).\n## Result: PASS\n"
    )
    decoder, text = decode([assistant(quoting), result(result=quoting)])
    adapter = ClaudeCodeAdapter()

    assert "usage limit" in text
    assert adapter.classify(decoder, outcome(0)) is None
    crashed = adapter.classify(decoder, outcome(1, stderr="segfault in worker"))
    assert crashed is not None
    assert crashed.kind is FailureKind.CRASH  # a failure, but not a usage limit


def test_stderr_of_a_failed_call_is_classified() -> None:
    decoder, _ = decode([])
    adapter = ClaudeCodeAdapter()

    limited = adapter.classify(decoder, outcome(1, stderr="Error: rate limit exceeded\n"))
    denied = adapter.classify(decoder, outcome(1, stderr="Error: Invalid API key\n"))
    plain = adapter.classify(decoder, outcome(2, stderr="boom\n"))

    assert limited is not None and limited.kind is FailureKind.USAGE_LIMIT
    assert denied is not None and denied.kind is FailureKind.AUTH
    assert plain is not None and plain.kind is FailureKind.CRASH
    assert plain.message == "claude exited 2: boom"


def test_a_stop_reason_wins_over_the_stream() -> None:
    decoder, _ = decode([result(is_error=True, api_error_status=401)])
    stopped = Failure(FailureKind.TIMEOUT, "timed out after 1 s")

    failure = ClaudeCodeAdapter().classify(
        decoder, Outcome(returncode=-15, stderr="", stopped=stopped, duration_ms=1000)
    )

    assert failure == stopped


@pytest.mark.parametrize(
    "line",
    ["", "plain text", "[1, 2]", '"a string"', "42", "null", "true", " {indented: no}"],
)
def test_lines_that_are_not_json_objects_are_ignored(line: str) -> None:
    decoder = ClaudeStream()

    assert decoder.feed(line) == ""
    assert decoder.feed(assistant("still decoding")) == "still decoding"


def test_events_with_unexpected_shapes_are_ignored() -> None:
    odd = [
        {"type": "assistant", "message": "not an object"},
        {"type": "assistant", "message": {"id": 5, "content": "not a list"}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": 7}, "x"]}},
        {"type": "system"},
        {"type": "result", "result": ["not", "a", "string"]},
        {"no": "type"},
    ]
    decoder, text = decode([json.dumps(event) for event in odd])

    assert text == ""
    assert decoder.models == []


# --- the session log ---------------------------------------------------------


def test_session_log_path_uses_claude_config_dir(tmp_path: Path) -> None:
    env = {"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg"), "HOME": str(tmp_path / "home")}
    cwd = tmp_path / "kb"
    cwd.mkdir()
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in str(cwd.resolve()))

    path = session_log_path(env, cwd, "sid")

    assert path == tmp_path / "cfg" / "projects" / slug / "sid.jsonl"


def test_session_log_path_defaults_to_home_dot_claude(tmp_path: Path) -> None:
    cwd = tmp_path / "kb"
    cwd.mkdir()

    path = session_log_path({"HOME": str(tmp_path / "home")}, cwd, "sid")

    assert path.parent.parent == tmp_path / "home" / ".claude" / "projects"


def test_every_non_alphanumeric_character_of_the_cwd_becomes_a_dash(tmp_path: Path) -> None:
    cwd = tmp_path / "my.notes_dir" / "a b"
    cwd.mkdir(parents=True)
    resolved = str(cwd.resolve())
    expected = "".join(c if c.isascii() and c.isalnum() else "-" for c in resolved)

    slug = session_log_path({"HOME": str(tmp_path)}, cwd, "sid").parent.name

    assert slug == expected
    assert slug.endswith("-my-notes-dir-a-b")
    assert all(c.isalnum() or c == "-" for c in slug)


def test_session_log_path_resolves_the_cwd(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    env = {"HOME": str(tmp_path)}

    assert session_log_path(env, tmp_path / "link", "s") == session_log_path(env, real, "s")


def test_telemetry_falls_back_to_the_session_log(vendor: Path, tmp_path: Path) -> None:
    stream = [line for line in vendor_lines(vendor, STREAM_OK) if '"type":"result"' not in line]
    decoder, _ = decode(stream)
    assert decoder.result is None
    cwd = tmp_path / "kb.dir_1"
    cwd.mkdir()
    env = {"HOME": str(tmp_path / "home")}
    log = session_log_path(env, cwd, VENDOR_SESSION)
    log.parent.mkdir(parents=True)
    shutil.copy(vendor / SESSION_LOG, log)

    telemetry = ClaudeCodeAdapter().telemetry(call(cwd), decoder, outcome(), env, VENDOR_SESSION)

    assert telemetry.sources == ("stream", "session-log")
    assert telemetry.tokens.as_dict() == {
        "input": 1200,
        "output": 340,  # the log's full count, not the stream's partial 1
        "cache_read": 800,
        "cache_write": 200,
        "reasoning": None,
    }
    assert telemetry.model == "claude-sonnet-4-5"
    assert telemetry.session_id == VENDOR_SESSION
    assert telemetry.cost_usd is None


def test_session_log_gives_the_model_when_the_stream_has_none(vendor: Path, tmp_path: Path) -> None:
    env = {"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")}
    log = session_log_path(env, tmp_path, "sess")
    log.parent.mkdir(parents=True)
    shutil.copy(vendor / SESSION_LOG, log)

    telemetry = ClaudeCodeAdapter().telemetry(
        call(tmp_path), ClaudeStream(), outcome(), env, "sess"
    )

    assert telemetry.model == "claude-sonnet-4-5"
    assert telemetry.tokens.output == 340
    assert telemetry.session_id == "sess"


def test_without_result_or_log_the_stream_usage_is_summed(tmp_path: Path) -> None:
    usage = {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 1}
    events = [
        {"type": "assistant", "message": {"id": i, "model": "m", "content": [], "usage": usage}}
        for i in ("a", "b", "b")
    ]
    decoder, _ = decode([json.dumps(event) for event in events])

    telemetry = ClaudeCodeAdapter().telemetry(
        call(tmp_path), decoder, outcome(), {"HOME": str(tmp_path)}, "none"
    )

    assert telemetry.sources == ("stream",)
    assert telemetry.tokens.input == 20  # per distinct message
    assert telemetry.tokens.cache_write == 0


def test_read_session_log_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_session_log(tmp_path / "absent.jsonl") is None
    assert read_session_log(tmp_path) is None  # a directory


def test_read_session_log_skips_damaged_lines(vendor: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    good = (vendor / SESSION_LOG).read_bytes()
    log.write_bytes(b"{not json\n\xff\xfe garbage\n[1]\n" + good)

    logged = read_session_log(log)

    assert logged is not None
    models, usage = logged
    assert models == ["claude-sonnet-4-5"]
    assert usage["output_tokens"] == 340


# --- command line and environment ---------------------------------------------


def test_argv_is_print_mode_with_a_json_stream_and_read_only_tools(tmp_path: Path) -> None:
    prompt = "PROMPT-MARKER-5f1c: review kb/notes/a.md"

    argv = ClaudeCodeAdapter().argv(call(tmp_path, prompt=prompt), "sid-1")

    assert argv == [
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "claude-sonnet-4-5",
        "--effort",
        "high",
        "--session-id",
        "sid-1",
        "--tools",
        "Read,Glob,Grep",
        "--append-system-prompt",
        REVIEWER_SYSTEM_PROMPT,
    ]
    assert not any(prompt in arg for arg in argv)
    joined = " ".join(argv[:-1])
    for forbidden in ("Bash", "Edit", "Write", "--allowedTools", "--dangerously-skip-permissions"):
        assert forbidden not in joined


def test_argv_without_effort_has_no_effort_flag(tmp_path: Path) -> None:
    argv = ClaudeCodeAdapter().argv(call(tmp_path, effort=None), "sid")

    assert "--effort" not in argv


def test_binary_and_extra_args_come_from_settings(tmp_path: Path) -> None:
    settings = RunnerSettings(binary="/opt/claude/bin/claude", extra_args=("--max-turns", "4"))
    adapter = ClaudeCodeAdapter(settings)

    argv = adapter.argv(call(tmp_path), "sid")

    assert argv[0] == "/opt/claude/bin/claude"
    assert argv[-2:] == ["--max-turns", "4"]
    assert adapter.version_argv() == ["/opt/claude/bin/claude", "--version"]


def test_the_prompt_goes_to_stdin(tmp_path: Path) -> None:
    assert ClaudeCodeAdapter().stdin(call(tmp_path, prompt="the prompt")) == "the prompt"


PARENT_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128",
    "ANTHROPIC_API_KEY": "sk-ant",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    "CLAUDE_CONFIG_DIR": "/home/u/.claude-work",
    "AWS_REGION": "eu-west-1",
    "OPENAI_API_KEY": "sk-openai",
    "CODEX_HOME": "/home/u/.codex",
    "GITHUB_TOKEN": "ghp",
    "SECRET_THING": "s",
}


def test_environment_passes_anthropic_variables_and_nothing_unrelated() -> None:
    env = ClaudeCodeAdapter().environment(PARENT_ENV, {"EXTRA": "set by us"})

    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "ANTHROPIC_API_KEY": "sk-ant",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
        "CLAUDE_CONFIG_DIR": "/home/u/.claude-work",
        "AWS_REGION": "eu-west-1",  # Bedrock
        "EXTRA": "set by us",
    }


def test_environment_names_from_settings_are_passed() -> None:
    adapter = ClaudeCodeAdapter(RunnerSettings(env=("GITHUB_TOKEN",)))

    env = adapter.environment(PARENT_ENV, {})

    assert env["GITHUB_TOKEN"] == "ghp"
    assert "SECRET_THING" not in env


# --- a stand-in `claude` process ------------------------------------------------


def fake_claude(tmp_path: Path, stdout_lines: list[str], *, then_sleep: float = 0) -> Path:
    """An executable that records its argv and stdin, prints `stdout_lines`, and
    optionally sleeps (as the real CLI does while it backs off)."""
    stream = tmp_path / "fake-stream.jsonl"
    stream.write_text("".join(line + "\n" for line in stdout_lines), encoding="utf-8")
    script = tmp_path / "fake-claude"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        "from pathlib import Path\n"
        f"out = Path({str(tmp_path)!r})\n"
        "(out / 'argv.json').write_text(json.dumps(sys.argv[1:]))\n"
        "(out / 'stdin.txt').write_text(sys.stdin.read())\n"
        f"sys.stdout.write(Path({str(stream)!r}).read_text())\n"
        "sys.stdout.flush()\n"
        f"time.sleep({then_sleep})\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def test_a_run_through_launch_decodes_the_stream(vendor: Path, tmp_path: Path) -> None:
    lines = vendor_lines(vendor, STREAM_OK)
    noisy = ["not json at all", "{broken json", lines[0], "[1]", *lines[1:]]
    adapter = ClaudeCodeAdapter(RunnerSettings(binary=str(fake_claude(tmp_path, noisy))))
    prompt = "PROMPT-MARKER-9d2e\nwith several lines\n"

    result = launch.run_adapter(adapter, call(tmp_path, prompt=prompt), timeout=20)

    assert result.failure is None, result.debug_log()
    assert f"=== PAIR REVIEW END: {PAIR_2} ===" in result.text.splitlines()
    assert result.telemetry is not None
    assert result.telemetry.tokens.output == 340
    assert result.telemetry.details["wall_ms"] == result.wall_ms
    assert (tmp_path / "stdin.txt").read_text() == prompt
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--session-id") + 1] == result.session_id
    assert not any("PROMPT-MARKER" in arg for arg in argv)


def test_a_rate_limited_cli_is_stopped_instead_of_waited_for(vendor: Path, tmp_path: Path) -> None:
    lines = vendor_lines(vendor, RATE_LIMITED)
    binary = fake_claude(tmp_path, lines, then_sleep=60)
    adapter = ClaudeCodeAdapter(RunnerSettings(binary=str(binary)))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=30)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.USAGE_LIMIT
    assert "429" in result.failure.message
    assert result.returncode is not None and result.returncode < 0  # we stopped it
    assert result.telemetry is not None
    assert result.telemetry.details["rate_limit_retries"] >= RATE_LIMIT_RETRIES
