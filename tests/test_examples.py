"""The runnable examples: the orchestrator (select -> prepare -> execute ->
ingest through the console scripts) and the demo behind scripts/demo.sh. Both
run as real processes on copies of the example KB."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers.commands import run_script
from helpers.db import STORE
from helpers.db import rows as store_rows
from helpers.kb import REPO, make_git_kb

ORCHESTRATE = REPO / "examples" / "orchestrate.py"
DEMO = REPO / "examples" / "demo.py"
BUNDLE_REVIEWS = "kb/reports/bundle-reviews"
MODEL = "demo"
EXECUTOR = "stand-in-orchestrator"  # the label examples/orchestrate.py records


def run_example(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """An example script under this interpreter, as scripts/demo.sh runs the demo;
    its temporary files go under `cwd`."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TMPDIR": str(cwd)},
    )


def stale(kb: Path) -> list[dict[str, str]]:
    done = run_script(
        "commonplace-review-target-selector", ["--all-gates", "--model", MODEL, "--json"], cwd=kb
    )
    assert done.returncode == 0, done.stderr
    pairs = json.loads(done.stdout)
    assert isinstance(pairs, list)
    return pairs


def rows(kb: Path, sql: str) -> list[tuple[Any, ...]]:
    return store_rows(kb / STORE, sql)


def test_orchestrator_makes_every_stale_pair_fresh(example_kb: Path, tmp_path: Path) -> None:
    before = stale(example_kb)
    assert before, "the example KB should start with stale pairs"
    notes_per_gate: dict[str, int] = {}
    for pair in before:
        notes_per_gate[pair["gate_id"]] = notes_per_gate.get(pair["gate_id"], 0) + 1
    expected_batches = sum(math.ceil(n / 2) for n in notes_per_gate.values())

    done = run_example(
        ORCHESTRATE, "--kb", str(example_kb), "--batch-size", "2", "--jobs", "3", cwd=tmp_path
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "STAND-IN" in done.stdout
    summary = f"summary: {expected_batches} batch(es), {len(before)} run(s) completed, 0 failed"
    assert summary in done.stdout
    assert stale(example_kb) == []
    check = run_script("commonplace-review-store", ["check"], cwd=example_kb)
    assert check.returncode == 0, check.stdout + check.stderr

    batches = rows(example_kb, "SELECT id, executor, packing FROM review_batches ORDER BY id")
    assert len(batches) == expected_batches
    assert {(executor, packing) for _, executor, packing in batches} == {(EXECUTOR, "explicit")}
    runs = rows(example_kb, "SELECT batch_id, runner, status FROM review_runs")
    assert len(runs) == len(before)  # grouped by gate: one run per pair
    assert {(runner, status) for _, runner, status in runs} == {(EXECUTOR, "completed")}
    per_batch = {batch_id: sum(1 for run in runs if run[0] == batch_id) for batch_id, *_ in batches}
    assert max(per_batch.values()) <= 2
    reviewed = rows(example_kb, "SELECT note_path, gate_id FROM gate_reviews")
    assert sorted(reviewed) == sorted((p["note_path"], p["gate_id"]) for p in before)

    tokens = dict(rows(example_kb, "SELECT id, boundary_token FROM review_batches"))
    for batch_id, _, _ in batches:
        directory = example_kb / BUNDLE_REVIEWS / f"review-batch-{batch_id}"
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        assert (example_kb / manifest["prompt_file"]).is_file()  # kept once, by content
        output = (directory / "bundle-output.md").read_text(encoding="utf-8")
        assert "Stand-in review (not an LLM)" in output
        start = f"=== PAIR REVIEW START {tokens[batch_id]}: "  # the token from the JSON
        assert output.count(start) == per_batch[batch_id]

    again = run_example(ORCHESTRATE, cwd=example_kb)  # default: the KB in the working directory
    assert again.returncode == 0, again.stdout + again.stderr
    assert "summary: 0 batch(es), 0 run(s) completed, 0 failed" in again.stdout
    assert len(rows(example_kb, "SELECT id FROM review_batches")) == expected_batches


def test_orchestrator_exits_1_when_a_batch_cannot_be_executed(example_kb: Path) -> None:
    before = stale(example_kb)

    # From below the KB root: the orchestrator finds the root as the commands do.
    done = run_example(ORCHESTRATE, "--gates-dir", "no/such/gates", cwd=example_kb / "kb" / "notes")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: batch " in done.stderr
    assert "stand-in reviewer failed on " in done.stderr  # it got as far as the executor
    assert "Traceback" not in done.stderr
    # A type gate is no file under the gates folder: its batches were reviewed
    # from the prompt and accepted; no catalog pair was.
    assert {p["gate_id"] for p in before if p["gate_id"].startswith("type/")} == {"type/note"}
    assert stale(example_kb) == [p for p in before if p["gate_id"] != "type/note"]
    by_kind = (
        "SELECT DISTINCT r.status FROM review_runs r JOIN review_run_gates g"
        " ON g.review_run_id = r.id WHERE (g.gate_id LIKE 'type/%') = ?"
    )
    # left for a later ingest or the reaper, as it says
    assert store_rows(example_kb / STORE, by_kind, (0,)) == [("running",)]
    assert store_rows(example_kb / STORE, by_kind, (1,)) == [("completed",)]
    assert "reap-stale-runs" in done.stderr


def test_demo_runs_and_shows_what_it_claims(tmp_path: Path) -> None:
    fresh = stale(make_git_kb(REPO / "examples" / "example-kb", tmp_path / "kb"))
    notes = {pair["note_path"] for pair in fresh}

    done = run_example(DEMO, cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    copied = re.search(r"Example KB copied to (\S+) \(a fresh git repository\)", out)
    assert copied is not None, out
    assert not Path(copied.group(1)).exists()  # the temporary copy is removed afterwards
    assert f"{len(fresh)} stale pair(s) in {len(notes)} note(s)" in out
    assert "STAND-IN REVIEWER, not an LLM" in out
    step2 = out.split("== 2.", 1)[1].split("== 3.", 1)[0]
    assert "$ commonplace-review-sweep --runner stand-in --model demo --jobs 2" in step2
    runs = int(re.search(r"(\d+) run\(s\) completed, 0 failed in \d+ batch", step2).group(1))
    assert runs >= len(notes)
    step3 = out.split("== 3.", 1)[1].split("== 4.", 1)[0]
    assert "0 stale pair(s) in 0 note(s)" in step3
    step4 = out.split("== 4.", 1)[1].split("== 5.", 1)[0]
    shown = json.loads(step4[step4.index("{") : step4.rindex("}") + 1])
    assert shown["reason"] == "note-changed"
    assert shown["note_path"] in notes
    assert "+One more line, added later." in shown["diff"]
    step5 = out.split("== 5.", 1)[1].split("== 6.", 1)[0]
    edited = [p for p in fresh if p["note_path"] == shown["note_path"]]
    again = int(re.search(r"(\d+) run\(s\) completed, 0 failed", step5).group(1))
    assert again == len({p["gate_id"].split("/")[0] for p in edited})  # one batch per lens
    step6 = out.split("== 6.", 1)[1].split("== 7.", 1)[0]
    assert f"runs: completed {runs + again}\n" in step6
    assert f"acceptance_events: full-review {len(fresh) + len(edited)}\n" in step6
    assert "ok: 0 violation(s), 0 run(s) running" in step6
    step7 = out.split("== 7.", 1)[1]
    assert re.search(r"\d+ review\(s\) to act on", step7), step7
    report = re.search(r"Open (\S+) in a browser", step7)
    assert report is not None, step7
    assert Path(report.group(1)).parent == tmp_path
    assert "<html" in Path(report.group(1)).read_text(encoding="utf-8")
    assert "Demo finished" in out
