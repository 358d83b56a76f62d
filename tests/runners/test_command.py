"""Configured command runners (SPEC 8): any executable named in commonplace.toml,
prompt on stdin, review text on stdout, optional telemetry JSON written to the path
in COMMONPLACE_TELEMETRY_FILE. The commands here are real small Python scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from commonplace.runners import launch
from commonplace.runners.base import (
    BASE_ENVIRONMENT,
    Call,
    FailureKind,
    PlainText,
    RunnerSettings,
)
from commonplace.runners.command import TELEMETRY_ENV, CommandAdapter, telemetry_file


def command_runner(kb_root: Path, *command: str, **settings: object) -> CommandAdapter:
    return CommandAdapter("my-llm", RunnerSettings(command=command, **settings), kb_root)


def call(cwd: Path, prompt: str = "review this", effort: str | None = "low") -> Call:
    return Call(prompt=prompt, model="local-7b", effort=effort, cwd=cwd)


def python_script(path: Path, body: str) -> Path:
    """An executable Python script (shebang: this interpreter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


# --- argv and environment ----------------------------------------------------------


def test_a_program_path_with_a_slash_is_relative_to_the_kb_root(tmp_path: Path) -> None:
    adapter = command_runner(tmp_path / "kb", "tools/review.py", "--fast")

    assert adapter.argv(call(tmp_path), "sid") == [
        str(tmp_path / "kb" / "tools/review.py"),
        "--fast",
    ]


def test_bare_and_absolute_programs_are_kept(tmp_path: Path) -> None:
    bare = command_runner(tmp_path, "llm", "-m", "x", extra_args=("--no-stream",))
    absolute = command_runner(tmp_path, "/usr/local/bin/llm")

    assert bare.argv(call(tmp_path), "sid") == ["llm", "-m", "x", "--no-stream"]
    assert absolute.argv(call(tmp_path), "sid") == ["/usr/local/bin/llm"]


def test_the_prompt_is_stdin_and_stdout_is_plain_text(tmp_path: Path) -> None:
    adapter = command_runner(tmp_path, "llm")

    assert adapter.stdin(call(tmp_path, prompt="the prompt")) == "the prompt"
    assert isinstance(adapter.decoder(), PlainText)
    assert adapter.name == "my-llm"
    assert adapter.display_name() == "runner my-llm (`llm`)"
    assert adapter.version_argv() is None


def test_call_environment_names_the_telemetry_file_and_the_model_flags(tmp_path: Path) -> None:
    adapter = command_runner(tmp_path, "llm")

    with_effort = adapter.call_environment(call(tmp_path, effort="high"), "sid-1")
    without = adapter.call_environment(call(tmp_path, effort=None), "sid-2")

    assert with_effort == {
        TELEMETRY_ENV: str(telemetry_file("sid-1")),
        "COMMONPLACE_MODEL": "local-7b",
        "COMMONPLACE_EFFORT": "high",
    }
    assert "COMMONPLACE_EFFORT" not in without
    assert telemetry_file("sid-1") != telemetry_file("sid-2")


def test_environment_is_the_base_list_plus_configured_names(tmp_path: Path) -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "ANTHROPIC_API_KEY": "sk-ant",
        "OPENAI_API_KEY": "sk-openai",
        "CODEX_HOME": "/c",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "GITHUB_TOKEN": "ghp",
        "SECRET_THING": "s",
        "MY_LLM_KEY": "k",
    }
    adapter = command_runner(tmp_path, "llm", env=("MY_LLM_KEY", "NOT_IN_PARENT"))

    env = adapter.environment(parent, {"COMMONPLACE_MODEL": "m"})

    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "MY_LLM_KEY": "k",
        "COMMONPLACE_MODEL": "m",
    }
    assert set(env) - {"MY_LLM_KEY", "COMMONPLACE_MODEL", "LC_ALL"} <= set(BASE_ENVIRONMENT)


# --- real runs -------------------------------------------------------------------


REPORTING_SCRIPT = """\
import json, os, sys
prompt = sys.stdin.read()
with open(os.environ["COMMONPLACE_TELEMETRY_FILE"], "w") as f:
    json.dump({
        "model": "local-7b-q4",
        "tokens": {"input": len(prompt), "output": 3, "reasoning": "many"},
        "cost_usd": 0,
        "duration_ms": 1234,
        "turns": 1,
        "session_id": "s-1",
        "cli_version": "llm 0.19",
        "host": "gpu-box",
        "env_seen": {
            "model": os.environ.get("COMMONPLACE_MODEL"),
            "effort": os.environ.get("COMMONPLACE_EFFORT"),
            "key": os.environ.get("MY_LLM_KEY"),
            "secret": os.environ.get("SECRET_THING"),
        },
    }, f)
print("review text")
"""


def test_a_telemetry_file_written_by_the_command_is_read_and_deleted(tmp_path: Path) -> None:
    script = python_script(tmp_path / "kb" / "tools" / "review.py", REPORTING_SCRIPT)
    adapter = command_runner(tmp_path / "kb", "tools/review.py", env=("MY_LLM_KEY",))
    elsewhere = tmp_path / "elsewhere"  # the path is the KB root's, not the cwd's
    elsewhere.mkdir()
    parent = {"PATH": "/usr/bin:/bin", "MY_LLM_KEY": "k", "SECRET_THING": "s"}

    result = launch.run_adapter(
        adapter, call(elsewhere, prompt="12345"), timeout=20, parent_env=parent
    )

    assert script.exists()
    assert result.failure is None, result.debug_log()
    assert result.text == "review text\n"
    assert result.telemetry_error is None
    telemetry = result.telemetry
    assert telemetry is not None
    assert telemetry.runner == "my-llm"
    assert telemetry.model == "local-7b-q4"
    assert telemetry.models == ("local-7b-q4",)
    assert telemetry.requested_model == "local-7b"
    assert telemetry.effort == "low"
    assert telemetry.tokens.as_dict() == {
        "input": 5,
        "output": 3,
        "cache_read": None,
        "cache_write": None,
        "reasoning": None,  # not a number
    }
    assert telemetry.cost_usd == 0
    assert telemetry.duration_ms == 1234
    assert telemetry.turns == 1
    assert telemetry.session_id == "s-1"
    assert telemetry.cli_version == "llm 0.19"
    assert telemetry.sources == ("telemetry-file",)
    assert telemetry.details["host"] == "gpu-box"
    assert telemetry.details["env_seen"] == {
        "model": "local-7b",
        "effort": "low",
        "key": "k",
        "secret": None,
    }
    assert not telemetry_file(result.session_id).exists()


def test_malformed_telemetry_json_does_not_fail_the_run(tmp_path: Path) -> None:
    python_script(
        tmp_path / "bad.py",
        "import os, sys\n"
        "sys.stdin.read()\n"
        "open(os.environ['COMMONPLACE_TELEMETRY_FILE'], 'w').write('{\"model\": ')\n"
        "print('the review')\n",
    )
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "bad.py"))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is None
    assert result.text == "the review\n"
    # the call's own facts are kept; the unreadable file is named in the details
    assert result.telemetry is not None
    assert result.telemetry.requested_model == "local-7b"
    assert "unreadable telemetry file" in result.telemetry.details["telemetry_error"]
    assert result.telemetry_error is None
    assert not telemetry_file(result.session_id).exists()


def test_without_a_telemetry_file_the_telemetry_is_the_call_itself(tmp_path: Path) -> None:
    python_script(tmp_path / "quiet.py", "import sys\nsys.stdout.write(sys.stdin.read())\n")
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "quiet.py"))

    result = launch.run_adapter(adapter, call(tmp_path, prompt="echo me"), timeout=20)

    assert result.failure is None
    assert result.text == "echo me\n"
    telemetry = result.telemetry
    assert telemetry is not None
    assert telemetry.sources == ()
    assert telemetry.model is None
    assert telemetry.requested_model == "local-7b"
    assert telemetry.duration_ms == result.wall_ms


def test_a_telemetry_file_that_is_not_an_object_is_ignored(tmp_path: Path) -> None:
    python_script(
        tmp_path / "list.py",
        "import os\nopen(os.environ['COMMONPLACE_TELEMETRY_FILE'], 'w').write('[1, 2]')\n",
    )
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "list.py"))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.telemetry is not None
    assert result.telemetry.sources == ()
    assert result.telemetry_error is None
    assert not telemetry_file(result.session_id).exists()


def test_a_telemetry_file_can_name_several_models(tmp_path: Path) -> None:
    report = {"models": ["big", "small", 3], "cost_usd": True}
    python_script(
        tmp_path / "multi.py",
        "import os\n"
        f"open(os.environ['COMMONPLACE_TELEMETRY_FILE'], 'w').write({json.dumps(report)!r})\n",
    )
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "multi.py"))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.telemetry is not None
    assert result.telemetry.model is None
    assert result.telemetry.models == ("big", "small")
    assert result.telemetry.cost_usd is None  # a boolean is not a cost


def test_exit_status_75_is_a_usage_limit(tmp_path: Path) -> None:
    python_script(
        tmp_path / "limited.py",
        "import sys\nsys.stdin.read()\n"
        "print('quota gone until 6pm', file=sys.stderr)\nsys.exit(75)\n",
    )
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "limited.py"))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.USAGE_LIMIT
    assert result.failure.reason() == (
        f"usage exhausted: runner my-llm (`{sys.executable}`) exited 75: quota gone until 6pm"
    )


def test_other_exit_statuses_are_crashes(tmp_path: Path) -> None:
    python_script(tmp_path / "broken.py", "import sys\nsys.stdin.read()\nsys.exit(74)\n")
    adapter = command_runner(tmp_path, sys.executable, str(tmp_path / "broken.py"))

    result = launch.run_adapter(adapter, call(tmp_path), timeout=20)

    assert result.failure is not None
    assert result.failure.kind is FailureKind.CRASH
