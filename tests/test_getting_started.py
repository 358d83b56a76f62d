"""What a new user does, from a fresh virtualenv: install the project, `init`
a new git KB, add a note and a gate, `doctor`, `status`, `review` with the
stand-in runner, `show` the note, `fixes`; then `doctor` on KBs that each
carry one misconfiguration, through the installed `commonplace` command.

Installing needs the package registry (for PyYAML and the build backend):
without it the test skips, except under CI=true where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.kb import EXAMPLE_KB, REPO, commit_all, git

NOTE = """---
description: When the last spring frost falls in our valley, and how we know.
type: note
---
# The last frost falls in early May

Our records from six springs put the last frost between April 28 and May 9.
We plant tomatoes out after May 10.
"""
# A gate of the user's own; the stand-in reviewer warns when a word the
# `## Test` section puts in backticks occurs in the note.
GATE = """---
description: A date is given without the years it was observed in.
watches: [body]
---
# Dates need their years

## Failure mode

A date range with no years cannot be checked against new records.

## Test

WARN when the note gives a `May` date without naming the years observed.

## Suggested revision

Name the years.
"""
STAND_IN_RUNNER = """
# Our stand-in reviewer (a few deterministic lines, not an LLM) for this test.
[runners.stand-in]
command = ["python3", "tools/stand-in-reviewer.py"]
timeout = 60
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin folder of a fresh virtualenv with the project installed from
    a copy of the working tree (what `pip install <path>` does)."""
    where = tmp_path_factory.mktemp("fresh")
    source = where / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".venv", ".cache", ".git", "__pycache__", "*.egg-info"),
    )
    env_dir = where / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    pip = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")},
    )
    if pip.returncode != 0:
        reason = "pip could not install the project (no package registry?): " + pip.stderr[-400:]
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield bin_dir


def commonplace(
    bin_dir: Path, kb: Path, *args: str, expect: int | None = 0
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMMONPLACE_", "VIRTUAL_ENV")) and k != "PYTHONPATH"
    }
    # The installed command, and a PATH on which only the fresh env's
    # scripts (and the system's git and python3) are found.
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    done = subprocess.run(
        [str(bin_dir / "commonplace"), *args],
        cwd=kb,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if expect is not None:
        assert done.returncode == expect, (args, done.stdout, done.stderr)
    return done


def new_kb(tmp_path: Path, bin_dir: Path) -> Path:
    """A new git KB as a user starts one: a note, `init`, then a gate."""
    kb = tmp_path / "garden"
    (kb / "kb" / "notes").mkdir(parents=True)
    (kb / "kb" / "notes" / "last-frost.md").write_text(NOTE, encoding="utf-8")
    git(kb, "init", "-q")
    commit_all(kb, "a first note")
    done = commonplace(bin_dir, kb, "init", "--example-gates")
    assert "commonplace.toml" in done.stdout
    toml = kb / "commonplace.toml"
    assert "kb/notes" in toml.read_text(encoding="utf-8")
    gates = kb / "kb" / "instructions" / "review-gates"
    (gates / "dates").mkdir(parents=True)
    (gates / "dates" / "years-named.md").write_text(GATE, encoding="utf-8")
    (kb / "tools").mkdir()
    shutil.copy(EXAMPLE_KB / "tools" / "stand-in-reviewer.py", kb / "tools")
    with toml.open("a", encoding="utf-8") as out:
        out.write(STAND_IN_RUNNER)
    commit_all(kb, "commonplace init, a gate and a stand-in reviewer")
    return kb


def test_a_new_user_goes_from_install_to_the_fix_queue(installed: Path, tmp_path: Path) -> None:
    version = commonplace(installed, tmp_path, "--version")
    assert version.stdout.startswith("commonplace-review ")
    kb = new_kb(tmp_path, installed)

    doctor = commonplace(installed, kb, "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert report["ok"] is True and report["problems"] == 0, report

    status = json.loads(commonplace(installed, kb, "status", "--model", "m1", "--json").stdout)
    stale = {(p["note_path"], p["gate_id"]) for p in status if "gate_id" in p}
    assert ("kb/notes/last-frost.md", "dates/years-named") in stale
    assert ("kb/notes/last-frost.md", "starter/claim-supported") in stale

    commonplace(installed, kb, "review", "--runner", "stand-in", "--model", "m1")
    after = json.loads(commonplace(installed, kb, "status", "--model", "m1", "--json").stdout)
    assert after == []

    show = json.loads(commonplace(installed, kb, "show", "kb/notes/last-frost.md", "--json").stdout)
    gates = {
        g["gate_id"]: g for p in show["partitions"] for g in p["gates"] if p["model_id"] == "m1"
    }
    assert gates["dates/years-named"]["decision"] == "warn"
    assert gates["dates/years-named"]["staleness"] == "fresh"

    fixes = commonplace(installed, kb, "fixes", "--model", "m1")
    assert "dates/years-named" in fixes.stdout and "kb/notes/last-frost.md" in fixes.stdout
    failing = commonplace(installed, kb, "fixes", "--model", "m1", "--fail-on", "warn", expect=1)
    assert "dates/years-named" in failing.stdout


def _unknown_default(kb: Path) -> str:
    toml = kb / "commonplace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("[defaults]", "[defaults]\nmodle = 'm1'", 1)
        if "[defaults]" in toml.read_text(encoding="utf-8")
        else toml.read_text(encoding="utf-8") + "\n[defaults]\nmodle = 'm1'\n",
        encoding="utf-8",
    )
    return "modle"


def _empty_scan_root(kb: Path) -> str:
    text = (kb / "commonplace.toml").read_text(encoding="utf-8")
    (kb / "commonplace.toml").write_text(
        text.replace('"kb/notes"', '"kb/notes", "kb/empty"', 1), encoding="utf-8"
    )
    (kb / "kb" / "empty").mkdir()
    return "kb/empty"


def _gate_no_note_can_use(kb: Path) -> str:
    gate = kb / "kb" / "instructions" / "review-gates" / "dates" / "for-recipes.md"
    gate.write_text(GATE.replace("watches:", "requires_trait: recipe\nwatches:"), "utf-8")
    commit_all(kb, "a gate for recipes")
    return "dates/for-recipes"


def _misspelled_key(kb: Path) -> str:
    gate = kb / "kb" / "instructions" / "review-gates" / "dates" / "years-named.md"
    gate.write_text(GATE.replace("watches:", "requires_trais: recipe\nwatches:"), "utf-8")
    commit_all(kb, "a misspelled key")
    return "requires_trait"


def _dirty_gate(kb: Path) -> str:
    gate = kb / "kb" / "instructions" / "review-gates" / "dates" / "years-named.md"
    gate.write_text(GATE + "\nMore.\n", encoding="utf-8")
    return "dates/years-named"


def _missing_program(kb: Path) -> str:
    text = (kb / "commonplace.toml").read_text(encoding="utf-8")
    (kb / "commonplace.toml").write_text(
        text.replace(
            'command = ["python3", "tools/stand-in-reviewer.py"]',
            'command = ["no-such-reviewer-program", "tools/stand-in-reviewer.py"]',
        ),
        encoding="utf-8",
    )
    return "no-such-reviewer-program"


@pytest.mark.parametrize(
    "spoil",
    [
        _unknown_default,
        _empty_scan_root,
        _gate_no_note_can_use,
        _misspelled_key,
        _dirty_gate,
        _missing_program,
    ],
)
def test_doctor_reports_each_misconfiguration(
    installed: Path, tmp_path: Path, spoil: object
) -> None:
    kb = new_kb(tmp_path, installed)
    assert callable(spoil)
    named = spoil(kb)
    doctor = commonplace(installed, kb, "doctor", "--json", expect=None)
    report = json.loads(doctor.stdout)
    flagged = [f for f in report["findings"] if f["severity"] != "ok"]
    assert any(named in f["message"] or named in (f["fix"] or "") for f in flagged), flagged
    if doctor.returncode == 0:  # only the informational kinds may leave it clean
        assert all(f["severity"] == "warning" for f in flagged), flagged
