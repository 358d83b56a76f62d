"""Helpers of the fault suite: commands as real processes, the store's state
after a fault, clean outputs for a prepared batch, and a reviewer that
misbehaves on purpose, installed as a `command` runner whose processes carry
an environment marker so that leftovers can be found in /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from commonplace.kb.gates import all_gate_ids, load_gates
from commonplace.kb.notes import scan_notes
from commonplace.protocol.grammar import block
from commonplace.protocol.prompt import requested_pairs
from helpers.cli import Cli
from helpers.commands import console_script, run_script
from helpers.db import rows
from helpers.fake_runners import configure
from helpers.real_cli import live_processes
from helpers.reviews import review
from helpers.store import kb_state

MARKER = "RELIABILITY_MARKER"  # passed to the reviewer through its runner's `env`
FAULTY = "tools/faulty-reviewer.py"
MODEL = "fault-model"

# --- commands as processes -------------------------------------------------------------


def start(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`commonplace-<name> args...` as a running process; output captured as text."""
    return subprocess.Popen(
        [console_script(f"commonplace-{name}"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def assert_clean_exit(code: int, err: str, *codes: int) -> None:
    """An exit in `codes`, and no crash dump: never a traceback or an
    'unexpected error' (our exit 3)."""
    assert code in codes, (code, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    assert "unexpected error" not in err, err[-3000:]


def assert_store_checks(kb: Path, *, cli: Cli | None = None) -> None:
    """`commonplace-review-store check` as a process (in-process through the
    `cli` fixture when given): exit 0, no violation."""
    if cli is not None:
        result = cli("review-store", "check", "--json", cwd=kb)
        code, out, err = result.code, result.out, result.err
    else:
        done = run_script("commonplace-review-store", ["check", "--json"], cwd=kb)
        code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, out + err
    assert json.loads(out)["violations"] == []


# --- batches prepared from a KB --------------------------------------------------------


def notes_and_gates(kb: Path, notes: int, gates: int) -> tuple[list[str], list[str]]:
    """The first `notes` reviewable notes under kb/notes and the first `gates`
    gates that apply to every note (no trait or type requirement)."""
    config, state = kb_state(kb)
    keys = [n.key for n in scan_notes(config, state) if n.key.startswith("kb/notes/")]
    unrouted = [
        g.id
        for g in load_gates(config, all_gate_ids(config))
        if g.requires_traits is None and g.requires_types is None
    ]
    assert len(keys) >= notes and len(unrouted) >= gates, (len(keys), len(unrouted))
    return keys[:notes], unrouted[:gates]


def pair_args(notes: Sequence[str], gates: Sequence[str]) -> list[str]:
    return [f"{note}::{gate}" for note in notes for gate in gates]


def write_clean_output(kb: Path, prepared: dict[str, Any]) -> Path:
    """A PASS block per pair the prompt requests, where the batch says its output goes."""
    path = kb / prepared["bundle_output_path"]
    pairs = requested_pairs((kb / prepared["prompt_path"]).read_text(encoding="utf-8"))
    token = prepared["boundary_token"]
    text = "Reviewed every pair.\n\n" + "\n".join(
        block(p, review("PASS"), token=token) for p in pairs
    )
    path.write_text(text, encoding="utf-8")
    return path


def ingest_argv(prepared: dict[str, Any], output: Path, *extra: str) -> list[str]:
    return [
        console_script("commonplace-ingest-batch-output"),
        *("--batch-id", str(prepared["batch_id"]), "--input-file", str(output)),
        *extra,
    ]


def full_reviews_per_pair(db: Path) -> dict[tuple[str, str], int]:
    found = rows(
        db,
        "SELECT note_path, gate_id, COUNT(*) FROM acceptance_events"
        " WHERE acceptance_kind = 'full-review' GROUP BY note_path, gate_id",
    )
    return {(note, gate): count for note, gate, count in found}


# --- a reviewer that misbehaves ---------------------------------------------------------

_FAULTY_SOURCE = r'''#!/usr/bin/env python3
"""FAULTY REVIEWER for the reliability tests: a command runner that
misbehaves as its first argument says. Not an LLM."""
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

mode, state = sys.argv[1], Path(sys.argv[2])
prompt = sys.stdin.read()
state.mkdir(parents=True, exist_ok=True)


def answers():
    section = prompt.rpartition("\n## Requested pairs\n")[2].split("\n## ", 1)[0]
    keys = [line[2:] for line in section.splitlines() if line.startswith("- ") and " :: " in line]
    output = prompt.rpartition("\n## Output\n")[2]
    token = output.split("Boundary token: `", 1)[1].split("`", 1)[0]
    return "".join(
        f"=== PAIR REVIEW START {token}: {key} ===\n### Summary\nFine.\n\n### Findings\n"
        f"- none\n\n## Result: PASS\n=== PAIR REVIEW END {token}: {key} ===\n\n"
        for key in keys
    )


if mode == "hang":  # with a child of its own, in its process group, that hangs too
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
(state / f"started-{os.getpid()}").write_text(mode)
if mode == "hang":
    time.sleep(600)
elif mode in ("sigkill", "sigsegv"):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file in the KB
    sys.stdout.write("Reviewing the note...\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL if mode == "sigkill" else signal.SIGSEGV)
elif mode == "exit-after-answering":
    sys.stdout.write(answers())
    sys.stdout.flush()
    sys.stderr.write("reviewer: lost the connection after answering\n")
    sys.exit(3)
elif mode == "enormous":  # 1 MiB at a time, until stopped
    chunk = "x" * (1024 * 1024 - 1) + "\n"
    while True:
        sys.stdout.write(chunk)
elif mode == "usage-limit":
    sys.stderr.write("reviewer: monthly quota exhausted\n")
    sys.exit(75)
'''


def add_faulty_runner(kb: Path, mode: str, state: Path, *, program: str | None = None) -> str:
    """`[runners.<mode>]` running the faulty reviewer in `mode` (or `program`
    instead of Python), with the marker variable passed through; committed.
    Returns the runner name."""
    (kb / "tools").mkdir(exist_ok=True)
    (kb / FAULTY).write_text(_FAULTY_SOURCE, encoding="utf-8")
    (kb / FAULTY).chmod(0o755)
    command = [program] if program else [sys.executable, FAULTY, mode, str(state)]
    settings = {"command": command, "env": [MARKER], "timeout": 60}
    configure(kb, {f"runners.{mode}": settings})
    return mode


def marker_env(tmp_path: Path) -> dict[str, str]:
    """An environment entry no other process has: everything a command starts carries it."""
    return {MARKER: str(tmp_path)}


def leftovers(env: dict[str, str], within: float = 5.0) -> list[tuple[int, str, str]]:
    """Live processes carrying the marker of `env`, waiting up to `within`
    seconds for those just killed to be gone (a safety net, not a timing assertion)."""
    return live_processes(f"{MARKER}={env[MARKER]}", within=within)


def reviewers_started(state: Path) -> int:
    return len(list(state.glob("started-*"))) if state.exists() else 0
