#!/usr/bin/env python3
"""Selector on a copy of the real corpus (commonplace-kb).

Target (SPEC section 13): `--all-gates --json` with nothing accepted runs in under
half a second; the earlier implementation took about 14.6 s. Prints the
measurement; never fails on timing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import (
    REPO_ROOT,
    CommandFailed,
    compile_package,
    copy_corpus,
    count_pairs,
    empty_store_env,
    find_command,
    time_command,
)

SELECTOR = "commonplace-review-target-selector"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
TARGET_SECONDS = 0.5
EARLIER_SECONDS = 14.6


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--repeat", type=int, default=5, help="runs, best kept (5)")
    parser.add_argument("--model", default="bench-model", help="model partition (bench-model)")
    args = parser.parse_args(argv)

    selector = find_command(SELECTOR)
    if selector is None:
        print(f"selector/corpus: skipped: {SELECTOR} not found", file=sys.stderr)
        return 1
    if not (args.corpus / "kb").is_dir():
        print(f"selector/corpus: skipped: no corpus at {args.corpus}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        root = copy_corpus(args.corpus, tmp)
        env = empty_store_env(tmp, root)
        try:
            timing = time_command(
                [selector, "--all-gates", "--model", args.model, "--json"],
                repeat=args.repeat,
                cwd=root,
                env=env,
            )
        except CommandFailed as exc:
            print(f"selector/corpus: failed: {exc}", file=sys.stderr)
            return 1

    pairs = count_pairs(timing.stdout)
    speedup = EARLIER_SECONDS / timing.best if timing.best > 0 else float("inf")
    print(f"pairs reported: {'unreadable JSON' if pairs is None else pairs}")
    print(
        f"selector/corpus: {timing.best:.3f} s best of {len(timing.runs)} "
        f"(median {timing.median:.3f} s; target < {TARGET_SECONDS:g} s; "
        f"earlier implementation {EARLIER_SECONDS:g} s, {speedup:.0f}x faster)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
