#!/usr/bin/env python3
"""Prompt caching through `anthropic-api`, on a copy of the real corpus.

Target (issue 15): in a lens sweep of 20 notes, at least 0.6 of the input
tokens are served from the cache. The sweep is the real console script
(`commonplace-review-sweep <lens> --note ... --runner anthropic-api`) sending
its requests through the official SDK to the loopback imitation of the
Messages API (tests/helpers/api_imitation.py), which caches what the
requests mark with `cache_control` and counts tokens like a tokenizer
(words, punctuation, whitespace; the system prompt included).
Prints the share, and what the sweep cost at list price with the cache
against the same tokens without it; never fails on the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO_ROOT, compile_package, copy_corpus, find_command

sys.path.insert(0, str(REPO_ROOT / "tests"))
from helpers.api_imitation import FAKE_ANTHROPIC_KEY, ApiImitation

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
SWEEP = "commonplace-review-sweep"
MODEL = "claude-sonnet-4-5"
TARGET = 0.6
# price per million tokens of claude-sonnet-4-5 (src/commonplace/runners/prices.toml)
INPUT, CACHE_WRITE, CACHE_READ, OUTPUT = 3.0, 3.75, 0.3, 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--lens", default="semantic", help='a lens, or "all": every gate')
    parser.add_argument("--notes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    command = find_command(SWEEP)
    if command is None or not args.corpus.is_dir():
        print(f"error: need {SWEEP} and the corpus at {args.corpus}", file=sys.stderr)
        return 1
    compile_package()
    with tempfile.TemporaryDirectory() as tmp, ApiImitation() as api:
        kb = copy_corpus(args.corpus, tmp)
        notes = sorted(
            p for p in (kb / "kb/notes").glob("*.md") if p.read_text("utf-8").startswith("---")
        )
        chosen = [str(p.relative_to(kb)) for p in notes[: args.notes]]
        env = {
            **os.environ,
            "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": api.url,
            "COMMONPLACE_REVIEW_DB": str(Path(tmp) / "store.sqlite"),
        }
        # "all": no gate named, one batch per note with every gate that applies
        scope = ["--group", "note"] if args.lens == "all" else [args.lens]
        argv = [command, *scope, "--note", *chosen, "--runner", "anthropic-api"]
        argv += ["--model", MODEL, "--jobs", str(args.jobs), "--json"]
        done = subprocess.run(
            argv,
            cwd=kb,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        report = json.loads(done.stdout)
        usage = [r.usage for r in api.reviews()]
    uncached = sum(u["input"] for u in usage)
    read = sum(u["cache_read"] for u in usage)
    written = sum(u["cache_write"] for u in usage)
    output = sum(u["output"] for u in usage)
    total = uncached + read + written
    with_cache = (uncached * INPUT + written * CACHE_WRITE + read * CACHE_READ) / 1e6
    with_cache += output * OUTPUT / 1e6
    without = (total * INPUT + output * OUTPUT) / 1e6
    verdict = "met" if read / total >= TARGET else "NOT met"
    print(f"lens sweep: {args.lens}, {len(chosen)} notes, {len(usage)} requests, jobs {args.jobs}")
    print(f"runs completed: {report['completed']}, failed: {report['failed']}")
    print(f"input tokens: {total} (uncached {uncached}, cache write {written}, cache read {read})")
    share = read / total
    print(f"share of input tokens served from cache: {share:.3f} (>= {TARGET}: {verdict})")
    print(
        f"reported cost: ${report['cost_usd']:.4f}; at list price with the cache ${with_cache:.4f},"
        f" without it ${without:.4f} ({with_cache / without:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
