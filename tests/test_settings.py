"""The typed tables of commonplace.toml: `[defaults]` and `[runners.<name>]`
are parsed once when the config loads; an unknown key or a wrong type is
refused there, naming the key and the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from commonplace.choices import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_JOBS,
    DEFAULT_TIMEOUT,
    EFFORTS,
    GROUPINGS,
    UNREVIEWABLE_REASONS,
    Effort,
    StaleReason,
)
from commonplace.cli import app
from commonplace.cli.main import COMMANDS
from commonplace.config import CONFIG_FILE, load_config
from commonplace.errors import UserError
from commonplace.settings import Defaults, RunnerSettings, parse_defaults

KNOWN = "effort, jobs, model, runner, timeout"


def load(tmp_path: Path, text: str, name: str = CONFIG_FILE) -> Defaults:
    root = tmp_path / "kb"
    root.mkdir(exist_ok=True)
    (root / name).write_text(text, encoding="utf-8")
    return load_config(root).defaults


def refusal(tmp_path: Path, text: str, name: str = CONFIG_FILE) -> str:
    with pytest.raises(UserError) as caught:
        load(tmp_path, text, name)
    assert caught.value.exit_code == 1
    return caught.value.message


def test_every_default_is_typed(tmp_path: Path) -> None:
    text = '[defaults]\nrunner = "codex"\nmodel = "gpt"\neffort = "xhigh"\ntimeout = 90\njobs = 3\n'
    defaults = load(tmp_path, text)
    assert defaults == Defaults("codex", "gpt", Effort.XHIGH, 90.0, 3)
    assert isinstance(defaults.timeout, float) and defaults.effort == "xhigh"


def test_absent_defaults_take_the_library_constants(tmp_path: Path) -> None:
    defaults = load(tmp_path, "")
    assert (defaults.runner, defaults.model, defaults.effort) == (None, None, None)
    assert (defaults.timeout, defaults.jobs) == (DEFAULT_TIMEOUT, DEFAULT_JOBS) == (1800.0, 2)


def test_a_misspelt_key_is_named_with_the_file_and_the_known_keys(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[defaults]\nmodle = "opus"\n')
    assert message == f"unknown key 'modle' in [defaults] of {CONFIG_FILE} (known: {KNOWN})"


def test_the_unknown_key_of_pyproject_names_pyproject(tmp_path: Path) -> None:
    text = "[tool.commonplace]\n[tool.commonplace.defaults]\nconcurrency = 4\n"
    message = refusal(tmp_path, text, "pyproject.toml")
    assert message.startswith("unknown key 'concurrency' in [defaults] of pyproject.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("runner = 3", "[defaults] runner must name a runner"),
        ('runner = "  "', "[defaults] runner must name a runner"),
        ('model = ""', "[defaults] model must name a model"),
        ("model = ['a']", "[defaults] model must name a model"),
        ('effort = "extreme"', f"[defaults] effort must be one of {', '.join(EFFORTS)}"),
        ("effort = 1", f"[defaults] effort must be one of {', '.join(EFFORTS)}"),
        ("timeout = 0", "[defaults] timeout must be a positive number of seconds"),
        ("timeout = -5", "[defaults] timeout must be a positive number of seconds"),
        ('timeout = "60"', "[defaults] timeout must be a positive number of seconds"),
        ("timeout = true", "[defaults] timeout must be a positive number of seconds"),
        ("timeout = inf", "[defaults] timeout must be a positive number of seconds"),
        ("timeout = nan", "[defaults] timeout must be a positive number of seconds"),
        ("jobs = 0", "[defaults] jobs must be a positive whole number"),
        ("jobs = 1.5", "[defaults] jobs must be a positive whole number"),
        ("jobs = false", "[defaults] jobs must be a positive whole number"),
    ],
)
def test_wrong_types_are_refused_by_key(tmp_path: Path, text: str, expected: str) -> None:
    assert refusal(tmp_path, f"[defaults]\n{text}\n") == f"{CONFIG_FILE}: {expected}"


def test_a_bad_runner_table_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[runners.my-llm]\ncomand = ["llm"]\n')
    assert message == f"{CONFIG_FILE}: [runners.my-llm]: unknown setting(s): comand"
    message = refusal(tmp_path, "[runners.codex]\ntimeout = -1\n")
    assert message.endswith(": [runners.codex]: timeout must be a positive number of seconds")


def test_parsed_settings_are_frozen() -> None:
    defaults = parse_defaults({"jobs": 4}, CONFIG_FILE)
    with pytest.raises(AttributeError):
        defaults.jobs = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        RunnerSettings().binary = "x"  # type: ignore[misc]


def test_a_bad_default_is_an_error_line_from_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    kb = tmp_path / "kb"
    kb.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=kb, check=True)
    (kb / CONFIG_FILE).write_text('[defaults]\nefort = "high"\n', encoding="utf-8")
    monkeypatch.chdir(kb)
    code = app.run(COMMANDS["review-store"], ["stats", "--db", str(kb / "none.sqlite")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: unknown key 'efort' in [defaults] of {CONFIG_FILE}")


def _choices(command: str, option: str) -> list[str]:
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[command].module).add_arguments(parser)
    (action,) = [a for a in parser._actions if option in a.option_strings]
    return [*action.choices] if action.choices is not None else [action.default]


def test_the_command_line_takes_its_choices_and_defaults_from_the_library() -> None:
    assert _choices("review-sweep", "--effort") == list(EFFORTS) == [e.value for e in Effort]
    assert _choices("review-sweep", "--group") == list(GROUPINGS)
    assert _choices("run-gate-sweep", "--batch-size") == [DEFAULT_BATCH_SIZE]
    reasons = _choices("review-target-selector", "--reason")
    assert reasons == [*(r.value for r in StaleReason), *UNREVIEWABLE_REASONS]


def test_the_report_table_gives_the_repository_url(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    root.mkdir()
    (root / CONFIG_FILE).write_text(
        '[report]\nrepository_url = "https://github.com/o/r/blob/main"\n', encoding="utf-8"
    )
    # a trailing slash is added, so paths append to it
    assert load_config(root).report.repository_url == "https://github.com/o/r/blob/main/"
    (root / CONFIG_FILE).write_text("", encoding="utf-8")
    assert load_config(root).report.repository_url is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[report]\nrepo_url = "https://x.org/"\n', "unknown key 'repo_url' in [report]"),
        ("[report]\nrepository_url = 3\n", "[report] repository_url must be an http"),
        ('[report]\nrepository_url = "javascript:alert(1)"\n', "[report] repository_url"),
        ('[report]\nrepository_url = "file:///etc/"\n', "[report] repository_url"),
        ('report = "https://x.org/"\n', "[report] must be a table"),
    ],
)
def test_a_bad_report_table_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refusal(tmp_path, text)
