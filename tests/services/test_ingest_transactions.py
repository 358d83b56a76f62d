"""How an ingest groups its runs into store transactions (`finalize_runs`):
several runs in one transaction, each under a savepoint, so that one run
refused or no longer running leaves the others' work standing, and a failure
before the commit leaves every run of the transaction running with nothing of
it written. Against the example KB and a real store, on both backends."""

from __future__ import annotations

from functools import partial

import pytest
from helpers.backends import PgTarget
from helpers.db import execute_sql, one, rows, stored_text, target_of
from helpers.db import statuses as statuses_of
from helpers.reviews import review
from helpers.store import DATE, FROST, OVERREACH, SEEDS, TAGS, prepare_batch

from commonplace.lifecycle import PendingReview, Settlement, fail_run, finalize_runs
from commonplace.lifecycle.types import RunStatus
from commonplace.protocol.grammar import Pair, block
from commonplace.protocol.prompt import prompt_token, requested_pairs
from commonplace.services import ingest as ingest_module
from commonplace.services.batch import PreparedBatch
from commonplace.services.ingest import ingest_batch_output
from commonplace.store.check import check_store
from commonplace.workspace import Workspace

pytestmark = pytest.mark.both_backends

# Three runs (one per note); the last (DATE) with two gates.
PAIRS = (f"{FROST}::clarity", f"{SEEDS}::claims", f"{DATE}::{OVERREACH}", f"{DATE}::{TAGS}")
review_text = partial(review, summary="Checked the note.")


def requested(ws: Workspace, prepared: PreparedBatch) -> tuple[list[Pair], str | None]:
    text = (ws.config.kb_root / prepared.prompt_path).read_text(encoding="utf-8")
    return requested_pairs(text), prompt_token(text)


def output(ws: Workspace, prepared: PreparedBatch) -> bytes:
    pairs, token = requested(ws, prepared)
    return "".join(block(pair, review_text(), token=token) for pair in pairs).encode("utf-8")


def run_pairs(ws: Workspace, prepared: PreparedBatch) -> dict[int, list[Pair]]:
    pairs, _ = requested(ws, prepared)
    by_note = {run.note_path: run.review_run_id for run in prepared.batch.runs}
    found: dict[int, list[Pair]] = {}
    for pair in pairs:
        found.setdefault(by_note[pair.note_path], []).append(pair)
    return found


def reviews_of(pairs: list[Pair]) -> tuple[PendingReview, ...]:
    return tuple(PendingReview.from_text(p.gate_id, review_text()) for p in pairs)


def per_run(ws: Workspace, table_sql: str) -> dict[int, int]:
    return {run_id: count for run_id, count in rows(ws.store, table_sql)}


def reviews_per_run(ws: Workspace) -> dict[int, int]:
    return per_run(ws, "SELECT review_run_id, COUNT(*) FROM gate_reviews GROUP BY 1")


def accepted_per_run(ws: Workspace) -> dict[int, int]:
    return per_run(
        ws,
        "SELECT r.review_run_id, COUNT(*) FROM acceptance_events e"
        " JOIN gate_reviews r ON r.id = e.accepted_review_id GROUP BY 1",
    )


def test_runs_settled_together_stand_or_fail_each_on_its_own(ws: Workspace) -> None:
    prepared = prepare_batch(ws, *PAIRS)
    first, second, third = (run.review_run_id for run in prepared.batch.runs)
    pairs = run_pairs(ws, prepared)
    assert len(pairs[third]) == 2
    fail_run(ws.store, second, "abandoned")
    outcomes = finalize_runs(
        ws.store,
        [
            Settlement(first, reviews_of(pairs[first]), "first document"),
            Settlement(second, reviews_of(pairs[second]), "second document"),
            # one gate of two: refused by the coverage check, so the run fails
            # and its one review written under the savepoint is undone
            Settlement(third, reviews_of(pairs[third][:1]), "third document"),
        ],
    )
    assert outcomes[1] is None  # failed before: left as it was
    done, refused = outcomes[0], outcomes[2]
    assert done is not None and done.status is RunStatus.COMPLETED
    assert refused is not None and refused.status is RunStatus.FAILED
    assert refused.reason is not None and "missing gate reviews" in refused.reason
    assert statuses_of(ws.store) == {first: "completed", second: "failed", third: "failed"}
    assert reviews_per_run(ws) == {first: len(pairs[first])}
    assert accepted_per_run(ws) == {first: len(pairs[first])}
    failed_docs = rows(ws.store, "SELECT id, failure_reason FROM review_runs ORDER BY id")
    assert failed_docs[1] == (second, "abandoned")
    assert stored_text(ws.store, "review_runs", "raw_bundle_markdown", third) == "third document"
    assert stored_text(ws.store, "review_runs", "raw_bundle_markdown", second) is None
    assert check_store(ws.store).ok


def test_a_failing_run_settles_after_the_others_and_fails_alone(ws: Workspace) -> None:
    prepared = prepare_batch(ws, *PAIRS)
    first, second, third = (run.review_run_id for run in prepared.batch.runs)
    pairs = run_pairs(ws, prepared)
    outcomes = finalize_runs(
        ws.store,
        [
            Settlement(first, bundle_markdown="kept", failure="missing pair reviews: clarity"),
            Settlement(second, reviews_of(pairs[second])),
            Settlement(third, reviews_of(pairs[third])),
        ],
    )
    assert [o.status if o else None for o in outcomes] == [
        RunStatus.FAILED,
        RunStatus.COMPLETED,
        RunStatus.COMPLETED,
    ]
    assert statuses_of(ws.store) == {first: "failed", second: "completed", third: "completed"}
    assert accepted_per_run(ws) == {second: len(pairs[second]), third: 2}


def abort_acceptances_of(ws: Workspace, note_path: str) -> None:
    """A trigger that aborts accepting any review of `note_path`: a store
    that fails in the middle of an ingest's transaction."""
    if isinstance(target_of(ws.store), PgTarget):
        execute_sql(
            ws.store,
            "CREATE FUNCTION abort_acceptance() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.note_path = '{note_path}' THEN RAISE EXCEPTION 'aborted by test';"
            " END IF; RETURN NEW; END $$",
            "CREATE TRIGGER abort_acceptance BEFORE INSERT ON acceptance_events"
            " FOR EACH ROW EXECUTE FUNCTION abort_acceptance()",
        )
    else:
        execute_sql(
            ws.store,
            "CREATE TRIGGER abort_acceptance BEFORE INSERT ON acceptance_events"
            f" WHEN NEW.note_path = '{note_path}'"
            " BEGIN SELECT RAISE(ABORT, 'aborted by test'); END",
        )


def drop_abort(ws: Workspace) -> None:
    if isinstance(target_of(ws.store), PgTarget):
        execute_sql(
            ws.store,
            "DROP TRIGGER abort_acceptance ON acceptance_events",
            "DROP FUNCTION abort_acceptance()",
        )
    else:
        execute_sql(ws.store, "DROP TRIGGER abort_acceptance")


@pytest.mark.parametrize("per_transaction", [50, 2])
def test_a_store_failure_mid_ingest_leaves_its_transaction_unwritten(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, per_transaction: int
) -> None:
    """The last run's acceptance fails: with every run in one transaction,
    none is final and nothing of them is stored; with two per transaction,
    the first two are complete and the last is untouched. Ingesting again
    once the store works finishes what is left, each pair accepted once."""
    monkeypatch.setattr(ingest_module, "RUNS_PER_TRANSACTION", per_transaction)
    prepared = prepare_batch(ws, *PAIRS)
    first, second, third = (run.review_run_id for run in prepared.batch.runs)
    sizes = {run_id: len(pairs) for run_id, pairs in run_pairs(ws, prepared).items()}
    data = output(ws, prepared)
    abort_acceptances_of(ws, DATE)
    with pytest.raises(Exception, match="aborted by test"):
        ingest_batch_output(ws, data, batch_id=prepared.batch.batch_id)
    ws.store.close()
    if per_transaction == 2:
        assert statuses_of(ws.store) == {first: "completed", second: "completed", third: "running"}
        assert reviews_per_run(ws) == {first: sizes[first], second: sizes[second]}
    else:
        assert set(statuses_of(ws.store).values()) == {"running"}
        assert reviews_per_run(ws) == {}
        assert one(ws.store, "SELECT COUNT(*) FROM acceptance_events") == 0
    drop_abort(ws)
    report = ingest_batch_output(ws, data, batch_id=prepared.batch.batch_id)
    assert report.completed == [first, second, third]
    assert accepted_per_run(ws) == sizes
    assert check_store(ws.store).ok
