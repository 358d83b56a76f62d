"""Garbage for every numeric and duration option of every command: the answer
is exit 1 or 2 with an `error:` line (a usage message for argparse's refusals),
never a traceback, an "unexpected error" or exit 3."""

from __future__ import annotations

import contextlib
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.commands import run_script
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, make_git_kb
from hypothesis import given, settings
from hypothesis import strategies as st

from commonplace.cli.app import run
from commonplace.cli.main import COMMANDS

RUNNER = ("--runner", "stand-in", "--model", "demo", "--dry-run")
# (command, the option, what else it needs to get past parsing)
OPTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("finalize-review-run", "--review-run-id", ()),
    (
        "write-gate-review",
        "--review-run-id",
        ("--gate", "clarity/undefined-abbreviation", "--input-file", "out.md"),
    ),
    ("ingest-bundle-output", "--review-run-id", ("--input-file", "out.md")),
    ("ingest-batch-output", "--batch-id", ("--input-file", "out.md")),
    ("ingest-batch-output", "--review-run-ids", ("--input-file", "out.md")),
    ("repair-codex-model-partitions", "--review-run-id", ("--dry-run",)),
    ("reap-stale-runs", "--older-than", ("--dry-run",)),
    ("review-sweep", "--jobs", RUNNER),
    ("review-sweep", "--max-batches", RUNNER),
    ("review-sweep", "--max-cost-usd", RUNNER),
    ("review-sweep", "--timeout", RUNNER),
    ("run-gate-sweep", "--batch-size", ("clarity/undefined-abbreviation", *RUNNER)),
    ("run-gate-sweep", "--timeout", ("clarity/undefined-abbreviation", *RUNNER)),
    ("run-review-bundle", "--timeout", ("kb/notes/frost-dates.md", "clarity", *RUNNER)),
)
GARBAGE = (
    "-1",
    "0",
    str(2**63),
    str(2**64),
    "1e3",
    "nan",
    "inf",
    "",
    " ",
    "١٢",  # Arabic-Indic digits
    "１２",  # full-width digits
    "1_000",
    "0x10",
    "9" * 5000,
    "x" * 100_000,
    "1\n2",
    "\x1b[2J",
)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in GIT_IDENTITY.items():
            patch.setenv(key, value)
        root = make_git_kb(EXAMPLE_KB, base / "kb")
    (root / "out.md").write_text("nothing\n", encoding="utf-8")
    yield root


def _invoke(kb: Path, argv: list[str]) -> tuple[int, str, str]:
    """A command in-process, as its console script runs it."""
    name, *args = argv
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(kb),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = -1
        try:
            code = run(COMMANDS[name], args)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _argv(command: str, option: str, value: str, extra: tuple[str, ...]) -> list[str]:
    # `--opt=value` so that values starting with "-" reach the option's type.
    return [command, *extra, f"{option}={value}"]


def _assert_answered(code: int, out: str, err: str, *, garbage: bool) -> None:
    assert "Traceback" not in out + err, err
    assert "unexpected error" not in err, err
    assert code != 3
    assert code in ((1, 2) if garbage else (0, 1, 2)), (code, err[-500:])
    if code:
        assert any(line.startswith("error: ") for line in err.splitlines()), err[-500:]
    if code == 2:
        assert "usage: " in err


@pytest.mark.parametrize(
    ("command", "option", "extra"), OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS]
)
def test_garbage_values_are_refused(
    kb: Path, command: str, option: str, extra: tuple[str, ...]
) -> None:
    for value in GARBAGE:
        if value == "0" and option == "--older-than":
            continue  # `0` is zero seconds, a duration reaping every run
        code, out, err = _invoke(kb, _argv(command, option, value, extra))
        _assert_answered(code, out, err, garbage=True)
        # The message quotes the value briefly, on one line.
        assert len(err) < 4000 and "\x1b" not in err
    assert not (kb / "kb" / "reports").exists()


@settings(max_examples=60)
@given(
    pick=st.sampled_from(OPTIONS),
    value=st.one_of(
        st.text(max_size=30),
        st.integers().map(str),
        st.floats().map(str),
        st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{0,3})?[smhd]?\Z"),
    ),
)
def test_any_value_gets_an_answer_not_a_crash(
    kb: Path, pick: tuple[str, str, tuple[str, ...]], value: str
) -> None:
    command, option, extra = pick
    if "\x00" in value:
        value = value.replace("\x00", "")
    code, out, err = _invoke(kb, _argv(command, option, value, extra))
    _assert_answered(code, out, err, garbage=False)
    assert not (kb / "kb" / "reports").exists()


@pytest.mark.parametrize("value", ["١٢", str(2**64), "nan", "-1"])
def test_real_processes_refuse_garbage(kb: Path, value: str) -> None:
    procs: list[subprocess.CompletedProcess[str]] = [
        run_script(f"commonplace-{command}", [*extra, f"{option}={value}"], cwd=kb)
        for command, option, extra in OPTIONS[::3]
    ]
    for done in procs:
        _assert_answered(done.returncode, done.stdout, done.stderr, garbage=True)
