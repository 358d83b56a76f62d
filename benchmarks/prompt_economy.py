#!/usr/bin/env python3
"""Prompt economy on a copy of the real corpus (commonplace-kb).

Targets (SPEC section 13): in a lens sweep with note packing, each prompt shares
on average at least half of itself as a prefix with the previous one (the
earlier design: 0.059); one 5-note batch of one gate stays at or under 62,144
characters (90% of the earlier design's 69,049). Prompts come from the real
console scripts. Prints the measurements; never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from _common import REPO_ROOT, compile_package, copy_corpus, find_command

CREATE = "commonplace-create-review-run"
PREPARE = "commonplace-prepare-review-batch"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
NOTES_DIR = "kb/notes"

SWEEP_LENS = "prose"
SWEEP_NOTES = (
    "a-derived-copy-of-recomputable-truth-must-be-checked-or-absent",
    "a-functioning-kb-needs-a-workshop-layer-not-just-a-library",
    "a-knowledge-base-holds-theories-descriptions-and-prescriptions-with",
    "a-knowledge-base-should-support-fluid-resolution-switching",
    "access-burden-and-transformation-burden-are-independent-query",
    "active-work-state-is-not-retrospective-memory-or-chat-history",
    "ad-hoc-prompts-extend-the-system-without-schema-changes",
    "agent-context-is-constrained-by-soft-degradation-not-hard-token-limits",
    "agent-is-a-tool-loop",
    "agent-memory-README",
)
SHARED_PREFIX_TARGET = 0.5
SHARED_PREFIX_EARLIER = 0.059

BATCH_GATE = "prose/source-residue"
BATCH_NOTES = (
    "a-knowledge-base-holds-theories-descriptions-and-prescriptions-with",
    "agent-context-is-constrained-by-soft-degradation-not-hard-token-limits",
    "agent-memory-README",
    "agent-statelessness-makes-routing-architectural-not-learned",
    "agentic-systems-interpret-underspecified-instructions",
)
BATCH_CHARS_TARGET = 62_144
BATCH_CHARS_EARLIER = 69_049


class CommandFailed(RuntimeError):
    """A console script failed or answered something unreadable."""


def run_json(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> dict[str, object]:
    """Run a console script with --json and return its JSON document."""
    proc = subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        details = "".join(f"\n  {line}" for line in tail)
        raise CommandFailed(f"{' '.join(argv)} exited with {proc.returncode}{details}")
    try:
        data = json.loads(proc.stdout)
    except ValueError as exc:
        raise CommandFailed(f"{' '.join(argv)} printed no JSON document: {exc}") from None
    if not isinstance(data, dict):
        raise CommandFailed(f"{' '.join(argv)} printed {type(data).__name__}, not an object")
    return data


def read_prompt(root: Path, data: Mapping[str, object]) -> str:
    """The decoded text of the prompt a command reported (`prompt_path`, KB-relative)."""
    prompt_path = data.get("prompt_path")
    if not isinstance(prompt_path, str):
        raise CommandFailed("no prompt_path in the command's JSON")
    return (root / prompt_path).read_bytes().decode("utf-8")


def shared_prefix(previous: str, current: str) -> float:
    """The fraction of `current` that is a common prefix with `previous`."""
    length = next(
        (i for i, (a, b) in enumerate(zip(previous, current, strict=False)) if a != b),
        min(len(previous), len(current)),
    )
    return length / len(current) if current else 0.0


def lens_sweep(create: str, root: Path, env: Mapping[str, str], model: str) -> list[str]:
    """One note-packed prompt per sweep note, in order."""
    prompts = []
    for name in SWEEP_NOTES:
        note = f"{NOTES_DIR}/{name}.md"
        argv = [create, note, SWEEP_LENS, "--runner", "bench", "--model", model]
        data = run_json([*argv, "--with-prompt", "--json"], cwd=root, env=env)
        prompts.append(read_prompt(root, data))
    return prompts


def gate_batch(prepare: str, root: Path, env: Mapping[str, str], model: str) -> tuple[str, int]:
    """The prompt of one batch of the gate over the batch notes, and its pair count."""
    pairs = [f"{NOTES_DIR}/{name}.md::{BATCH_GATE}" for name in BATCH_NOTES]
    argv = [prepare, *pairs, "--runner", "bench", "--model", model, "--json"]
    data = run_json(argv, cwd=root, env=env)
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise CommandFailed(f"{PREPARE} reported no runs")
    count = sum(len(run["gate_ids"]) for run in runs)
    return read_prompt(root, data), count


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--model", default="m", help="model partition (m)")
    args = parser.parse_args(argv)

    create, prepare = find_command(CREATE), find_command(PREPARE)
    if create is None or prepare is None:
        missing = CREATE if create is None else PREPARE
        print(f"prompt-economy: skipped: {missing} not found", file=sys.stderr)
        return 1
    if not (args.corpus / "kb").is_dir():
        print(f"prompt-economy: skipped: no corpus at {args.corpus}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        root = copy_corpus(args.corpus, tmp)
        env = dict(os.environ, COMMONPLACE_REVIEW_DB=str(Path(tmp) / "review-store.sqlite"))
        try:
            prompts = lens_sweep(create, root, env, args.model)
            batch_prompt, batch_pairs = gate_batch(prepare, root, env, args.model)
        except (CommandFailed, OSError, UnicodeDecodeError) as exc:
            print(f"prompt-economy: failed: {exc}", file=sys.stderr)
            return 1

    print(f"lens sweep ({SWEEP_LENS}, note packing, {len(prompts)} prompts):")
    fractions = []
    for index, prompt in enumerate(prompts, start=1):
        if index == 1:
            print(f"  prompt  1: {len(prompt):6,} chars, first prompt (nothing to share)")
            continue
        fraction = shared_prefix(prompts[index - 2], prompt)
        fractions.append(fraction)
        print(f"  prompt {index:2}: {len(prompt):6,} chars, shared prefix {fraction:.3f}")
    mean = sum(fractions) / len(fractions)
    print(
        f"prompt-economy/shared-prefix: mean {mean:.3f} over prompts 2..{len(prompts)}"
        f" (target >= {SHARED_PREFIX_TARGET:g}; earlier design {SHARED_PREFIX_EARLIER:g})"
    )

    chars = len(batch_prompt)
    per_pair = chars / batch_pairs if batch_pairs else float("inf")
    earlier_per_pair = BATCH_CHARS_EARLIER / len(BATCH_NOTES)
    print(
        f"prompt-economy/gate-batch: {BATCH_GATE} x {len(BATCH_NOTES)} notes, {chars:,} chars"
        f" -> ratio {chars / BATCH_CHARS_TARGET:.2f} of target (target <= {BATCH_CHARS_TARGET:,};"
        f" earlier design {BATCH_CHARS_EARLIER:,})"
    )
    print(
        f"prompt-economy/chars-per-pair: {per_pair:,.0f} over {batch_pairs} pairs"
        f" (earlier design {earlier_per_pair:,.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
