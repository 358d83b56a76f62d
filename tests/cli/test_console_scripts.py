"""Every console script starts as a real process and prints its help."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from helpers.commands import console_script, run_script
from helpers.kb import REPO

from commonplace.cli.main import COMMANDS

SCRIPTS = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def test_the_project_declares_the_seed_scripts() -> None:
    assert "commonplace" in SCRIPTS
    for name in COMMANDS:
        assert f"commonplace-{name}" in SCRIPTS
    for script in SCRIPTS:
        if script != "commonplace":
            assert script.removeprefix("commonplace-") in COMMANDS, script


def test_every_console_script_prints_help(tmp_path: Path) -> None:
    # Started together: one process start each, in parallel, to stay fast.
    procs = {
        name: subprocess.Popen(
            [console_script(name), "--help"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for name in SCRIPTS
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, (name, err)
        assert out.lower().startswith("usage:"), (name, out)
        assert "Traceback" not in err, (name, err)
        if name != "commonplace":
            assert name in out, (name, out)  # the seed name is the program name
            assert "--json" in out, (name, out)
            # every command takes a store, but init, which writes where it will be
            assert ("--db" in out) == (name != "commonplace-init"), (name, out)


def test_umbrella_help_lists_every_command(tmp_path: Path) -> None:
    done = run_script("commonplace", ["--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
    listed = {row[0] for row in rows}
    # Each command by its own name, or by its verb with its name at the end.
    by_verb = {row[-1]: row[0] for row in rows if row[-1] in COMMANDS and row[0] != row[-1]}
    assert set(COMMANDS) <= listed | set(by_verb)
    assert {"status", "review", "fixes", "report", "store", "completion"} <= listed
    assert by_verb["review-target-selector"] == "status"


@pytest.mark.parametrize("name", ["review-target-selector", "commonplace-review-target-selector"])
def test_umbrella_runs_a_subcommand_help(tmp_path: Path, name: str) -> None:
    done = run_script("commonplace", [name, "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--fail-on-stale" in done.stdout
    assert "--model" in done.stdout


def test_umbrella_refuses_an_unknown_command(tmp_path: Path) -> None:
    done = run_script("commonplace", ["no-such-command"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "no-such-command" in done.stderr
    bare = run_script("commonplace", [], cwd=tmp_path)
    assert bare.returncode == 2
    assert "review-target-selector" in bare.stdout and "status" in bare.stdout
