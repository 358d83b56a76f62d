#!/usr/bin/env python3
"""The HTML report at scale: size, time and peak memory to write it, and the
first paint of its matrix in headless Chromium.

Generates the 10,000 x 40 synthetic KB (or takes `--kb`), fills a fresh store
with a few thousand reviews through the library's lifecycle (a batch is
prepared for some notes against every gate, a reviewer's output is written
for it and ingested, as `commonplace-prepare-review-batch` and
`commonplace-ingest-batch-output` do), then runs
`commonplace-review-report --format html --out FILE` as a child process and
measures it. First paint is measured over the DevTools protocol: a script
injected before the page's own reports `performance.now()` (time since
navigation start) once a matrix cell is in the DOM and two frames have been
drawn. Also measures the corpus report (`--corpus`), size only. Prints the
figures; never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, compile_package, find_command

sys.path.insert(0, str(REPO_ROOT / "tests"))  # the DevTools client the browser tests use

MODEL = "bench-model"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
PASS = "### Summary\nThe note meets the gate.\n### Findings\n- none\n## Result: PASS\n"
WARN = (
    "### Summary\nMostly there; see the finding.\n### Findings\n- WARN: {what}\n"
    "### Suggested Revision\nReword the opening: *state the claim first*, then the"
    " evidence.\n\n- keep `{note}` short\n## Result: WARN\n"
)
FAIL = (
    "### Summary\nThe note does not meet the gate.\n### Findings\n- FAIL: {what}\n"
    "- WARN: the description repeats the title </script><script>alert(1)</script>\n"
    "### Suggested Revision\nSplit the note in two.\n## Result: FAIL\n"
)


def fill(kb: Path, db: Path, reviews: int, per_batch: int, seed: int) -> tuple[int, float]:
    """About `reviews` accepted reviews for notes spread over the whole KB
    (the last note included); (reviews accepted, seconds)."""
    from commonplace.protocol.grammar import block
    from commonplace.protocol.prompt import prompt_token, requested_pairs
    from commonplace.services.batch import prepare_review_batch
    from commonplace.services.ingest import ingest_batch_output
    from commonplace.services.selector import scope_gates, scope_notes
    from commonplace.workspace import open_workspace

    started = time.perf_counter()
    ws = open_workspace(db=str(db), cwd=kb)
    gates = [g.id for g in scope_gates(ws, ())]
    notes = [n.key for n in scope_notes(ws, ws.git_state(), (), False)]
    wanted = max(1, reviews // max(1, len(gates)))
    step = max(1, len(notes) // wanted)
    chosen = [*notes[::step][: wanted - 1], notes[-1]]
    rng = random.Random(seed)
    done = 0
    for start in range(0, len(chosen), per_batch):
        pairs = [f"{n}::{g}" for n in chosen[start : start + per_batch] for g in gates]
        prepared = prepare_review_batch(ws, pairs, runner="bench", model=MODEL)
        prompt = (kb / prepared.prompt_path).read_text(encoding="utf-8")
        token = prompt_token(prompt)
        blocks = []
        for pair in requested_pairs(prompt):
            roll = rng.random()
            what = f"finding {rng.randrange(40)} of {pair.gate_id}"
            template = FAIL if roll < 0.05 else WARN if roll < 0.2 else PASS
            text = template.format(what=what, note=pair.note_path)
            blocks.append(block(pair, text, token=token))
        report = ingest_batch_output(ws, "".join(blocks).encode(), batch_id=prepared.batch.batch_id)
        done += sum(o.accepted for o in report.outcomes)
    ws.store.close()
    return done, time.perf_counter() - started


def write_report(kb: Path, db: Path, out: Path) -> tuple[float, float, float]:
    """(seconds, peak MB, CPU seconds) of the report command, a child of its own."""
    command = find_command("commonplace-review-report")
    if command is None:
        raise SystemExit("error: commonplace-review-report not found; run scripts/setup.sh")
    env = dict(os.environ, COMMONPLACE_REVIEW_DB=str(db))
    argv = [command, "--format", "html", "--model", MODEL, "--out", str(out)]
    # a grandchild measures the report alone, not the other children of this run
    probe = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:]);d=time.perf_counter()-t;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(d,u.ru_maxrss,u.ru_utime+u.ru_stime);sys.exit(p.returncode)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *argv], cwd=kb, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"error: the report failed: {proc.stderr[-2000:]}")
    seconds, rss_kb, cpu = proc.stdout.split()
    return float(seconds), int(rss_kb) / 1024, float(cpu)


def first_paint(chromium: str, page: Path, timeout: float) -> str:
    from helpers.devtools import DevTools

    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile:
        try:
            with DevTools(chromium, Path(profile)) as browser:
                painted = browser.first_paint(page.as_uri(), timeout=timeout)
        except TimeoutError:
            return f"no matrix painted within {timeout:.0f} s"
    errors = f", console errors: {len(painted.errors)}" if painted.errors else ""
    return f"{painted.seconds:.2f} s (wall clock {painted.wall:.2f} s){errors}"


def corpus_report(corpus: Path, tmp: Path) -> str:
    from _common import copy_corpus

    kb = copy_corpus(corpus, tmp)
    db = tmp / "corpus.sqlite"
    reviewed, _ = fill(kb, db, 2000, 10, seed=3)
    out = tmp / "corpus-report.html"
    seconds, _, _ = write_report(kb, db, out)
    return f"{out.stat().st_size / 1e6:.2f} MB with {reviewed} reviews ({seconds:.2f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, help="a synthetic KB (default: generate 10,000 x 40)")
    parser.add_argument("--reviews", type=int, default=3600, help="reviews to ask for (3600)")
    parser.add_argument("--per-batch", type=int, default=10, help="notes per batch (10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="first-paint limit (120 s)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--keep", type=Path, help="copy the report here")
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp_name:
        tmp = Path(tmp_name)
        kb = args.kb
        if kb is None:
            from generate_kb import generate

            kb = tmp / "kb"
            generate(kb)
        db = tmp / "store.sqlite"
        reviewed, seconds = fill(kb, db, args.reviews, args.per_batch, seed=1)
        print(f"store: {reviewed} reviews accepted in {seconds:.1f} s")
        out = tmp / "report.html"
        seconds, peak, cpu = write_report(kb, db, out)
        size = out.stat().st_size
        print(f"report-scale/size: {size / 1e6:.2f} MB (target <= 5 MB)")
        # CPU time too: on a shared machine the wall clock waits for other jobs
        print(f"report-scale/write: {seconds:.2f} s, {cpu:.2f} s CPU (target <= 2 s)")
        print(f"report-scale/peak memory: {peak:.0f} MB (target <= 300 MB)")
        chromium = find_command("chromium")
        if chromium is None:
            print("report-scale/first paint: skipped (no chromium)")
        else:
            paint = first_paint(chromium, out, args.timeout)
            print(f"report-scale/first paint of the matrix: {paint} (target <= 3 s)")
        if args.keep:
            args.keep.write_bytes(out.read_bytes())
        if (args.corpus / "kb").is_dir():
            print(f"report-scale/corpus report: {corpus_report(args.corpus, tmp)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
