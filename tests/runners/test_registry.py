"""The runner registry (SPEC 8): built-in harnesses by name, command runners from
`[runners.<name>]` tables, and the settings those tables may hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from commonplace.config import Config, load_config
from commonplace.errors import UsageError, UserError
from commonplace.runners import RUNNERS as BUILTIN
from commonplace.runners import get_runner, runner_names, runner_settings
from commonplace.runners.claude_code import ClaudeCodeAdapter
from commonplace.runners.codex import CodexAdapter
from commonplace.runners.command import CommandAdapter
from commonplace.settings import RunnerSettings


def config(tmp_path: Path, runners: dict[str, dict[str, Any]] | None = None) -> Config:
    return Config(kb_root=tmp_path, runners=runners or {})


def test_builtin_runners_are_the_two_clis_and_the_two_apis() -> None:
    assert list(BUILTIN) == ["claude-code", "codex", "anthropic-api", "openai-api"]


def test_runner_names_lists_builtins_then_command_runners_sorted(tmp_path: Path) -> None:
    runners = {
        "zeta": {"command": ["zeta-cli"]},
        "alpha": {"command": ["python3", "tools/review.py"]},
        "codex": {"binary": "/opt/codex"},  # a built-in's settings add no name
        "half-done": {"timeout": 5},  # no command: not a runner
    }

    builtin = ["claude-code", "codex", "anthropic-api", "openai-api"]
    assert runner_names(config(tmp_path, runners)) == [*builtin, "alpha", "zeta"]
    assert runner_names(config(tmp_path)) == builtin


def test_get_runner_gives_a_fresh_builtin_adapter(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    claude = get_runner(cfg, "claude-code")
    codex = get_runner(cfg, "codex")

    assert isinstance(claude, ClaudeCodeAdapter)
    assert isinstance(codex, CodexAdapter)
    assert claude.settings == RunnerSettings()
    assert get_runner(cfg, "claude-code") is not claude


def test_builtin_settings_are_honoured(tmp_path: Path) -> None:
    runners = {"codex": {"binary": "/opt/codex", "extra_args": ["-c", "x=1"], "timeout": 90}}

    adapter = get_runner(config(tmp_path, runners), "codex")

    assert isinstance(adapter, CodexAdapter)
    assert adapter.settings == RunnerSettings(
        binary="/opt/codex", extra_args=("-c", "x=1"), timeout=90.0
    )
    assert adapter.binary == "/opt/codex"


def test_get_runner_builds_a_command_runner(tmp_path: Path) -> None:
    runners = {"my-llm": {"command": ["tools/review.py", "--fast"], "env": ["MY_LLM_KEY"]}}

    adapter = get_runner(config(tmp_path, runners), "my-llm")

    assert isinstance(adapter, CommandAdapter)
    assert adapter.name == "my-llm"
    assert adapter.kb_root == tmp_path
    assert adapter.settings.command == ("tools/review.py", "--fast")
    assert adapter.settings.env == ("MY_LLM_KEY",)


def test_an_unknown_runner_is_a_usage_error_listing_the_choices(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"my-llm": {"command": ["llm"]}})

    with pytest.raises(UsageError) as caught:
        get_runner(cfg, "gemini")

    assert caught.value.exit_code == 2
    message = caught.value.message
    assert "gemini" in message
    assert "claude-code, codex, anthropic-api, openai-api, my-llm" in message


def test_a_runner_table_without_command_is_a_user_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"my-llm": {"timeout": 30}})

    with pytest.raises(UserError) as caught:
        get_runner(cfg, "my-llm")

    assert not isinstance(caught.value, UsageError)
    assert caught.value.exit_code == 1
    assert "[runners.my-llm]" in caught.value.message
    assert "command" in caught.value.message


def test_a_builtin_with_a_command_is_a_user_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"claude-code": {"command": ["my-claude"]}})

    with pytest.raises(UserError, match=r"\[runners\.claude-code\].*built-in.*binary"):
        get_runner(cfg, "claude-code")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"comand": ["x"]}, "unknown setting(s): comand"),
        ({"binary": ""}, "binary must be a path or a command name"),
        ({"binary": "  "}, "binary must be a path or a command name"),
        ({"binary": ["claude"]}, "binary must be a path or a command name"),
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
        ({"timeout": -5}, "timeout must be a positive number of seconds"),
        ({"timeout": True}, "timeout must be a positive number of seconds"),
        ({"timeout": "60"}, "timeout must be a positive number of seconds"),
        ({"command": "llm -m x"}, "command must be a list of strings"),
        ({"command": []}, "command must name a program"),
        ({"command": [" "]}, "command must name a program"),
        ({"command": ["llm", 3]}, "command must be a list of strings"),
        ({"command": ["llm"], "extra_args": "--fast"}, "extra_args must be a list of strings"),
        ({"command": ["llm"], "env": "MY_KEY"}, "env must be a list of strings"),
    ],
)
def test_bad_settings_are_user_errors_with_clear_messages(
    tmp_path: Path, table: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError) as caught:
        runner_settings("my-llm", table)
    assert caught.value.message == f"[runners.my-llm]: {message}"

    with pytest.raises(UserError):  # also when asked for through the registry
        get_runner(config(tmp_path, {"my-llm": table}), "my-llm")


def test_bad_settings_of_a_builtin_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"\[runners\.codex\]: timeout"):
        get_runner(config(tmp_path, {"codex": {"timeout": -1}}), "codex")


def test_runner_settings_normalizes_lists_and_numbers() -> None:
    settings = runner_settings(
        "x", {"command": ["a", "b"], "extra_args": ["--c"], "env": ["K"], "timeout": 2.5}
    )

    assert settings == RunnerSettings(
        command=("a", "b"), extra_args=("--c",), env=("K",), timeout=2.5
    )
    assert runner_settings("x", {"timeout": 30}).timeout == 30.0
    assert runner_settings("x", {}) == RunnerSettings()


def test_runners_come_from_commonplace_toml(tmp_path: Path) -> None:
    (tmp_path / "commonplace.toml").write_text(
        "[runners.my-llm]\n"
        'command = ["python3", "tools/review.py", "--fast"]\n'
        'env = ["MY_LLM_KEY"]\n'
        "timeout = 600\n"
        "[runners.claude-code]\n"
        'binary = "/opt/claude"\n',
        encoding="utf-8",
    )
    cfg = load_config(tmp_path)

    adapter = get_runner(cfg, "my-llm")
    claude = get_runner(cfg, "claude-code")

    assert runner_names(cfg) == ["claude-code", "codex", "anthropic-api", "openai-api", "my-llm"]
    assert isinstance(adapter, CommandAdapter)
    assert adapter.settings.timeout == 600.0
    assert adapter.kb_root == cfg.kb_root
    assert isinstance(claude, ClaudeCodeAdapter)
    assert claude.binary == "/opt/claude"


def test_each_factory_builds_the_adapter_its_name_says(tmp_path: Path) -> None:
    for name, factory in BUILTIN.items():
        adapter = factory(RunnerSettings(binary="/opt/x"), config(tmp_path))
        assert adapter.name == name
        assert adapter.settings.binary == "/opt/x"


def test_the_registry_imports_no_adapter_until_one_is_asked_for() -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from commonplace.config import Config\n"
        "from commonplace import runners\n"
        "adapters = ['claude_code', 'codex', 'command']\n"
        "modules = lambda: [f'commonplace.runners.{a}' for a in adapters]\n"
        "loaded = lambda: [m.rsplit('.', 1)[1] for m in modules() if m in sys.modules]\n"
        "before = loaded()\n"
        "runners.get_runner(Config(kb_root=Path('.')), 'codex')\n"
        "print(before, loaded())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] ['codex']"


def test_an_api_runner_imports_its_sdk_only_when_a_call_needs_it() -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from commonplace.config import Config\n"
        "from commonplace import runners\n"
        "sdks = lambda: [m for m in ('anthropic', 'openai') if m in sys.modules]\n"
        "adapter = runners.get_runner(Config(kb_root=Path('.')), 'anthropic-api')\n"
        "before = sdks()\n"
        "adapter.preflight({'ANTHROPIC_API_KEY': 'k' * 20})\n"
        "print(before, sdks())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] ['anthropic']"
