#!/usr/bin/env python3
"""What a sweep leaves on disk per reviewed pair: the review store plus the
artifacts under `bundle-reviews/`.

A synthetic KB (benchmarks/generate_kb.py; 340 notes x 40 gates gives about
2,000 batches of one note and one lens) is swept by a command reviewer that
answers at once (PASS with a short rationale for every pair). Printed: the
store's bytes, the artifacts' bytes (by kind) and the total per reviewed
pair, then the same after `review-store prune-artifacts`. The notes are the
same size as the 10,000-note KB's, so the figure per pair is the same; the
count of notes only sets how long the sweep takes. Never fails on size.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO_ROOT, compile_package, find_command, git_init_commit

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


def artifact_bytes(root: Path) -> collections.Counter[str]:
    """Bytes of the files under bundle-reviews/, by kind of file."""
    found: collections.Counter[str] = collections.Counter()
    for folder, _, names in os.walk(root):
        kind = Path(folder).name.rsplit("-", 1)[0]
        for name in names:
            size = os.lstat(os.path.join(folder, name)).st_size
            label = "prompt" if kind == "prompts" or name == "prompt.md" else f"{kind}/{name}"
            if kind == "review-run" and name != "bundle-output.md":
                label = "review-run/<gate>.md"
            found[label] += size
    return found


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def report(label: str, kb: Path, store: Path, pairs: int) -> float:
    files = artifact_bytes(kb / "kb/reports/bundle-reviews")
    db = store_bytes(store)
    total = (db + sum(files.values())) / pairs
    print(
        f"{label}: {total / 1024:.2f} KB per reviewed pair (store {db / pairs / 1024:.2f} KB,"
        f" artifacts {sum(files.values()) / pairs / 1024:.2f} KB)"
    )
    for kind, size in sorted(files.items(), key=lambda item: -item[1]):
        print(f"    {kind}: {size / pairs:.0f} B per pair")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=340, help="notes of the synthetic KB")
    parser.add_argument("--gates", type=int, default=40)
    parser.add_argument("--kb", type=Path, help="sweep a copy of this generated KB instead")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sweep, store_cmd = (
        find_command("commonplace-review-sweep"),
        find_command("commonplace-review-store"),
    )
    if sweep is None or store_cmd is None:
        print(
            "error: the commonplace commands are not installed (scripts/setup.sh)", file=sys.stderr
        )
        return 1
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        kb = Path(tmp) / "kb"
        if args.kb is not None:
            subprocess.run(["cp", "-r", str(args.kb), str(kb)], check=True)
            subprocess.run(["rm", "-rf", str(kb / ".git")], check=True)
        else:
            subprocess.run(
                [sys.executable, str(REPO_ROOT / "benchmarks/generate_kb.py"), str(kb),
                 "--notes", str(args.notes), "--gates", str(args.gates), "--no-git"],
                check=True, capture_output=True,
            )  # fmt: skip
        reviewer = Path(tmp) / "instant-reviewer.py"
        reviewer.write_text(INSTANT_REVIEWER, encoding="utf-8")
        with (kb / "commonplace.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[runners.instant]\ncommand = ["{sys.executable}", "{reviewer}"]\n')
        git_init_commit(kb)
        store = kb / "kb/reports/review-store.sqlite"
        env = dict(os.environ, COMMONPLACE_REVIEW_DB=str(store))
        done = subprocess.run(
            [sweep, "--runner", "instant", "--model", "bench", "--jobs", str(args.jobs), "--json"],
            cwd=kb, env=env, capture_output=True,
        )  # fmt: skip
        if done.returncode != 0:
            print(done.stderr.decode("utf-8", "replace")[-2000:], file=sys.stderr)
            return 1
        swept = json.loads(done.stdout)
        import sqlite3

        with sqlite3.connect(store) as conn:
            (pairs,) = conn.execute("SELECT COUNT(*) FROM gate_reviews").fetchone()
        print(f"{len(swept['batches'])} batches, {swept['completed']} runs, {pairs} reviewed pairs")
        after_sweep = report("after the sweep", kb, store, pairs)
        stats = subprocess.run([store_cmd, "stats", "--json"], cwd=kb, env=env, capture_output=True)
        if stats.returncode == 0:
            figure = json.loads(stats.stdout).get("bytes_per_reviewed_pair")
            print(f"review-store stats: bytes_per_reviewed_pair {figure}")
        pruned = subprocess.run(
            [store_cmd, "prune-artifacts"], cwd=kb, env=env, capture_output=True
        )
        if pruned.returncode == 0:
            report("after prune-artifacts", kb, store, pairs)
        print(f"-> {after_sweep / 1024:.2f} KB per reviewed pair (target <= 2.5 KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
