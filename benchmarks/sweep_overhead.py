#!/usr/bin/env python3
"""What a review sweep costs on top of its reviewer.

On a copy of the corpus, `commonplace-review-sweep LENS --runner instant`
reviews every stale pair of one lens through a command runner that answers
at once (PASS for every requested pair). The same reviewer is then run
directly on each saved prompt, one process after another. The ratio of the
two, and the overhead per batch, say what selecting, creating runs,
rendering, launching, parsing, finalizing and writing artifacts add to a
batch. With a real harness a call takes seconds to minutes, so this overhead
should be a small fraction of a second. Prints the measurements; never fails
on timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, compile_package, copy_corpus, find_command, git_init_commit

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
INSTANT_REVIEWER = """\
import sys
prompt = sys.stdin.read()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--lens", default="prose", help="the lens to sweep (default prose)")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"error: corpus not found at {args.corpus}", file=sys.stderr)
        return 1
    sweep = find_command("commonplace-review-sweep")
    if sweep is None:
        print(
            "error: commonplace-review-sweep not installed (run scripts/setup.sh)", file=sys.stderr
        )
        return 1
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        kb = copy_corpus(args.corpus, tmp)
        reviewer = Path(tmp) / "instant-reviewer.py"
        reviewer.write_text(INSTANT_REVIEWER, encoding="utf-8")
        config = kb / "commonplace.toml"
        config.write_text(
            f'[runners.instant]\ncommand = ["{sys.executable}", "{reviewer}"]\n', encoding="utf-8"
        )
        subprocess.run(["rm", "-rf", str(kb / ".git")], check=True)
        git_init_commit(kb)

        started = time.perf_counter()
        done = subprocess.run(
            [
                sweep,
                args.lens,
                "--runner",
                "instant",
                "--model",
                "bench",
                "--jobs",
                str(args.jobs),
                "--json",
            ],
            cwd=kb,
            capture_output=True,
        )
        swept = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr.decode("utf-8", "replace")[-2000:], file=sys.stderr)
            return 1
        report = json.loads(done.stdout)
        batches = len(report["batches"])
        prompts = sorted((kb / "kb/reports/bundle-reviews").glob("review-batch-*/prompt.md"))

        started = time.perf_counter()
        for prompt in prompts:
            subprocess.run(
                [sys.executable, str(reviewer)],
                input=prompt.read_bytes(),
                capture_output=True,
                check=True,
            )
        direct = time.perf_counter() - started

    pairs = sum(1 for _ in prompts)  # one prompt per batch
    print(
        f"lens {args.lens}: {batches} batches, {report['completed']} runs completed,"
        f" {report['failed']} failed, --jobs {args.jobs}"
    )
    print(f"review-sweep (whole command): {swept:.3f} s")
    print(f"the reviewer alone, run on the {pairs} saved prompts: {direct:.3f} s")
    if batches:
        overhead = (swept - direct / args.jobs) / batches
        print(f"-> ratio {swept / direct:.2f}x; overhead per batch {overhead * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
