#!/usr/bin/env python3
"""What a review sweep costs on top of its reviewer.

On a copy of the corpus (and, with `--kb`, of a synthetic KB from
`generate_kb.py`), `commonplace-review-sweep LENS --runner instant` reviews
the stale pairs of one lens through a command runner that answers at once
(PASS for every requested pair); on the synthetic KB only `--batches` of
them. The same reviewer is then run
directly on each saved prompt, one process after another. The ratio of the
two, and the overhead per batch, say what selecting, creating runs,
rendering, launching, parsing, finalizing and writing artifacts add to a
batch. A dry run of the same sweep (selection and planning, no runs) gives
the fixed cost of the command, so the overhead is also shown per batch
without it. With a real harness a call takes seconds to minutes, so this
overhead should be a small fraction of a second. Prints the measurements;
never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, compile_package, find_command, git_init_commit

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
INSTANT_REVIEWER = """\
import os, sys
prompt = sys.stdin.read()
# the sweep keeps no prompt file per batch: the reviewer saves what it got
name = f"{os.getpid()}-{len(os.listdir(sys.argv[1]))}.md"
with open(os.path.join(sys.argv[1], name), "w") as out:
    out.write(prompt)
requested = prompt.rpartition("\\n## Requested pairs\\n")[2].split("\\n## ", 1)[0]
output = prompt.rpartition("\\n## Output\\n")[2]
token = output.split("Boundary token: `", 1)[1].split("`", 1)[0]
for line in requested.splitlines():
    if line.startswith("- ") and " :: " in line:
        pair = line[2:]
        print(f"=== PAIR REVIEW START {token}: {pair} ===")
        print("### Summary\\nNothing to report.\\n### Findings\\n- none\\n## Result: PASS")
        print(f"=== PAIR REVIEW END {token}: {pair} ===\\n")
"""


def sweep_once(
    sweep: str, source: Path, tmp: str, lens: str, jobs: int, batches: int | None
) -> dict[str, float | int] | None:
    """Copy `source` (without its history), commit it with the instant
    runner configured, then time a dry run and the sweep, and run the
    reviewer alone on every saved prompt."""
    kb = Path(tmp) / "kb"
    shutil.copytree(source, kb, ignore=shutil.ignore_patterns(".git"))
    reviewer = Path(tmp) / "instant-reviewer.py"
    reviewer.write_text(INSTANT_REVIEWER, encoding="utf-8")
    config = kb / "commonplace.toml"
    kept = config.read_text(encoding="utf-8") if config.is_file() else ""
    saved, scratch = Path(tmp) / "prompts", Path(tmp) / "again"
    saved.mkdir()
    scratch.mkdir()
    config.write_text(
        f'{kept}\n[runners.instant]\ncommand = ["{sys.executable}", "{reviewer}", "{saved}"]\n',
        encoding="utf-8",
    )
    git_init_commit(kb)
    argv = [sweep, lens, "--runner", "instant", "--model", "bench", "--jobs", str(jobs)]
    if batches is not None:
        argv += ["--max-batches", str(batches)]

    started = time.perf_counter()
    dry = subprocess.run([*argv, "--dry-run"], cwd=kb, capture_output=True)
    fixed = time.perf_counter() - started
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*argv, "--json"], cwd=kb, capture_output=True)
    swept = time.perf_counter() - started
    swept_cpu = _children_cpu() - cpu
    for proc in (dry, done):
        if proc.returncode != 0:
            print(proc.stderr.decode("utf-8", "replace")[-2000:], file=sys.stderr)
            return None
    report = json.loads(done.stdout)
    prompts = sorted(saved.glob("*.md"))
    cpu = _children_cpu()
    started = time.perf_counter()
    for prompt in prompts:
        subprocess.run(
            [sys.executable, str(reviewer), str(scratch)],
            input=prompt.read_bytes(),
            capture_output=True,
            check=True,
        )
    direct = time.perf_counter() - started
    direct_cpu = _children_cpu() - cpu
    return {
        "batches": len(report["batches"]),
        "completed": report["completed"],
        "failed": report["failed"],
        "swept": swept,
        "fixed": fixed,
        "direct": direct,
        "swept_cpu": swept_cpu,
        "direct_cpu": direct_cpu,
    }


def _children_cpu() -> float:
    """User plus system CPU seconds of the finished children so far (the
    sweep's reviewers count as its children's children: included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def show(label: str, lens: str, jobs: int, m: dict[str, float | int]) -> None:
    batches, swept, fixed, direct = m["batches"], m["swept"], m["fixed"], m["direct"]
    print(
        f"{label}, lens {lens}: {batches} batches, {m['completed']} runs completed,"
        f" {m['failed']} failed, --jobs {jobs}"
    )
    print(f"  review-sweep (whole command): {swept:.3f} s; its dry run: {fixed:.3f} s")
    print(f"  the reviewer alone, run on the {batches} saved prompts: {direct:.3f} s")
    if batches:
        overhead = (swept - direct / jobs) / batches
        steady = (swept - fixed - direct / jobs) / batches
        print(
            f"  -> ratio {swept / direct:.2f}x; overhead per batch {overhead * 1000:.1f} ms,"
            f" {steady * 1000:.1f} ms without the dry run's fixed cost"
        )
        cpu = (m["swept_cpu"] - m["direct_cpu"]) / batches
        print(
            f"  CPU: sweep {m['swept_cpu']:.3f} s, reviewer alone {m['direct_cpu']:.3f} s"
            f" -> {cpu * 1000:.1f} ms of CPU per batch on top of the reviewer"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--lens", default="prose", help="the corpus lens to sweep (default prose)")
    parser.add_argument(
        "--kb", type=Path, help="a synthetic KB (benchmarks/generate_kb.py) to sweep as well"
    )
    parser.add_argument("--kb-lens", default="clarity", help="its lens (default clarity)")
    parser.add_argument(
        "--batches", type=int, default=200, help="batches swept on the synthetic KB (200)"
    )
    parser.add_argument("--no-corpus", action="store_true", help="sweep the synthetic KB only")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not args.no_corpus and not args.corpus.is_dir():
        print(f"error: corpus not found at {args.corpus}", file=sys.stderr)
        return 1
    if args.kb is not None and not (args.kb / "kb").is_dir():
        print(f"error: no synthetic KB at {args.kb} (run generate_kb.py)", file=sys.stderr)
        return 1
    sweep = find_command("commonplace-review-sweep")
    if sweep is None:
        print(
            "error: commonplace-review-sweep not installed (run scripts/setup.sh)", file=sys.stderr
        )
        return 1
    compile_package()
    runs = [] if args.no_corpus else [("corpus", args.corpus, args.lens, None)]
    if args.kb is not None:
        runs.append(("synthetic KB", args.kb, args.kb_lens, args.batches))
    for label, source, lens, batches in runs:
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
            measured = sweep_once(sweep, source, tmp, lens, args.jobs, batches)
        if measured is None:
            return 1
        show(label, lens, args.jobs, measured)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
