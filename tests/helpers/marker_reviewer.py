"""A deterministic command reviewer for the calibration tests, and a small KB
with gates and labelled examples for it.

The reviewer (a real child process, not an LLM) reads the prompt's requested
pairs and answers each from the note file it names (read from the KB root,
its working directory): FAIL when the text holds `MARKER-FAIL`, WARN when it
holds `MARKER-WARN`, and a planted false alarm (WARN) when it holds `DECOY`;
PASS otherwise. With `--flip`, every even call turns the decision of notes
holding `FLAKY` (PASS <-> FAIL). Each call appends one line to
`<state>/calls.jsonl`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers.fake_runners import _COMMON, configure
from helpers.kb import git

SCRIPT = "tools/marker-reviewer.py"

_SOURCE = (
    _COMMON
    + r"""

def decide(text, flip):
    if "MARKER-FAIL" in text:
        found = "FAIL"
    elif "MARKER-WARN" in text or "DECOY" in text:
        found = "WARN"
    else:
        found = "PASS"
    if flip and "FLAKY" in text:
        found = {"PASS": "FAIL", "FAIL": "PASS"}.get(found, found)
    return found


def main():
    if "--version" in sys.argv:
        print("marker-reviewer 1")
        return
    state = Path(sys.argv[sys.argv.index("--state") + 1])
    number = claim(state)
    prompt = sys.stdin.read()
    pairs = requested(prompt)
    flip = "--flip" in sys.argv and number % 2 == 0
    out = []
    sep = mark(prompt)
    for note, gate in pairs:
        decision = decide(Path(note).read_text(encoding="utf-8"), flip)
        key = f"{note} :: {gate}"
        out.append(
            f"=== PAIR REVIEW START{sep} {key} ===\n{body(note, gate, decision)}"
            f"=== PAIR REVIEW END{sep} {key} ===\n\n"
        )
    sys.stdout.write("".join(out))
    log(state, {"call": number, "pairs": [f"{n} :: {g}" for n, g in pairs]})


main()
"""
)

GATE = """---
description: {what}
---

# {title}

PASS when the note is fine; FAIL when it is not.
"""


def decide(text: str) -> str:
    """The reviewer's rule, written again here for the tests' expected figures."""
    if "MARKER-FAIL" in text:
        return "fail"
    if "MARKER-WARN" in text or "DECOY" in text:
        return "warn"
    return "pass"


def example(expected: str, body: str) -> str:
    return f"---\nexpected: {expected}\nwhy: a test case\n---\n\n# Example\n\n{body}\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_kb(root: Path, state: Path, examples: dict[str, dict[str, str]], *flags: str) -> Path:
    """A git KB with one note, the gates `t/<name>` and their examples
    (`{gate name: {example name: file text}}`), and `[runners.marker]`."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    write(root / "commonplace.toml", 'scan_roots = ["kb/notes"]\n')
    write(root / "kb/notes/real.md", "---\ntitle: Real\n---\n\n# Real\n\nMARKER-FAIL here.\n")
    gates = root / "kb/instructions/review-gates/t"
    for gate, cases in examples.items():
        write(gates / f"{gate}.md", GATE.format(what=f"gate {gate}", title=gate))
        for name, text in cases.items():
            write(gates / f"{gate}.examples" / f"{name}.md", text)
    (root / "tools").mkdir()
    (root / SCRIPT).write_text(_SOURCE, encoding="utf-8")
    command = [sys.executable, SCRIPT, "--state", str(state), *flags]
    configure(root, {"runners.marker": {"command": command}}, commit=False)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "kb")
    return root


def calls(state: Path) -> list[dict[str, object]]:
    """The calls that reviewed pairs, in order."""
    path = state / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
