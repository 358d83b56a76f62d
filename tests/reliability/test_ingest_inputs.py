"""Fault: an input file for ingest that is no reviewer output at all.

A FIFO nobody writes to, `/dev/zero`, a directory and a file over the 32 MiB
cap the runners keep: each is refused at once with `error:` (exit 1), never
waited on or read whole, and the runs stay as they were.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import prepare, running_run
from helpers.commands import console_script
from helpers.db import run_states, store_of
from helpers.faults import MODEL, assert_clean_exit, notes_and_gates, pair_args

from commonplace.capped import MAX_OUTPUT


def special_input(kind: str, tmp_path: Path) -> str:
    if kind == "fifo":
        path = tmp_path / "output.fifo"
        os.mkfifo(path)
        return str(path)
    if kind == "dev-zero":
        return "/dev/zero"
    if kind == "directory":
        return str(tmp_path)
    path = tmp_path / "huge.md"  # sparse: no disk is filled to make it
    with open(path, "wb") as handle:
        handle.truncate(MAX_OUTPUT + 1)
    return str(path)


KINDS = ["fifo", "dev-zero", "directory", "over-cap"]
WORDS = {
    "fifo": "a FIFO, not a regular file",
    "dev-zero": "a character device, not a regular file",
    "directory": "a directory, not a regular file",
    "over-cap": "is larger than 32 MiB",
}


def refused_quickly(args: list[str], cwd: Path, stdin: int | None = None) -> str:
    began = time.monotonic()
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=stdin, check=False
    )
    assert time.monotonic() - began < 30  # generous: the point is never waiting forever
    assert_clean_exit(done.returncode, done.stderr, 1)
    assert done.stderr.startswith("error: cannot read ") or "larger than" in done.stderr
    return done.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_ingest_batch_output_refuses(cli, example_kb: Path, tmp_path: Path, kind: str) -> None:
    notes, gates = notes_and_gates(example_kb, 2, 1)
    prepared = prepare(cli, example_kb, *pair_args(notes, gates), model=MODEL)
    before = run_states(store_of(example_kb))
    source = special_input(kind, tmp_path)

    err = refused_quickly(
        [
            console_script("commonplace-ingest-batch-output"),
            *("--batch-id", str(prepared["batch_id"]), "--input-file", source),
        ],
        example_kb,
    )

    assert WORDS[kind] in err, err
    assert run_states(store_of(example_kb)) == before


@pytest.mark.parametrize("kind", KINDS)
def test_ingest_bundle_output_refuses(cli, example_kb: Path, tmp_path: Path, kind: str) -> None:
    run_id = running_run(cli, example_kb)
    source = special_input(kind, tmp_path)

    err = refused_quickly(
        [
            console_script("commonplace-ingest-bundle-output"),
            *("--review-run-id", str(run_id), "--input-file", source),
        ],
        example_kb,
    )

    assert WORDS[kind] in err, err
    assert run_states(store_of(example_kb)) == {run_id: ("running", None)}


def test_endless_stdin_is_cut_at_the_cap(cli, example_kb: Path) -> None:
    run_id = running_run(cli, example_kb)
    with open("/dev/zero", "rb") as zero:
        err = refused_quickly(
            [
                console_script("commonplace-ingest-bundle-output"),
                *("--review-run-id", str(run_id), "--input-file", "-"),
            ],
            example_kb,
            stdin=zero.fileno(),
        )
    assert "error: stdin is larger than 32 MiB" in err
    assert run_states(store_of(example_kb)) == {run_id: ("running", None)}
