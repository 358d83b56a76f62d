"""Fault: eight `ingest-batch-output` processes started together on one store.

Eight batches of distinct corpus notes are prepared, then eight real
processes ingest them at the same time. None may surface `database is
locked` (or any other error), and every run of every batch must complete.
"""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise
from pathlib import Path

from helpers.cli import Cli, prepare
from helpers.db import rows, run_states, store_of
from helpers.faults import (
    MODEL,
    assert_clean_exit,
    assert_store_checks,
    full_reviews_per_pair,
    ingest_argv,
    notes_and_gates,
    pair_args,
    write_clean_output,
)

PROCESSES = 8
NOTES_PER_BATCH, GATES = 25, 3


def test_eight_parallel_ingests_of_distinct_batches(cli: Cli, corpus_kb: Path) -> None:
    kb, db = corpus_kb, store_of(corpus_kb)
    notes, gates = notes_and_gates(kb, PROCESSES * NOTES_PER_BATCH, GATES)
    batches = [
        prepare(cli, kb, *pair_args(notes[i::PROCESSES], gates), model=MODEL)
        for i in range(PROCESSES)
    ]
    argvs = [ingest_argv(b, write_clean_output(kb, b), "--json") for b in batches]

    procs = [
        subprocess.Popen(argv, cwd=kb, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    results = [(proc, *proc.communicate(timeout=120)) for proc in procs]

    for (proc, out, err), batch in zip(results, batches, strict=True):
        assert "locked" not in out + err, err  # "database is locked", or any other lock error
        assert_clean_exit(proc.returncode, err, 0)
        payload = json.loads(out)
        assert payload["completed"] == [r["review_run_id"] for r in batch["runs"]]
        assert payload["failed"] == []
    assert {status for status, _ in run_states(db).values()} == {"completed"}
    assert len(run_states(db)) == PROCESSES * NOTES_PER_BATCH
    assert full_reviews_per_pair(db) == {(n, g): 1 for n in notes for g in gates}
    assert_store_checks(kb)
    # How much they overlapped: batch changes along the order in which runs completed
    # (PROCESSES - 1 if they had run one after another).
    order = [b for (b,) in rows(db, "SELECT batch_id FROM review_runs ORDER BY completed_at, id")]
    switches = sum(a != b for a, b in pairwise(order))
    print(
        f"\n{PROCESSES} parallel ingests of {NOTES_PER_BATCH} runs x {GATES} gates each:"
        f" no lock errors, every run completed; {switches} switches between batches"
        " in completion order"
    )
