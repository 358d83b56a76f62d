#!/usr/bin/env python3
"""Dry runs and the selector's steady state on the synthetic 10,000 x 40 KB.

Targets (issue 17): `review-sweep --dry-run` (the summary) in <= 3 s and
<= 250 MB peak memory; `--dry-run --json` measured for size, time and
memory; the selector with every pair accepted and 1% of the notes changed
since in <= 2x `git hash-object --stdin-paths` over all notes and gates, and
with nothing accepted in <= 2.5x. Peak memory is the child's own maximum
resident set (wait4). Prints the figures; never fails on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from _common import (
    CommandFailed,
    compile_package,
    empty_store_env,
    find_command,
    git_init_commit,
    ratio_line,
    review_files,
    time_command,
)
from generate_kb import generate

SWEEP = "commonplace-review-sweep"
SELECTOR = "commonplace-review-target-selector"
DRY_RUN = ["--runner", "anthropic-api", "--model", "claude-sonnet-4-5", "--dry-run"]
SUMMARY_SECONDS, SUMMARY_MB = 3.0, 250
STEADY_RATIO, EMPTY_RATIO = 2.0, 2.5


def measured(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    repeat: int,
    into: Path,
    cpu: list[float] | None = None,
    first: list[float] | None = None,
) -> tuple[float, float, int]:
    """Best wall seconds, the largest peak RSS in MB and the output size in
    bytes of `repeat` runs; the output goes to a file, never into memory.
    The least CPU time (user and system) of a run is added to `cpu`, the
    wall seconds of the first run (the one that fills the caches in the git
    folder) to `first`."""
    best, peak, size, least = float("inf"), 0.0, 0, float("inf")
    for _ in range(max(1, repeat)):
        with into.open("wb") as out:
            started = time.perf_counter()
            child = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.PIPE
            )
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
            err = child.stderr.read() if child.stderr else b""
            child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise CommandFailed(f"{' '.join(argv)} exited with {child.returncode}: {err[-400:]!r}")
        if first is not None and not first:
            first.append(seconds)
        best, peak = min(best, seconds), max(peak, usage.ru_maxrss / 1024)
        least = min(least, usage.ru_utime + usage.ru_stime)
        size = into.stat().st_size
    if cpu is not None:
        cpu.append(least)
    return best, peak, size


def hashing_cost(root: Path, stdin: bytes, repeat: int) -> tuple[float, float]:
    """Best wall seconds and least CPU seconds (user and system, from the
    children's usage) of `git hash-object --stdin-paths` over the files."""
    best, least = float("inf"), float("inf")
    for _ in range(max(1, repeat)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time_command(
            ["git", "hash-object", "--stdin-paths"], repeat=1, cwd=root, stdin=stdin
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best, least = min(best, wall.best), min(least, spent)
    return best, least


def cpu_line(selector_cpu: float, hashing_cpu: float) -> str:
    return f"; CPU {selector_cpu:.3f} s vs {hashing_cpu:.3f} s -> {selector_cpu / hashing_cpu:.1f}x"


def accept_everything(root: Path, env: Mapping[str, str], model: str) -> int:
    """Every applicable pair accepted at the current versions, in one
    transaction, through the same acknowledgement the lifecycle records."""
    os.environ["COMMONPLACE_REVIEW_DB"] = env["COMMONPLACE_REVIEW_DB"]
    from commonplace.kb.notes import note_facts
    from commonplace.services.ack import ack_many
    from commonplace.services.selector import gate_scope, note_scope
    from commonplace.workspace import open_workspace

    ws = open_workspace(cwd=root)
    git = ws.git_state()
    gates = gate_scope(ws, []).gates
    notes = note_scope(ws, git, [], False).notes
    partition = ws.partition(model, None)
    items = ((note, [g for g in gates if g.applies_to(note_facts(note))]) for note in notes)
    return ack_many(ws.store, git, items, model_id=partition.model_id)


def change_notes(root: Path, notes: Sequence[str], share: float) -> int:
    step = max(1, round(1 / share))
    changed = notes[::step]
    for rel in changed:
        with (root / rel).open("a", encoding="utf-8") as handle:
            handle.write("\nA sentence added after the review.\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=B",
            "-c",
            "user.email=b@example.invalid",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "edit 1% of the notes",
        ],
        cwd=root,
        check=True,
    )
    return len(changed)


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, help="a generated KB to copy instead of generating one")
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--gates", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command, best kept (3)")
    parser.add_argument("--model", default="bench-model")
    args = parser.parse_args(argv)
    sweep, selector = find_command(SWEEP), find_command(SELECTOR)
    if sweep is None or selector is None:
        print("dry-run/scale: skipped: the console scripts are not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        root = Path(tmp) / "kb"
        if args.kb is not None:  # a copy: the steady state commits into it
            subprocess.run(["cp", "-r", str(args.kb.resolve()), str(root)], check=True)
            if not (root / ".git").exists():
                git_init_commit(root)
        else:
            generate(root, args.notes, args.gates, 0)
        notes, gates = review_files(root)
        stdin = ("\n".join(notes + gates) + "\n").encode("utf-8")
        env = empty_store_env(tmp, root)
        out = Path(tmp) / "out"
        try:
            hashing, hashing_cpu = hashing_cost(root, stdin, args.repeat)
            print(
                f"files: {len(notes)} notes + {len(gates)} gates; git hash-object {hashing:.3f} s"
                f" ({hashing_cpu:.3f} s CPU)"
            )
            cpu: list[float] = []
            seconds, peak, size = measured(
                [sweep, *DRY_RUN], cwd=root, env=env, repeat=args.repeat, into=out, cpu=cpu
            )
            print(
                f"dry run summary: {seconds:.2f} s ({cpu[0]:.2f} s CPU), {peak:.0f} MB peak,"
                f" {size:,} bytes (target <= {SUMMARY_SECONDS:g} s, <= {SUMMARY_MB} MB)"
            )
            seconds, peak, size = measured(
                [sweep, *DRY_RUN, "--json"], cwd=root, env=env, repeat=1, into=out
            )
            print(f"dry run --json: {seconds:.2f} s, {peak:.0f} MB peak, {size / 1e6:.1f} MB out")
            select = [selector, "--all-gates", "--model", args.model, "--json"]

            def selector_line(
                label: str, ratio: float, hashed: tuple[float, float], cold: str
            ) -> str:
                """The selector timed against `git hash-object` (wall and CPU)."""
                cpu: list[float] = []
                first: list[float] = []
                best, peak, size = measured(
                    select, cwd=root, env=env, repeat=args.repeat, into=out, cpu=cpu, first=first
                )
                return (
                    ratio_line(label, best, "git hash-object", hashed[0], f"<= {ratio:g}x")
                    + cpu_line(cpu[0], hashed[1])
                    + f"; {peak:.0f} MB peak, {size / 1e6:.1f} MB out;"
                    f" first run ({cold}) {first[0]:.3f} s"
                )

            print(
                selector_line(
                    "selector, nothing accepted", EMPTY_RATIO, (hashing, hashing_cpu), "caches cold"
                )
            )
            started = time.perf_counter()
            accepted = accept_everything(root, env, args.model)
            print(f"accepted {accepted:,} pairs in {time.perf_counter() - started:.1f} s")
            changed = change_notes(root, notes, 0.01)
            print(
                selector_line(
                    f"selector, all accepted, {changed} notes changed",
                    STEADY_RATIO,
                    hashing_cost(root, stdin, args.repeat),
                    "acceptance summaries cold",
                )
            )
        except CommandFailed as exc:
            print(f"dry-run/scale: failed: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
