#!/usr/bin/env python3
"""STAND-IN REVIEWER for the demo and tests. Not an LLM, not a real review.

Usage: stand-in-reviewer.py NOTE_PATH GATE_FILE  (run from the KB root)

It prints one gate review in the pair grammar's body format. Its rule is
deterministic and deliberately simple: every word the gate's `## Test`
section puts in backticks is looked for in the note; a hit gives WARN with
the line quoted, no hit gives PASS.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


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


if __name__ == "__main__":
    note, gate = (Path(a).read_text(encoding="utf-8") for a in sys.argv[1:3])
    sys.stdout.write(review(note, gate))
