"""The lifecycle of a review run: the only code that inserts runs, changes
their status, rekeys them (to another partition, or a note's new path), or
appends `full-review` acceptance (SPEC 6).

Every transition is a guarded `UPDATE ... WHERE id = ? AND status = 'running'`
whose row count is checked inside a `BEGIN IMMEDIATE` transaction, so racing
finalizers produce exactly one outcome and a clear error for the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from commonplace.clock import utc_before, utc_now
from commonplace.errors import UserError
from commonplace.redaction import cap, redact, redact_json
from commonplace.review.partitions import Partition
from commonplace.review.protocol.decisions import (
    Decision,
    Finding,
    canonical_rationale,
    parse_decision,
    parse_findings,
)
from commonplace.review.protocol.grammar import new_token, relocate_document
from commonplace.review.store import Connection, Row, Store, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:  # only annotations; ingesting needs none of the KB machinery
    from commonplace.review.targets import Plan, SkippedPair

ABANDONED = "abandoned"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Packing(StrEnum):
    NOTE = "note"
    GATE = "gate"
    EXPLICIT = "explicit"


class RunNotFinalizable(UserError):
    """The run does not exist or is already final; nothing was changed."""


class AllClaimed(Exception):
    """Every pair of a claiming batch is under review elsewhere, or was just
    reviewed; nothing was created."""

    def __init__(self, skipped: tuple[SkippedPair, ...]) -> None:
        super().__init__(f"{len(skipped)} pair(s) claimed elsewhere")
        self.skipped = skipped


@dataclass(frozen=True)
class CreatedRun:
    review_run_id: int
    note_path: str
    model_id: str
    gate_ids: tuple[str, ...]


@dataclass(frozen=True)
class CreatedBatch:
    batch_id: int
    runner: str
    model_id: str
    runs: tuple[CreatedRun, ...]
    skipped: tuple[SkippedPair, ...]
    boundary_token: str  # every sentinel of the batch's output carries it
    claimed: tuple[SkippedPair, ...] = ()  # left out: another process has them


@dataclass(frozen=True)
class PendingReview:
    """A parsed gate review waiting to be recorded."""

    gate_id: str
    decision: Decision
    rationale_markdown: str
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_text(cls, gate_id: str, text: str, decision: Decision | None = None) -> PendingReview:
        chosen = decision or parse_decision(text)
        return cls(gate_id, chosen, canonical_rationale(text, chosen), parse_findings(text))


@dataclass(frozen=True)
class ExecutionData:
    """What execution left behind; every field optional. `raw_output` is the
    executor's whole output and is kept on the batch, once."""

    telemetry: Mapping[str, object] | None = None
    debug_log: str | None = None
    raw_output: str | None = None


@dataclass(frozen=True)
class RecordedReview:
    review_run_id: int
    gate_id: str
    gate_review_id: int
    decision: Decision


@dataclass(frozen=True)
class RunOutcome:
    review_run_id: int
    status: RunStatus
    model_id: str
    reason: str | None = None
    rekeyed_from: str | None = None
    accepted_gate_ids: tuple[str, ...] = ()

    @property
    def accepted(self) -> int:
        """How many pairs this outcome made fresh."""
        return len(self.accepted_gate_ids)


class _Refused(Exception):
    """Finalization found the run's reviews unacceptable; the run must fail."""


# --- create -----------------------------------------------------------------


def create_batch(
    store: Store,
    plan: Plan,
    *,
    packing: Packing,
    runner: str,
    partition: Partition,
    owned_by_this_process: bool = False,
    claim: bool = False,
) -> CreatedBatch:
    """Insert the batch, one run per target and each run's gate set, and the
    snapshots of every text involved, in one transaction. With `claim` (a
    sweep), pairs a live process is reviewing in the partition, or that were
    reviewed meanwhile, are left out in that same transaction; `AllClaimed`
    when none is left."""
    if not runner.strip():
        raise UserError("--runner must name a runner or an executor label")
    now = utc_now()
    host, pid = (_host(), os.getpid()) if owned_by_this_process else (None, None)
    token = new_token()  # drawn after the texts were read: no note or gate can hold it
    runs: list[CreatedRun] = []
    claimed: tuple[SkippedPair, ...] = ()
    with store.write() as conn:
        if claim:
            from commonplace.review.claims import unclaimed
            from commonplace.review.targets import Plan

            targets, left_out = unclaimed(conn, plan.targets, partition.model_id)
            if not targets:
                raise AllClaimed(tuple(left_out))
            plan, claimed = Plan(tuple(targets), plan.skipped), tuple(left_out)
        snapshots = {t.note.sha: t.note.text for t in plan.targets}
        snapshots.update({g.sha: g.file.text for t in plan.targets for g in t.gates})
        conn.executemany(
            "INSERT OR IGNORE INTO snapshots (sha, text) VALUES (?, ?)", snapshots.items()
        )
        batch_id = conn.execute(
            "INSERT INTO review_batches (packing, executor, requested_model, requested_effort,"
            " requested_model_id, created_at, boundary_token) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                packing.value,
                runner,
                partition.requested_model,
                partition.effort,
                partition.model_id,
                now,
                token,
            ),
        ).lastrowid
        for target in plan.targets:
            run_id = conn.execute(
                "INSERT INTO review_runs (batch_id, note_path, model_id, runner,"
                " reviewed_note_sha, reviewed_note_commit, started_at, status, host, pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    batch_id,
                    target.note.key,
                    partition.model_id,
                    runner,
                    target.note.sha,
                    target.note_commit,
                    now,
                    host,
                    pid,
                ),
            ).lastrowid
            assert run_id is not None
            conn.executemany(
                "INSERT INTO review_run_gates (review_run_id, gate_id, gate_sha, ordinal)"
                " VALUES (?, ?, ?, ?)",
                [(run_id, g.id, g.sha, i) for i, g in enumerate(target.gates)],
            )
            runs.append(
                CreatedRun(
                    run_id, target.note.key, partition.model_id, tuple(g.id for g in target.gates)
                )
            )
    assert batch_id is not None
    return CreatedBatch(
        batch_id, runner, partition.model_id, tuple(runs), plan.skipped, token, claimed
    )


def boundary_tokens(store: Store, batch_ids: Iterable[int]) -> dict[int, str | None]:
    """Each batch's boundary token; None for a batch prepared before tokens
    (pairs-v1), whose output is read with the v1 grammar."""
    ids = list(dict.fromkeys(batch_ids))
    if not ids:
        return {}
    with store.read() as conn:
        rows = conn.execute(
            "SELECT id, boundary_token FROM review_batches"
            f" WHERE id IN ({', '.join('?' * len(ids))})",
            ids,
        ).fetchall()
    return {int(row[0]): row[1] for row in rows}


def record_prompt(store: Store, batch_id: int, *, sha256: str, chars: int, version: str) -> None:
    """Remember which prompt served a batch."""
    with store.write() as conn:
        conn.execute(
            "UPDATE review_batches SET prompt_sha256 = ?, prompt_chars = ?,"
            " prompt_format_version = ? WHERE id = ?",
            (sha256, chars, version, batch_id),
        )


# --- the split path -----------------------------------------------------------


def record_gate_review(
    store: Store, review_run_id: int, gate_id: str, text: str, decision: Decision | None = None
) -> RecordedReview:
    """Record one gate review into a running run (the split gate-by-gate path)."""
    if not text.strip():
        raise UserError("the gate review is empty")
    review = PendingReview.from_text(gate_id, text, decision)
    try:
        with store.write(create=False) as conn:
            run = _running_run(conn, review_run_id, "write into")
            gate_review_id = _insert_reviews(conn, run, [review])[0]
    except _Refused as refusal:
        raise UserError(f"{refusal}; nothing written") from None
    return RecordedReview(review_run_id, gate_id, gate_review_id, review.decision)


# --- execution data -------------------------------------------------------------


def attach_execution_data(
    store: Store,
    execution: ExecutionData,
    *,
    review_run_ids: Sequence[int] = (),
    batch_id: int | None = None,
) -> None:
    """Store telemetry, debug log and raw output on runs and their batch.
    Values already present are kept when the new value is absent. Never fails
    or rekeys a run."""
    with store.write(create=False) as conn:
        _attach(conn, execution, review_run_ids, batch_id)


def _attach(
    conn: Connection, execution: ExecutionData, run_ids: Iterable[int], batch_id: int | None
) -> None:
    telemetry = _telemetry_json(execution.telemetry)
    debug_log = None if execution.debug_log is None else cap(redact(execution.debug_log))
    raw_output = None if execution.raw_output is None else redact(execution.raw_output)
    batch_ids = set() if batch_id is None else {batch_id}
    for run_id in run_ids:
        row = conn.execute(
            "UPDATE review_runs SET telemetry_json = COALESCE(?, telemetry_json),"
            " debug_log = COALESCE(?, debug_log) WHERE id = ? RETURNING batch_id",
            (telemetry, debug_log, run_id),
        ).fetchone()
        if row is not None and raw_output is not None:
            batch_ids.add(row[0])
    for batch in batch_ids:
        conn.execute(
            "UPDATE review_batches SET telemetry_json = COALESCE(?, telemetry_json),"
            " debug_log = COALESCE(?, debug_log), raw_output = COALESCE(?, raw_output)"
            " WHERE id = ?",
            (
                telemetry if batch == batch_id else None,
                debug_log if batch == batch_id else None,
                raw_output,
                batch,
            ),
        )


# --- finalize -----------------------------------------------------------------------


def record_and_finalize_run(
    store: Store,
    review_run_id: int,
    *,
    reviews: Sequence[PendingReview] = (),
    actual_model_id: str | None = None,
    execution: ExecutionData | None = None,
    bundle_markdown: str | None = None,
) -> RunOutcome:
    """Record reviews, rekey to the actual partition, check coverage, complete
    the run and accept its pass/warn/fail reviews, all in one transaction.
    `bundle_markdown` is the run's own canonical document of its blocks.

    When the reviews are unacceptable, nothing of that remains and the run is
    failed with the reason in a second transaction. A run that is not running
    raises `RunNotFinalizable` and is left as it was.
    """
    try:
        with store.write(create=False) as conn:
            run = _running_run(conn, review_run_id, "finalize")
            if execution is not None:
                _attach(conn, execution, [review_run_id], None)
            _set_bundle(conn, review_run_id, bundle_markdown)
            _insert_reviews(conn, run, reviews)
            rekeyed_from = _rekey(conn, run, actual_model_id)
            model_id = actual_model_id or run["model_id"]  # where _rekey left it
            _check_coverage(conn, review_run_id)
            finished = utc_now()
            _transition(conn, review_run_id, RunStatus.COMPLETED, finished, None)
            accepted = _accept(conn, review_run_id, finished)
            _close_batch_if_done(conn, run["batch_id"], finished)
    except _Refused as refusal:
        return fail_run(
            store,
            review_run_id,
            str(refusal),
            execution=execution,
            bundle_markdown=bundle_markdown,
        )
    return RunOutcome(
        review_run_id,
        RunStatus.COMPLETED,
        model_id,
        rekeyed_from=rekeyed_from,
        accepted_gate_ids=tuple(accepted),
    )


def fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    *,
    execution: ExecutionData | None = None,
    bundle_markdown: str | None = None,
) -> RunOutcome:
    """Fail a running run with a reason, keeping whatever execution data and
    reviewed blocks exist. On a full disk the store's reserve is given back
    (if there is one) and the failure is written once more, without the
    bulky execution data."""
    try:
        return _fail_run(store, review_run_id, reason, execution, bundle_markdown)
    except StoreError as exc:
        if not exc.full:
            raise
        store.release_reserve()
    return _fail_run(store, review_run_id, reason, None, None)


def _fail_run(
    store: Store,
    review_run_id: int,
    reason: str,
    execution: ExecutionData | None,
    bundle_markdown: str | None,
) -> RunOutcome:
    reason = redact(reason.strip()) or "failed without a reason"
    with store.write(create=False) as conn:
        run = _running_run(conn, review_run_id, "fail")
        if execution is not None:
            _attach(conn, execution, [review_run_id], None)
        _set_bundle(conn, review_run_id, bundle_markdown)
        finished = utc_now()
        _transition(conn, review_run_id, RunStatus.FAILED, finished, reason)
        _close_batch_if_done(conn, run["batch_id"], finished)
    return RunOutcome(review_run_id, RunStatus.FAILED, run["model_id"], reason)


def reap_stale_runs(store: Store, *, older_than: timedelta, dry_run: bool = False) -> list[int]:
    """Fail runs left `running` longer than `older_than`, or owned by a process
    of this host that is gone, with reason `abandoned`."""
    cutoff = utc_before(older_than)
    host = _host()
    with store.read() as conn:
        rows = conn.execute(
            "SELECT id, started_at, host, pid FROM review_runs WHERE status = 'running' ORDER BY id"
        ).fetchall()
    stale = [
        row["id"]
        for row in rows
        if row["started_at"] <= cutoff
        or (row["host"] == host and row["pid"] is not None and not _alive(row["pid"]))
    ]
    if dry_run:
        return stale
    reaped = []
    for run_id in stale:
        try:
            fail_run(store, run_id, ABANDONED)
        except RunNotFinalizable:
            continue  # it finished meanwhile
        reaped.append(run_id)
    return reaped


def repair_run(
    store: Store,
    review_run_id: int,
    *,
    telemetry: Mapping[str, object],
    batch_telemetry: Mapping[str, object] | None = None,
    actual_model_id: str | None = None,
) -> RunOutcome:
    """Give a finished run the telemetry rebuilt from its session log and, when
    that shows another partition, rekey the run, its reviews and their
    acceptances, in one transaction. The batch gets `batch_telemetry` only if
    it has none. A run still running is refused: finalizing it rekeys it."""
    with store.write(create=False) as conn:
        run = conn.execute(
            "SELECT id, batch_id, model_id, status, failure_reason FROM review_runs WHERE id = ?",
            (review_run_id,),
        ).fetchone()
        if run is None:
            raise RunNotFinalizable(f"review run {review_run_id} not found")
        if run["status"] == RunStatus.RUNNING:
            raise RunNotFinalizable(
                f"review run {review_run_id} is still running; finalizing it rekeys it"
            )
        _attach(conn, ExecutionData(telemetry=telemetry), [review_run_id], None)
        if batch_telemetry is not None:
            conn.execute(
                "UPDATE review_batches SET telemetry_json = ?"
                " WHERE id = ? AND telemetry_json IS NULL",
                (_telemetry_json(batch_telemetry), run["batch_id"]),
            )
        rekeyed_from = _rekey(conn, run, actual_model_id)
    return RunOutcome(
        review_run_id,
        RunStatus(run["status"]),
        actual_model_id or run["model_id"],  # where _rekey left it
        run["failure_reason"],
        rekeyed_from=rekeyed_from,
    )


@dataclass(frozen=True)
class MovedHistory:
    """What a relocation moved: row counts, and each run's rewritten document."""

    review_runs: int
    gate_reviews: int
    acceptance_events: int
    documents: tuple[tuple[int, str], ...] = ()


def note_history(conn: Connection, old_path: str, new_path: str) -> MovedHistory:
    """The history `old_path` would move; refuses when `new_path` has history
    of its own or a run of `old_path` is still running."""

    def count(table: str, path: str, extra: str = "") -> int:
        sql = f"SELECT COUNT(*) FROM {table} WHERE note_path = ?{extra}"
        return int(conn.execute(sql, (path,)).fetchone()[0])

    if count("review_runs", new_path) or count("acceptance_events", new_path):
        raise UserError(
            f"{new_path} already has review history ({count('review_runs', new_path)} run(s),"
            f" {count('acceptance_events', new_path)} acceptance event(s)); moving {old_path}"
            " there would mix two notes' histories; nothing moved"
        )
    running = count("review_runs", old_path, " AND status = 'running'")
    if running:
        raise UserError(
            f"{old_path} has {running} review run(s) still running; finalize or reap them"
            " first; nothing moved"
        )
    return MovedHistory(
        count("review_runs", old_path),
        count("gate_reviews", old_path),
        count("acceptance_events", old_path),
    )


def note_run_ids(conn: Connection, note_path: str) -> list[int]:
    """The ids of every run of `note_path` (whose files a relocation rewrites)."""
    sql = "SELECT id FROM review_runs WHERE note_path = ? ORDER BY id"
    return [int(row[0]) for row in conn.execute(sql, (note_path,))]


def relocate_history(
    store: Store, old_path: str, new_path: str, *, then: Callable[[], None] | None = None
) -> MovedHistory:
    """Rekey a note's whole history to a new path in one transaction: its
    runs, their gate reviews, its acceptance events and the path in its runs'
    documents, with a `note_relocations` row. `then` runs last, inside the
    transaction (the file move): when it fails, nothing has changed."""
    with store.write(create=False) as conn:
        note_history(conn, old_path, new_path)  # again: a run may have started since
        runs = conn.execute(
            "UPDATE review_runs SET note_path = ? WHERE note_path = ?", (new_path, old_path)
        ).rowcount
        reviews = conn.execute(
            "UPDATE gate_reviews SET note_path = ? WHERE note_path = ?", (new_path, old_path)
        ).rowcount
        events = conn.execute(
            "UPDATE acceptance_events SET note_path = ? WHERE note_path = ?", (new_path, old_path)
        ).rowcount
        documents = tuple(
            (run_id, relocate_document(document, old_path, new_path, token=token))
            for run_id, document, token in conn.execute(
                "SELECT r.id, r.raw_bundle_markdown, b.boundary_token FROM review_runs r"
                " JOIN review_batches b ON b.id = r.batch_id"
                " WHERE r.note_path = ? AND r.raw_bundle_markdown IS NOT NULL",
                (new_path,),
            ).fetchall()
        )
        conn.executemany(
            "UPDATE review_runs SET raw_bundle_markdown = ? WHERE id = ?",
            [(text, run_id) for run_id, text in documents],
        )
        conn.execute(
            "INSERT INTO note_relocations (old_path, new_path, relocated_at,"
            " review_runs, gate_reviews, acceptance_events) VALUES (?, ?, ?, ?, ?, ?)",
            (old_path, new_path, utc_now(), runs, reviews, events),
        )
        if then is not None:
            then()
    return MovedHistory(runs, reviews, events, documents)


# --- internals -----------------------------------------------------------------------


def _running_run(conn: Connection, review_run_id: int, verb: str) -> Row:
    run: Row | None = conn.execute(
        "SELECT id, batch_id, note_path, model_id, status, reviewed_note_sha,"
        " reviewed_note_commit FROM review_runs WHERE id = ?",
        (review_run_id,),
    ).fetchone()
    if run is None:
        raise RunNotFinalizable(f"review run {review_run_id} not found")
    if run["status"] != RunStatus.RUNNING:
        raise RunNotFinalizable(
            f"cannot {verb} review run {review_run_id}: it is already {run['status']};"
            " nothing changed"
        )
    return run


def _insert_reviews(conn: Connection, run: Row, reviews: Sequence[PendingReview]) -> list[int]:
    if not reviews:
        return []
    gate_shas = dict(
        conn.execute(
            "SELECT gate_id, gate_sha FROM review_run_gates WHERE review_run_id = ?", (run["id"],)
        ).fetchall()
    )
    done = {
        r[0]
        for r in conn.execute(
            "SELECT gate_id FROM gate_reviews WHERE review_run_id = ?", (run["id"],)
        )
    }
    now = utc_now()
    ids = []
    for review in reviews:
        if review.gate_id not in gate_shas:
            raise _Refused(
                f"gate {review.gate_id} is not part of review run {run['id']}"
                f" (its gates: {', '.join(sorted(gate_shas))})"
            )
        if review.gate_id in done:
            raise _Refused(f"gate {review.gate_id} already has a review in review run {run['id']}")
        done.add(review.gate_id)
        cursor = conn.execute(
            "INSERT INTO gate_reviews (review_run_id, note_path, gate_id, model_id, decision,"
            " rationale_markdown, findings_json, gate_sha, reviewed_note_sha,"
            " reviewed_note_commit, reviewed_at, review_kind)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'full-review')",
            (
                run["id"],
                run["note_path"],
                review.gate_id,
                run["model_id"],
                review.decision.value,
                redact(review.rationale_markdown),
                json.dumps(
                    [{"severity": f.severity, "text": redact(f.text)} for f in review.findings]
                ),
                gate_shas[review.gate_id],
                run["reviewed_note_sha"],
                run["reviewed_note_commit"],
                now,
            ),
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


def _set_bundle(conn: Connection, review_run_id: int, bundle_markdown: str | None) -> None:
    if bundle_markdown is not None:
        conn.execute(
            "UPDATE review_runs SET raw_bundle_markdown = ? WHERE id = ?",
            (redact(bundle_markdown), review_run_id),
        )


def _rekey(conn: Connection, run: Row, actual_model_id: str | None) -> str | None:
    """Move a run, its gate reviews and the acceptances of those reviews to the
    partition actually used; the one rekey of the store. The run keeps the
    partition it was created under in `rekeyed_from`. Guarded on the status
    and partition that were read, so a concurrent change makes it refuse."""
    if not actual_model_id or actual_model_id == run["model_id"]:
        return None
    updated = conn.execute(
        "UPDATE review_runs SET model_id = ?,"
        " rekeyed_from = NULLIF(COALESCE(rekeyed_from, model_id), ?)"
        " WHERE id = ? AND status = ? AND model_id = ?",
        (actual_model_id, actual_model_id, run["id"], run["status"], run["model_id"]),
    ).rowcount
    if updated != 1:
        raise RunNotFinalizable(f"review run {run['id']} changed while it was being rekeyed")
    conn.execute(
        "UPDATE gate_reviews SET model_id = ? WHERE review_run_id = ?",
        (actual_model_id, run["id"]),
    )
    conn.execute(
        "UPDATE acceptance_events SET model_id = ? WHERE acceptance_kind = 'full-review'"
        " AND accepted_review_id IN (SELECT id FROM gate_reviews WHERE review_run_id = ?)",
        (actual_model_id, run["id"]),
    )
    return str(run["model_id"])


def _check_coverage(conn: Connection, review_run_id: int) -> None:
    rows = conn.execute(
        "SELECT g.gate_id, g.gate_sha, r.gate_sha AS reviewed_sha FROM review_run_gates g"
        " LEFT JOIN gate_reviews r ON r.review_run_id = g.review_run_id AND r.gate_id = g.gate_id"
        " WHERE g.review_run_id = ? ORDER BY g.ordinal",
        (review_run_id,),
    ).fetchall()
    if not rows:
        raise _Refused(f"review run {review_run_id} has no gates")
    missing = [r["gate_id"] for r in rows if r["reviewed_sha"] is None]
    mismatched = [
        r["gate_id"]
        for r in rows
        if r["reviewed_sha"] is not None and r["reviewed_sha"] != r["gate_sha"]
    ]
    problems = []
    if missing:
        problems.append(f"missing gate reviews: {', '.join(missing)}")
    if mismatched:
        problems.append(f"gate provenance mismatch: {', '.join(mismatched)}")
    if problems:
        raise _Refused("; ".join(problems))


def _transition(
    conn: Connection, review_run_id: int, status: RunStatus, at: str, reason: str | None
) -> None:
    updated = conn.execute(
        "UPDATE review_runs SET status = ?, completed_at = ?, failure_reason = ?"
        " WHERE id = ? AND status = 'running'",
        (status.value, at, reason, review_run_id),
    ).rowcount
    if updated != 1:
        raise RunNotFinalizable(f"review run {review_run_id} is no longer running; nothing changed")


def _accept(conn: Connection, review_run_id: int, at: str) -> list[str]:
    """One `full-review` acceptance per reviewed gate with a real verdict."""
    rows = conn.execute(
        "SELECT r.id, r.note_path, r.gate_id, r.model_id, r.reviewed_note_sha,"
        " r.reviewed_note_commit, r.gate_sha FROM gate_reviews r"
        " JOIN review_run_gates g ON g.review_run_id = r.review_run_id AND g.gate_id = r.gate_id"
        " WHERE r.review_run_id = ? AND r.decision IN ('pass', 'warn', 'fail')"
        " ORDER BY g.ordinal",
        (review_run_id,),
    ).fetchall()
    conn.executemany(
        "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_review_id,"
        " accepted_note_sha, accepted_note_commit, accepted_gate_sha, accepted_at,"
        " acceptance_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'full-review')",
        [
            (
                r["note_path"],
                r["gate_id"],
                r["model_id"],
                r["id"],
                r["reviewed_note_sha"],
                r["reviewed_note_commit"],
                r["gate_sha"],
                at,
            )
            for r in rows
        ],
    )
    return [r["gate_id"] for r in rows]


def _close_batch_if_done(conn: Connection, batch_id: int, at: str) -> None:
    conn.execute(
        "UPDATE review_batches SET finished_at = ? WHERE id = ? AND finished_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM review_runs WHERE batch_id = ? AND status = 'running')",
        (at, batch_id, batch_id),
    )


def _telemetry_json(telemetry: Mapping[str, object] | None) -> str | None:
    return None if telemetry is None else json.dumps(redact_json(telemetry), sort_keys=True)


def _host() -> str:
    return os.uname().nodename


def _alive(pid: int) -> bool:
    from commonplace.review.owners import pid_alive

    return pid_alive(pid)  # a zombie owner is a dead one
