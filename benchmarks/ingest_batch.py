#!/usr/bin/env python3
"""Ingesting a clean 400-pair batch output versus `python3 -c pass`.

Target (issue 17): `commonplace-ingest-batch-output` over one batch of
40 corpus notes x 10 gates, process start included, takes at most 10 times the
cold start of a bare interpreter. Each repetition prepares the batch on a fresh
store (not timed), writes a clean output built from the prompt's requested
pairs, then times the ingest (wall clock, and the CPU time of the process).
Prints the measurements; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from _common import (
    GATES_DIR,
    REPO_ROOT,
    CommandFailed,
    compile_package,
    copy_corpus,
    find_command,
    ratio_line,
    review_files,
    time_command,
)

from commonplace.protocol.grammar import block
from commonplace.protocol.prompt import prompt_token, requested_pairs

PREPARE = "commonplace-prepare-review-batch"
INGEST = "commonplace-ingest-batch-output"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
NOTES_DIR = "kb/notes/"
TARGET_RATIO = 10.0
CLEAN_REVIEW = (
    "### Summary\nChecked the note against the gate; the failure mode is absent.\n"
    "### Findings\n- none\n## Result: PASS\n"
)


def unconditional_gates(root: Path, gates: list[str], count: int) -> list[str]:
    """The first `count` gate ids whose frontmatter has no trait or type requirement,
    so that they apply to every note."""
    chosen = []
    for rel in gates:
        text = (root / rel).read_text(encoding="utf-8")
        frontmatter = text.split("\n---", 1)[0] if text.startswith("---") else ""
        if "requires_trait" in frontmatter or "requires-type" in frontmatter:
            continue
        chosen.append(rel.removeprefix(GATES_DIR + "/").removesuffix(".md"))
        if len(chosen) == count:
            break
    return chosen


def prepare(
    command: str, root: Path, env: Mapping[str, str], pairs: list[str], model: str
) -> dict[str, object]:
    argv = [command, *pairs, "--runner", "bench", "--model", model, "--json"]
    proc = subprocess.run(argv, cwd=root, env=dict(env), capture_output=True)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{PREPARE} exited with {proc.returncode}: {' / '.join(tail)}")
    data = json.loads(proc.stdout)
    if not isinstance(data, dict):
        raise CommandFailed(f"{PREPARE} printed no JSON object")
    return data


def create_files(directory: Path, count: int) -> float:
    """Seconds to create `count` small files in directories of ten: the share
    of an ingest that belongs to the filesystem, not to the program."""
    start = time.perf_counter()
    for number in range(count):
        folder = directory / f"d{number // 10}"
        if number % 10 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{number}.md").write_bytes(b"x" * 200)
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of_pass(repeat: int) -> list[float]:
    """CPU seconds of each of `repeat` runs of `python3 -c pass`."""
    spent = []
    for _ in range(repeat):
        before = children_cpu()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        spent.append(children_cpu() - before)
    return spent


def clean_output(root: Path, prepared: Mapping[str, object]) -> tuple[Path, int]:
    """Write one PASS block per requested pair where the prompt says; (path, pairs)."""
    prompt = (root / str(prepared["prompt_path"])).read_bytes().decode("utf-8")
    pairs = requested_pairs(prompt)
    output = root / str(prepared["bundle_output_path"])
    token = prompt_token(prompt)  # the batch's boundary token, as a reviewer reads it
    blocks = "".join(block(pair, CLEAN_REVIEW, token=token) for pair in pairs)
    output.write_text(blocks, encoding="utf-8")
    return output, len(pairs)


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--notes", type=int, default=40, help="notes in the batch (40)")
    parser.add_argument("--gates", type=int, default=10, help="gates per note (10)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions, best kept (5)")
    parser.add_argument("--model", default="bench-model", help="model partition (bench-model)")
    parser.add_argument(
        "--tmp", type=Path, help="where the KB copy goes (default: the system temp dir)"
    )
    args = parser.parse_args(argv)

    prepare_cmd, ingest_cmd = find_command(PREPARE), find_command(INGEST)
    if prepare_cmd is None or ingest_cmd is None:
        missing = PREPARE if prepare_cmd is None else INGEST
        print(f"ingest-batch: skipped: {missing} not found", file=sys.stderr)
        return 1
    if not (args.corpus / "kb").is_dir():
        print(f"ingest-batch: skipped: no corpus at {args.corpus}", file=sys.stderr)
        return 1

    # The baseline is timed next to every ingest, so that both see the same load.
    baseline: list[float] = []
    runs: list[float] = []
    cpu: list[float] = []  # CPU seconds of each ingest, and of the baseline runs
    baseline_cpu: list[float] = []
    completed_runs = 0
    file_costs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cp-bench-", dir=args.tmp) as tmp:
        root = copy_corpus(args.corpus, tmp)
        all_notes, all_gates = review_files(root)
        notes = [n for n in all_notes if n.startswith(NOTES_DIR)][: args.notes]
        gates = unconditional_gates(root, all_gates, args.gates)
        pairs = [f"{note}::{gate}" for note in notes for gate in gates]
        print(f"batch: {len(notes)} notes x {len(gates)} gates = {len(pairs)} pairs")
        print(f"gates: {', '.join(gates)}")
        try:
            for repetition in range(max(1, args.repeat)):
                # Each repetition gets its own reports directory and store, and
                # nothing is deleted between repetitions: the disk's work of
                # freeing a previous run's files would be timed otherwise.
                (root / "commonplace.toml").write_text(
                    f'reports_dir = "kb/reports-{repetition}"\n', encoding="utf-8"
                )
                store = Path(tmp) / f"review-store-{repetition}.sqlite"
                env = dict(os.environ, COMMONPLACE_REVIEW_DB=str(store))
                prepared = prepare(prepare_cmd, root, env, pairs, args.model)
                output, requested = clean_output(root, prepared)
                prepared_runs = prepared["runs"]
                if requested != len(pairs) or not isinstance(prepared_runs, list):
                    raise CommandFailed(f"the prompt requests {requested} pairs, not {len(pairs)}")
                argv = [ingest_cmd, "--batch-id", str(prepared["batch_id"])]
                argv += ["--input-file", str(output), "--json"]
                os.sync()  # settle the writes of the untimed preparation first
                file_costs.append(create_files(Path(tmp) / f"probe-{repetition}", len(pairs)))
                baseline += time_command([sys.executable, "-c", "pass"], repeat=3).runs
                baseline_cpu += cpu_of_pass(3)
                before = children_cpu()
                timing = time_command(argv, repeat=1, cwd=root, env=env)  # raises unless exit 0
                cpu.append(children_cpu() - before)
                report = json.loads(timing.stdout)
                completed, failed = report.get("completed", []), report.get("failed", [])
                if len(completed) != len(prepared_runs) or failed:
                    raise CommandFailed(
                        f"{INGEST}: {len(completed)} of {len(prepared_runs)} runs completed,"
                        f" {len(failed)} failed"
                    )
                runs.append(timing.best)
                completed_runs = len(completed)
        except (CommandFailed, OSError, ValueError, KeyError) as exc:
            print(f"ingest-batch: failed: {exc}", file=sys.stderr)
            return 1

    best, baseline_best = min(runs), min(baseline)
    print(f"python3 -c pass: best {baseline_best:.3f} s of {len(baseline)}, timed between ingests")
    print(f"ingest: exit 0 and {completed_runs} runs completed, none failed, in every repetition")
    print(f"ingest runs: {', '.join(f'{run:.3f}' for run in runs)} s")
    print(f"ingest CPU: {', '.join(f'{spent:.3f}' for spent in cpu)} s")
    print(
        f"filesystem: creating {len(pairs)} small files (what ingest writes, one per pair)"
        f" takes {min(file_costs):.3f} s at best here, {max(file_costs):.3f} s at worst"
    )
    print(
        ratio_line(
            f"ingest-batch/{len(pairs)} pairs (best of {len(runs)})",
            best,
            "python3 -c pass",
            baseline_best,
            f"<= {TARGET_RATIO:g}x",
        )
    )
    print(
        ratio_line(
            f"ingest-batch/{len(pairs)} pairs, CPU time (best of {len(cpu)})",
            min(cpu),
            "python3 -c pass",
            min(baseline_cpu),
            f"<= {TARGET_RATIO:g}x",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
