#!/usr/bin/env python3
"""The README's main job on the bundled example KB, with no account or network.

It copies examples/example-kb into a temporary git repository, asks the
selector what is stale, reviews every stale pair with `commonplace-review-sweep`
through the KB's `stand-in` command runner (a STAND-IN REVIEWER: a few
deterministic lines, not an LLM), shows that nothing is stale any more, edits
a note to show staleness with its diff, reviews just that again, and reports
what the store holds: its counts, the fix queue and an HTML report. Every
step is a real command, printed first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MODEL = "demo"


def sh(*argv: str, cwd: Path, stdin: str | None = None, show: bool = True) -> str:
    """Run a command, echo it and its output, stop the demo if it fails."""
    if show:
        print(f"\n$ {' '.join(argv)}")
    exe = BIN / argv[0] if (BIN / argv[0]).exists() else argv[0]
    done = subprocess.run(
        [str(exe), *argv[1:]], cwd=cwd, input=stdin, text=True, capture_output=True, check=False
    )
    if show and argv[-1] != "--json":
        sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"demo stopped: {argv[0]} exited {done.returncode}")
    return done.stdout


def stale_pairs(kb: Path, *, show: bool) -> list[dict[str, str]]:
    """The selector's JSON answer for every gate of the demo partition."""
    argv = ("commonplace-review-target-selector", "--all-gates", "--model", MODEL, "--json")
    return json.loads(sh(*argv, cwd=kb, show=show))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="commonplace-demo-") as tmp:
        kb = Path(tmp) / "example-kb"
        shutil.copytree(HERE / "example-kb", kb)
        env = {
            "GIT_AUTHOR_NAME": "demo",
            "GIT_AUTHOR_EMAIL": "demo@example.invalid",
            "GIT_COMMITTER_NAME": "demo",
            "GIT_COMMITTER_EMAIL": "demo@example.invalid",
        }
        os.environ.update(env)
        for argv in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            ["git", "commit", "-q", "-m", "example KB"],
        ):
            sh(*argv, cwd=kb, show=False)
        print(f"Example KB copied to {kb} (a fresh git repository).")

        print("\n== 1. What is stale for the partition 'demo'?")
        sh("commonplace-review-target-selector", "--all-gates", "--model", MODEL, cwd=kb)
        stale = stale_pairs(kb, show=False)
        by_note: dict[str, list[str]] = {}
        for pair in stale:
            by_note.setdefault(pair["note_path"], []).append(pair["gate_id"])

        print(
            "\n== 2. Review every stale pair through the `stand-in` command runner"
            " (STAND-IN REVIEWER, not an LLM): one batch per note and lens, two at a time"
        )
        sweep = ("commonplace-review-sweep", "--runner", "stand-in", "--model", MODEL)
        sh(*sweep, "--jobs", "2", cwd=kb)

        print("\n== 3. Nothing is stale now")
        sh("commonplace-review-target-selector", "--all-gates", "--model", MODEL, cwd=kb)

        print("\n== 4. Edit a note and commit: its pairs become note-changed, with a diff")
        note = next(iter(by_note))
        path = kb / note
        path.write_text(
            path.read_text(encoding="utf-8") + "\nOne more line, added later.\n", encoding="utf-8"
        )
        sh("git", "commit", "-qam", "edit a note", cwd=kb, show=False)
        changed = stale_pairs(kb, show=True)
        print(json.dumps(changed[0], indent=2))

        print("\n== 5. Review what changed, and only that")
        sh(*sweep, cwd=kb)

        print("\n== 6. What the store holds, and its invariants")
        sh("commonplace-review-store", "stats", cwd=kb)
        sh("commonplace-review-store", "check", cwd=kb)

        print("\n== 7. The fix queue (warn and fail reviews), and an HTML report")
        sh("commonplace-warn-selector", "--model", MODEL, cwd=kb)
        report = Path(tempfile.gettempdir()) / "commonplace-demo-report.html"
        sh(
            "commonplace-review-report",
            "--format",
            "html",
            "--model",
            MODEL,
            "--out",
            str(report),
            cwd=kb,
        )
        print(f"Open {report} in a browser: notes by gates, click a cell for its review.")
        print(
            "\nDemo finished: every review above came from the stand-in reviewer. For real"
            " reviews, name a real runner: --runner claude-code or --runner codex (see README)."
        )


if __name__ == "__main__":
    main()
