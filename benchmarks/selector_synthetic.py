#!/usr/bin/env python3
"""Selector on a synthetic 10,000 x 40 KB versus `git hash-object --stdin-paths`.

Target (SPEC section 13): the selector with `--all-gates --json`, nothing accepted
yet, takes at most 8 times as long as git hashing exactly the same note and gate
files. Prints the measurements; never fails on timing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import (
    CommandFailed,
    compile_package,
    count_pairs,
    empty_store_env,
    find_command,
    ratio_line,
    review_files,
    time_command,
)
from generate_kb import generate

SELECTOR = "commonplace-review-target-selector"
TARGET_RATIO = 8.0


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, help="reuse an existing KB instead of generating one")
    parser.add_argument("--notes", type=int, default=10_000, help="notes to generate (10000)")
    parser.add_argument("--gates", type=int, default=40, help="gates to generate (40)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (0)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command, best kept (3)")
    parser.add_argument("--model", default="bench-model", help="model partition (bench-model)")
    args = parser.parse_args(argv)

    selector = find_command(SELECTOR)
    if selector is None:
        print(f"selector/synthetic: skipped: {SELECTOR} not found", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        expected: int | None = None
        if args.kb is not None:
            root = args.kb.resolve()
        else:
            root = Path(tmp) / "kb"
            summary = generate(root, args.notes, args.gates, args.seed)
            expected = summary.expected_pairs
            print(
                f"generated {len(summary.note_paths)} notes x {len(summary.gate_paths)} gates "
                f"in {summary.seconds:.2f} s"
            )

        notes, gates = review_files(root)
        stdin = ("\n".join(notes + gates) + "\n").encode("utf-8")
        env = empty_store_env(tmp, root)
        try:
            hashing = time_command(
                ["git", "hash-object", "--stdin-paths"], repeat=args.repeat, cwd=root, stdin=stdin
            )
            selecting = time_command(
                [selector, "--all-gates", "--model", args.model, "--json"],
                repeat=args.repeat,
                cwd=root,
                env=env,
            )
        except CommandFailed as exc:
            print(f"selector/synthetic: failed: {exc}", file=sys.stderr)
            return 1

    hashed = len(hashing.stdout.split())
    print(f"files: {len(notes)} notes + {len(gates)} gates ({hashed} hashed by git)")
    pairs = count_pairs(selecting.stdout)
    wanted = "" if expected is None else f" (expected {expected})"
    print(f"pairs reported: {'unreadable JSON' if pairs is None else pairs}{wanted}")
    print(f"git hash-object: best {hashing.best:.3f} s, median {hashing.median:.3f} s")
    print(f"selector:        best {selecting.best:.3f} s, median {selecting.median:.3f} s")
    print(
        ratio_line(
            "selector/synthetic",
            selecting.best,
            "git hash-object",
            hashing.best,
            f"<= {TARGET_RATIO:g}x",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
