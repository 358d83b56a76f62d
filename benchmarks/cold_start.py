#!/usr/bin/env python3
"""Cold start of the commands (`--help`) versus `python -c pass`.

Target (SPEC section 13): at most 4 times the start-up of a bare interpreter.
Prints the measurements; never fails on timing.
"""

from __future__ import annotations

import argparse
import sys

from _common import CommandFailed, compile_package, find_command, ratio_line, time_command

# A seed console script each, the umbrella's own help (its verb table), and
# a short verb; "commonplace status" is a script and its arguments.
COMMANDS = [
    "commonplace-review-target-selector",
    "commonplace-create-review-run",
    "commonplace",
    "commonplace status",
]
TARGET_RATIO = 4.0


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per command, best kept (10)")
    parser.add_argument(
        "commands",
        nargs="*",
        default=COMMANDS,
        help="console scripts to time, each with its arguments before --help"
        " (default: two seed scripts, commonplace, commonplace status)",
    )
    args = parser.parse_args(argv)

    baseline = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
    print(f"python -c pass: best {baseline.best:.3f} s, median {baseline.median:.3f} s")
    status = 0
    for name in args.commands:
        script, *words = name.split()
        path = find_command(script)
        if path is None:
            print(f"cold-start/{name}: skipped: not found", file=sys.stderr)
            status = 1
            continue
        try:
            timing = time_command([path, *words, "--help"], repeat=args.repeat)
        except CommandFailed as exc:
            print(f"cold-start/{name}: failed: {exc}", file=sys.stderr)
            status = 1
            continue
        print(
            ratio_line(
                f"cold-start/{name} --help",
                timing.best,
                "python -c pass",
                baseline.best,
                f"<= {TARGET_RATIO:g}x",
            )
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
