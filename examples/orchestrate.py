#!/usr/bin/env python3
"""An example external orchestrator: select -> prepare -> execute -> ingest.

This is the shape of a harness script that fans review batches out to
sub-agents (docs/orchestrating.md). It only calls the console scripts, never
the library:

1. `commonplace-review-target-selector --all-gates --model M --json` lists the
   stale (note, gate) pairs of the KB (found from the current directory, or
   --kb PATH);
2. the pairs are grouped by gate, up to --batch-size notes per batch, and
   `commonplace-prepare-review-batch NOTE::GATE... --json` creates each batch
   and writes its prompt.md;
3. an executor per batch, up to --jobs at once, writes the batch's
   bundle-output.md. HERE THE EXECUTOR IS A STAND-IN, NOT A REVIEWER: it reads
   the prompt's "Requested pairs" and asks examples/example-kb/tools/stand-in-reviewer.py (a
   deterministic script, not an LLM) for each pair. A real orchestrator hands
   prompt.md to an agent instead;
4. `commonplace-ingest-batch-output --batch-id B --input-file F --json`
   finalizes each batch's runs with the salvage policy.

It prints a summary and exits 1 if any run failed or a command failed. The
stand-in's reviews are stored and accepted like real ones: run it on a copy of
a KB (the tests use examples/example-kb), not on one whose reviews matter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
STAND_IN_REVIEWER = HERE / "example-kb" / "tools" / "stand-in-reviewer.py"
EXECUTOR_LABEL = "stand-in-orchestrator"  # stored as the batch's executor and the runs' runner
SEPARATOR = " :: "
_print_lock = threading.Lock()


class CommandError(RuntimeError):
    """A console script failed in a way the orchestrator cannot handle."""


@dataclass(frozen=True)
class Batch:
    batch_id: int
    gate_id: str
    run_ids: tuple[int, ...]
    prompt_path: str  # KB-relative, as the commands report paths
    bundle_output_path: str
    boundary_token: str  # what every sentinel of the output must carry


@dataclass(frozen=True)
class Outcome:
    batch: Batch
    completed: tuple[int, ...]
    failed: tuple[tuple[int, str], ...]
    error: str | None = None  # the batch could not be executed or ingested


def say(message: str) -> None:
    with _print_lock:
        print(message, flush=True)


def command(*argv: str, kb: Path, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run a console script (the one next to this Python first, then PATH) in the KB."""
    exe = BIN / argv[0] if (BIN / argv[0]).exists() else argv[0]
    try:
        done = subprocess.run(
            [str(exe), *argv[1:]], cwd=kb, text=True, capture_output=True, check=False
        )
    except OSError as exc:
        raise CommandError(f"{argv[0]}: {exc}") from None
    if done.returncode not in ok:
        detail = done.stderr.strip() or done.stdout.strip()
        raise CommandError(f"{argv[0]} exited {done.returncode}: {detail}")
    return done


def find_kb_root(start: Path) -> Path:
    """The KB root as the commands find it, so that the KB-relative paths they
    report resolve: the nearest directory at or above `start` with
    commonplace.toml, a pyproject.toml with [tool.commonplace], or .git."""
    for directory in (start, *start.parents):
        if (directory / "commonplace.toml").is_file():
            return directory
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
            if isinstance(tool.get("commonplace"), dict):
                return directory
        if (directory / ".git").exists():
            return directory
    return start


def select(kb: Path, model: str) -> list[dict[str, str]]:
    argv = ("commonplace-review-target-selector", "--all-gates", "--model", model, "--json")
    return json.loads(command(*argv, kb=kb).stdout)


def group_by_gate(pairs: list[dict[str, str]], batch_size: int) -> list[tuple[str, list[str]]]:
    """(gate, notes) groups: one gate, distinct notes, at most batch_size notes each."""
    by_gate: dict[str, list[str]] = {}
    for pair in pairs:
        by_gate.setdefault(pair["gate_id"], []).append(pair["note_path"])
    return [
        (gate, notes[start : start + batch_size])
        for gate, notes in by_gate.items()
        for start in range(0, len(notes), batch_size)
    ]


def prepare(kb: Path, gate: str, notes: list[str], model: str, runner: str) -> Batch:
    pairs = [f"{note}::{gate}" for note in notes]
    argv = ["commonplace-prepare-review-batch", *pairs, "--runner", runner, "--model", model]
    data = json.loads(command(*argv, "--json", kb=kb).stdout)
    for skipped in data["skipped"]:
        say(f"  skipped {skipped['note_path']} :: {skipped['gate_id']}: {skipped['reason']}")
    return Batch(
        batch_id=data["batch_id"],
        gate_id=gate,
        run_ids=tuple(run["review_run_id"] for run in data["runs"]),
        prompt_path=data["prompt_path"],
        bundle_output_path=data["bundle_output_path"],
        boundary_token=data["boundary_token"],
    )


def requested_pairs(prompt: str) -> list[tuple[str, str]]:
    """The `- <note_path> :: <gate_id>` lines under the prompt's last "Requested pairs"."""
    _, found, rest = prompt.rpartition("\n## Requested pairs\n")
    pairs = []
    for line in rest.split("\n## ", 1)[0].splitlines() if found else []:
        if line.startswith("- ") and SEPARATOR in line:
            note, _, gate = line[2:].partition(SEPARATOR)
            pairs.append((note, gate))
    return pairs


def stand_in_executor(kb: Path, batch: Batch, gates_dir: str) -> None:
    """STAND-IN for an agent: writes bundle-output.md from the deterministic
    stand-in reviewer, one block per requested pair. Not a real review."""
    prompt = (kb / batch.prompt_path).read_text(encoding="utf-8")
    token = batch.boundary_token  # every sentinel carries the batch's token
    blocks = []
    for note, gate in requested_pairs(prompt):
        gate_file = f"{gates_dir}/{gate}.md"
        marker = f"\n### Gate {gate}\n"
        with tempfile.TemporaryDirectory() as scratch:
            if gate.startswith(("type/", "collection/")) and marker in prompt:
                # A type or collection gate has no file under the gates folder:
                # the reviewer reads it as the prompt shows it.
                shown = prompt.split(marker, 1)[1].split("\n### Gate ", 1)[0]
                gate_file = str(Path(scratch) / "gate.md")
                Path(gate_file).write_text(shown.split("\n## Notes\n", 1)[0], encoding="utf-8")
            argv = [sys.executable, str(STAND_IN_REVIEWER), note, gate_file]
            done = subprocess.run(argv, cwd=kb, text=True, capture_output=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise CommandError(f"stand-in reviewer failed on {note} :: {gate}: {last}")
        blocks.append(
            f"=== PAIR REVIEW START {token}: {note}{SEPARATOR}{gate} ===\n"
            f"{done.stdout.rstrip()}\n"
            f"=== PAIR REVIEW END {token}: {note}{SEPARATOR}{gate} ===\n"
        )
    (kb / batch.bundle_output_path).write_text("\n".join(blocks), encoding="utf-8")


def ingest(kb: Path, batch: Batch) -> Outcome:
    """Exit 0: every run completed; exit 1 with a report: some runs failed."""
    argv = ["commonplace-ingest-batch-output", "--batch-id", str(batch.batch_id)]
    done = command(*argv, "--input-file", batch.bundle_output_path, "--json", kb=kb, ok=(0, 1))
    report = json.loads(done.stdout)
    if "error" in report:  # the command refused (unreadable input, unknown batch)
        return Outcome(batch, (), (), error=report["error"])
    failed = tuple((f["review_run_id"], f["reason"]) for f in report["failed"])
    return Outcome(batch, tuple(report["completed"]), failed)


def execute_and_ingest(kb: Path, batch: Batch, gates_dir: str) -> Outcome:
    try:
        stand_in_executor(kb, batch, gates_dir)
        outcome = ingest(kb, batch)
    except (CommandError, OSError, ValueError) as exc:
        outcome = Outcome(batch, (), (), error=str(exc))
    detail = outcome.error or f"{len(outcome.completed)} completed, {len(outcome.failed)} failed"
    notes = f"{len(batch.run_ids)} note(s)"
    say(f"  batch {batch.batch_id} ({batch.gate_id}, {notes}): {detail}")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, default=Path.cwd(), help="KB (current directory)")
    parser.add_argument("--model", default="demo", help="model partition (demo)")
    parser.add_argument("--batch-size", type=int, default=4, help="notes per batch (4)")
    parser.add_argument("--jobs", type=int, default=4, help="executors at once (4)")
    parser.add_argument("--runner", default=EXECUTOR_LABEL, help=f"label ({EXECUTOR_LABEL})")
    parser.add_argument(
        "--gates-dir",
        default="kb/instructions/review-gates",
        help="where the stand-in finds <gate_id>.md (kb/instructions/review-gates)",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.jobs < 1:
        parser.error("--batch-size and --jobs must be at least 1")
    kb = find_kb_root(args.kb.resolve())

    try:
        stale = select(kb, args.model)
    except (CommandError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    say(f"1. selector: {len(stale)} stale pair(s) for model {args.model}")
    dirty = [p for p in stale if p["reason"] == "gate-dirty"]
    for pair in dirty:  # prepare refuses dirty gates: commit them first
        say(f"  not reviewed (gate-dirty): {pair['note_path']} :: {pair['gate_id']}")
    groups = group_by_gate([p for p in stale if p["reason"] != "gate-dirty"], args.batch_size)
    say(f"2. prepare: {len(groups)} batch(es) of up to {args.batch_size} notes, one gate each")
    batches: list[Batch] = []
    unprepared = 0
    for gate, notes in groups:
        try:
            batches.append(prepare(kb, gate, notes, args.model, args.runner))
        except (CommandError, ValueError, KeyError) as exc:  # the other groups go on
            print(f"error: {exc}", file=sys.stderr)
            unprepared += 1

    say(f"3. execute (STAND-IN executor, not an LLM) and ingest, {args.jobs} at once")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda b: execute_and_ingest(kb, b, args.gates_dir), batches))

    completed = sum(len(o.completed) for o in outcomes)
    failed = [(run_id, reason) for o in outcomes for run_id, reason in o.failed]
    errors = [o for o in outcomes if o.error is not None]
    say(
        f"summary: {len(batches)} batch(es), {completed} run(s) completed,"
        f" {len(failed)} failed, {len(errors) + unprepared} batch error(s)"
    )
    for run_id, reason in failed:
        print(f"error: review run {run_id} failed: {reason}", file=sys.stderr)
    for outcome in errors:
        print(f"error: batch {outcome.batch.batch_id}: {outcome.error}", file=sys.stderr)
    if errors:  # nothing finalized their runs: ingest an output later, or reap them
        print("their runs stay running (see commonplace-reap-stale-runs)", file=sys.stderr)
    return 1 if failed or errors or unprepared else 0


if __name__ == "__main__":
    sys.exit(main())
