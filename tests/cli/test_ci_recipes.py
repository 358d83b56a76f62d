"""The CI recipes: `action.yml` (a composite GitHub Action) and the example
workflow `docs/examples/review-pr.yml`, parsed as YAML and checked: the step
structure GitHub requires, inputs that exist, and every `commonplace-...`
command line they run accepted by that command's own parser (with `${{ }}`
expressions and shell variables replaced by sample values)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.kb import REPO

from commonplace.cli import app
from commonplace.cli.main import COMMANDS

ACTION = REPO / "action.yml"
WORKFLOW = REPO / "docs" / "examples" / "review-pr.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# Sample values of inputs whose default is empty or not a sample of its kind.
SAMPLES = {"runner": "stand-in", "model": "demo", "effort": "high", "base-ref": "main"}
# What the scripts' `set -- --model "$MODEL" [--effort "$EFFORT"]` puts in "$@".
PARTITION_ARGS = '--model "$MODEL" --effort "$EFFORT"'


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _inputs() -> dict[str, Any]:
    inputs = _load(ACTION)["inputs"]
    assert isinstance(inputs, dict)
    return inputs


def _expression_value(expression: str, inputs: dict[str, Any]) -> str:
    if expression.startswith("inputs."):
        name = expression.removeprefix("inputs.")
        assert name in inputs, f"${{{{ {expression} }}}} names no input of action.yml"
        default = str(inputs[name].get("default", ""))
        return SAMPLES.get(name) or ("" if "${{" in default else default) or "x"
    return "placeholder"  # github.*, secrets.*: any text


def _commands(script: str, env: dict[str, str]) -> list[list[str]]:
    """The `commonplace...` command lines of a shell script, each as argv."""
    env = dict(env)
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        words = line.strip()
        assigned = re.fullmatch(r"(\w+)=(.*)", words)
        if assigned:  # a variable of the script itself: `db="$RUNNER_TEMP/x"`
            env[assigned.group(1)] = shlex.split(_expand(assigned.group(2), env))[0]
            continue
        if not words.startswith("commonplace"):
            continue
        words = _expand(words.replace('"$@"', PARTITION_ARGS), env)
        assert "$" not in words, f"a variable the step does not set: {line}"
        found.append(shlex.split(words))
    return found


def _expand(words: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        words = re.sub(rf"\$\{{{name}\}}|\${name}\b", lambda _m, v=value: v, words)
    return words


def _action_command_lines() -> list[tuple[str, list[str]]]:
    inputs = _inputs()
    lines = []
    for step in _load(ACTION)["runs"]["steps"]:
        if "run" not in step:
            continue
        env = {
            key: EXPRESSION.sub(lambda m: _expression_value(m.group(1), inputs), str(value))
            for key, value in (step.get("env") or {}).items()
        }
        env.setdefault("RUNNER_TEMP", "/tmp")
        lines += [(step["name"], argv) for argv in _commands(step["run"], env)]
    return lines


def test_action_is_a_composite_action_with_valid_steps() -> None:
    action = _load(ACTION)
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    inputs = _inputs()
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert not (spec.get("required") and "default" in spec), f"{name}: required with a default"
    for step in action["runs"]["steps"]:
        assert step.get("name")
        assert ("run" in step) != ("uses" in step), step["name"]
        if "run" in step:
            assert step.get("shell") == "bash", f"{step['name']}: a run step needs a shell"
            # Inputs reach the script through env, never pasted into it (injection).
            assert "${{" not in step["run"], step["name"]
        else:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]
    text = ACTION.read_text()
    for expression in EXPRESSION.findall(text):
        for name in re.findall(r"inputs\.([\w-]+)", expression):
            assert name in inputs, f"{expression} names no input"
    # Every input is used somewhere.
    for name in inputs:
        assert f"inputs.{name}" in text, f"input {name} is never used"


@pytest.mark.parametrize(
    ("step", "argv"), _action_command_lines(), ids=lambda v: v if isinstance(v, str) else v[0]
)
def test_every_command_line_of_the_action_parses(step: str, argv: list[str]) -> None:
    name = argv[0].removeprefix("commonplace-")
    assert name in COMMANDS, f"{step}: {argv[0]} is no command of ours"
    spec = COMMANDS[name]
    import importlib

    module = importlib.import_module(spec.module)
    parser = app.Parser(prog=argv[0])
    module.add_arguments(parser)
    try:
        parser.parse_args(argv[1:])
    except SystemExit as exc:
        pytest.fail(f"{step}: {shlex.join(argv)} does not parse (exit {exc.code})")


def test_the_action_runs_each_step_of_the_recipe() -> None:
    commands = [argv[0] for _, argv in _action_command_lines()]
    for needed in (
        "commonplace-review-store",
        "commonplace-review-sweep",
        "commonplace-review-report",
        "commonplace-warn-selector",
    ):
        assert needed in commands
    uses = [s.get("uses", "") for s in _load(ACTION)["runs"]["steps"]]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    for _, argv in _action_command_lines():
        if argv[0] != "commonplace-review-store":
            assert "--changed-since" in argv, argv  # the pull request's notes only


def test_example_workflow_uses_the_action_with_its_inputs() -> None:
    workflow = _load(WORKFLOW)
    # PyYAML reads the key `on` as True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    assert workflow["permissions"]["security-events"] == "write"
    inputs = _inputs()
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0  # the merge base must be there
    ours = [s for s in steps if s.get("uses", "").split("@")[0].endswith("/commonplace-review")]
    assert len(ours) == 1
    given = ours[0]["with"]
    for name in given:
        assert name in inputs, f"the workflow gives {name}, which the action does not take"
    for name, spec in inputs.items():
        if spec.get("required"):
            assert name in given, f"the workflow misses the required input {name}"
    for step in steps:
        assert ("run" in step) != ("uses" in step)
