"""Pairs under review elsewhere: the selector's `in-progress`, the claim a
sweep's batch makes when it creates its runs, and owner liveness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.store import DEMO, FROST, REPEATS, SEEDS, TAGS, create_runs, kb_state, make_plan

from commonplace.lifecycle import AllClaimed, PendingReview, record_and_finalize_run
from commonplace.owners import (
    owner_alive,
    owner_token,
    pid_alive,
    this_host,
    token_alive,
)
from commonplace.services.selector import StaleReason, select_stale
from commonplace.store.connection import Store


def reasons(store: Store, kb: Path, note: str, model_id: str = DEMO.model_id) -> dict[str, str]:
    config, git = kb_state(kb)
    from commonplace.kb.files import read_file
    from commonplace.kb.gates import load_gates

    found = select_stale(
        store,
        git,
        notes=[read_file(kb, note)],
        gates=load_gates(config, [TAGS, REPEATS]),
        model_id=model_id,
        in_progress=True,
    )
    return {g.gate_id: g.reason.value for entry in found for g in entry.gates}


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def set_owner(store: Store, run_id: int, host: str, pid: int) -> None:
    """Make the run one of an older version: owned by `host` and `pid`, no lease."""
    with store.write() as conn:
        conn.execute(
            "UPDATE review_runs SET host = ?, pid = ?, owner_started_at = NULL,"
            " lease_expires_at = NULL WHERE id = ?",
            (host, pid, run_id),
        )


def test_a_run_of_a_live_owner_makes_its_pairs_in_progress(store: Store, example_kb: Path) -> None:
    create_runs(store, example_kb, [(FROST, [TAGS])], owned=True)  # owned by this process

    assert reasons(store, example_kb, FROST) == {TAGS: "in-progress", REPEATS: "missing-review"}
    assert reasons(store, example_kb, FROST, model_id="other") == {
        TAGS: "missing-review",
        REPEATS: "missing-review",
    }


@pytest.mark.parametrize("owner", ["dead", "none"])
def test_runs_of_no_live_owner_are_not_in_progress(
    store: Store, example_kb: Path, owner: str
) -> None:
    run_id = create_runs(store, example_kb, [(FROST, [TAGS])], owned=owner == "dead").runs[0]
    if owner == "dead":
        set_owner(store, run_id.review_run_id, this_host(), dead_pid())

    assert reasons(store, example_kb, FROST)[TAGS] == "missing-review"


def test_a_run_without_a_lease_of_another_host_counts_as_in_progress(
    store: Store, example_kb: Path
) -> None:
    created = create_runs(store, example_kb, [(FROST, [TAGS])], owned=True)
    set_owner(store, created.runs[0].review_run_id, "some-other-host.invalid", 1)

    assert reasons(store, example_kb, FROST)[TAGS] == "in-progress"


def test_in_progress_is_not_reported_unless_asked(store: Store, example_kb: Path) -> None:
    create_runs(store, example_kb, [(FROST, [TAGS])], owned=True)
    config, git = kb_state(example_kb)
    from commonplace.kb.files import read_file
    from commonplace.kb.gates import load_gates

    found = select_stale(
        store,
        git,
        notes=[read_file(example_kb, FROST)],
        gates=load_gates(config, [TAGS]),
        model_id=DEMO.model_id,
    )
    assert [g.reason for entry in found for g in entry.gates] == [StaleReason.MISSING_REVIEW]


def test_a_claiming_batch_leaves_out_pairs_in_progress(store: Store, example_kb: Path) -> None:
    create_runs(store, example_kb, [(FROST, [TAGS])], owned=True)
    from commonplace.lifecycle import Packing, create_batch

    plan = make_plan(example_kb, [(FROST, [TAGS, REPEATS]), (SEEDS, [TAGS])])
    created = create_batch(
        store, plan, packing=Packing.EXPLICIT, runner="x", partition=DEMO, claim=True
    )

    assert [(r.note_path, r.gate_ids) for r in created.runs] == [
        (FROST, (REPEATS,)),
        (SEEDS, (TAGS,)),
    ]
    assert [(s.note_path, s.gate_id, s.reason) for s in created.claimed] == [
        (FROST, TAGS, "in-progress: another process is reviewing it")
    ]


def test_a_claiming_batch_leaves_out_pairs_reviewed_meanwhile(
    store: Store, example_kb: Path
) -> None:
    from commonplace.lifecycle import Packing, create_batch

    done = create_runs(store, example_kb, [(FROST, [TAGS])]).runs[0].review_run_id
    review = PendingReview.from_text(TAGS, "Fine.\n\n## Result: PASS\n")
    record_and_finalize_run(store, done, reviews=[review])
    plan = make_plan(example_kb, [(FROST, [TAGS])])

    with pytest.raises(AllClaimed) as nothing:
        create_batch(store, plan, packing=Packing.NOTE, runner="x", partition=DEMO, claim=True)

    assert [s.reason for s in nothing.value.skipped] == [
        "fresh: reviewed meanwhile by another process"
    ]
    with store.read() as conn:  # nothing was created for it
        assert conn.execute("SELECT COUNT(*) FROM review_batches").fetchone()[0] == 1
    # without a claim (a review asked for by name), the pair is reviewed again
    again = create_batch(store, plan, packing=Packing.NOTE, runner="x", partition=DEMO)
    assert again.runs[0].gate_ids == (TAGS,)


def test_owner_liveness() -> None:
    assert pid_alive(__import__("os").getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)
    assert not owner_alive(None, None)
    assert owner_alive("another-host.invalid", 1)
    token = owner_token()
    assert token_alive(token)
    host, pid, ticks = token.rsplit(":", 2)
    assert not token_alive(f"{host}:{pid}:{int(ticks) + 1}")  # the pid reused by a later process
    assert not token_alive(f"{host}:{dead_pid()}:{ticks}")
    assert token_alive("garbage")  # not ours to judge


def test_in_progress_on_a_note_with_accepted_reviews(store: Store, example_kb: Path) -> None:
    done = create_runs(store, example_kb, [(FROST, [REPEATS])]).runs[0].review_run_id
    review = PendingReview.from_text(REPEATS, "Fine.\n\n## Result: PASS\n")
    record_and_finalize_run(store, done, reviews=[review])
    create_runs(store, example_kb, [(FROST, [TAGS])], owned=True)

    assert reasons(store, example_kb, FROST) == {TAGS: "in-progress"}
