#!/usr/bin/env python3
"""STAND-IN REVIEWER for the demo and tests. Not an LLM, not a real review.

Two ways to call it, both from the KB root:
  stand-in-reviewer.py NOTE_PATH GATE_FILE   one gate review, as its body text
  stand-in-reviewer.py < prompt.md           a command runner: answers every
                                             pair the prompt requests

Its rule is deterministic and deliberately simple: every word the gate's
`## Test` section puts in backticks is looked for in the note; a hit gives
WARN with the line quoted, no hit gives PASS.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

GATES = Path("kb/instructions/review-gates")


def review(note_text: str, gate_text: str) -> str:
    test = gate_text.split("## Test", 1)[-1].split("\n## ", 1)[0]
    words = {w.lower() for w in re.findall(r"`([A-Za-z][\w-]*)`", test)}
    hits = [
        line.strip()
        for line in note_text.split("\n---", 2)[-1].splitlines()
        if words & {w.lower() for w in re.findall(r"[A-Za-z][\w-]*", line)}
    ]
    findings = "\n".join(f"- WARN: {line[:120]}" for line in hits[:3]) or "- none"
    decision = "WARN" if hits else "PASS"
    return (
        "### Summary\n"
        f"Stand-in review (not an LLM): looked for {', '.join(sorted(words)) or 'nothing'}.\n"
        f"### Findings\n{findings}\n"
        f"## Result: {decision}\n"
    )


def boundary_token(prompt: str) -> str:
    """The batch's token, from the line `Boundary token: `...`` of the prompt's
    last "Output" section; every sentinel must carry it."""
    output = prompt.rpartition("\n## Output\n")[2]
    found = re.search(r"^Boundary token: `([A-Za-z0-9_-]+)`", output, re.MULTILINE)
    if found is None:
        sys.exit("stand-in reviewer: the prompt states no boundary token")
    return found.group(1)


def gate_text(prompt: str, gate: str) -> str:
    """The gate as the prompt shows it (a type or collection gate is not a file
    under the gates folder); the gate file when the prompt lacks it."""
    marker = f"\n### Gate {gate}\n"
    if marker in prompt:
        return prompt.split(marker, 1)[1].split("\n### Gate ", 1)[0].split("\n## Notes\n", 1)[0]
    return (GATES / f"{gate}.md").read_text(encoding="utf-8")


def answer(prompt: str) -> str:
    """One block per line `- NOTE :: GATE` under the prompt's Requested pairs."""
    requested = prompt.rpartition("\n## Requested pairs\n")[2].split("\n## ", 1)[0]
    boundary = boundary_token(prompt)
    blocks = []
    for line in requested.splitlines():
        if line.startswith("- ") and " :: " in line:
            note, gate = line[2:].split(" :: ", 1)
            note_text = Path(note).read_text(encoding="utf-8")
            body = review(note_text, gate_text(prompt, gate))
            pair = f"{note} :: {gate}"
            blocks.append(f"=== PAIR REVIEW START {boundary}: {pair} ===\n{body}")
            blocks.append(f"=== PAIR REVIEW END {boundary}: {pair} ===\n\n")
    return "".join(blocks)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        note, gate = (Path(a).read_text(encoding="utf-8") for a in sys.argv[1:3])
        sys.stdout.write(review(note, gate))
    else:
        sys.stdout.write(answer(sys.stdin.read()))
