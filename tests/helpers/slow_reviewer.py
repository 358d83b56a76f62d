#!/usr/bin/env python3
"""SLOW REVIEWER for the team-sweep tests and benchmark: a command runner, not an LLM.

    python slow_reviewer.py --sleep 0.3 [--log FILE] < prompt.md

Like the example KB's stand-in reviewer it answers every pair the prompt
requests, with the batch's boundary token, after sleeping `--sleep` seconds
(a reviewer that takes time, so sweeps of several machines overlap). The
decision of a pair is PASS, WARN or FAIL, fixed by a hash of the pair, so
every pair gets a real decision and reruns give the same one. With `--log`,
each call appends one JSON line (pid, the pairs it answered) to FILE, so a
test can count how often each pair was asked for across machines.

Standard library only: the benchmark runs it too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

DECISIONS = ("PASS", "WARN", "FAIL")


def requested(prompt: str) -> list[tuple[str, str]]:
    """(note, gate) of each line `- NOTE :: GATE` under "## Requested pairs"."""
    section = prompt.rpartition("\n## Requested pairs\n")[2].split("\n## ", 1)[0]
    pairs = []
    for line in section.splitlines():
        if line.startswith("- ") and " :: " in line:
            note, gate = line[2:].split(" :: ", 1)
            pairs.append((note, gate))
    return pairs


def boundary_token(prompt: str) -> str:
    for line in prompt.rpartition("\n## Output\n")[2].splitlines():
        if line.startswith("Boundary token: `"):
            return line[len("Boundary token: `") :].partition("`")[0]
    sys.exit("slow reviewer: the prompt states no boundary token")


def decision(note: str, gate: str) -> str:
    digest = hashlib.sha256(f"{note} :: {gate}".encode()).digest()
    return DECISIONS[digest[0] % len(DECISIONS)]


def answer(prompt: str) -> str:
    token = boundary_token(prompt)
    blocks = []
    for note, gate in requested(prompt):
        pair, result = f"{note} :: {gate}", decision(note, gate)
        finding = "- none" if result == "PASS" else f"- {result}: a slow reviewer's finding."
        blocks.append(
            f"=== PAIR REVIEW START {token}: {pair} ===\n"
            f"### Summary\nSlow review (not an LLM).\n### Findings\n{finding}\n"
            f"## Result: {result}\n"
            f"=== PAIR REVIEW END {token}: {pair} ===\n\n"
        )
    return "".join(blocks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sleep", type=float, default=0.3)
    parser.add_argument("--log")
    args = parser.parse_args()
    prompt = sys.stdin.read()
    time.sleep(args.sleep)
    sys.stdout.write(answer(prompt))
    sys.stdout.flush()
    if args.log:
        line = json.dumps({"pid": os.getpid(), "pairs": requested(prompt)}) + "\n"
        fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one write: lines of racing calls never interleave
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
