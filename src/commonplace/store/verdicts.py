"""The decision each partition's current acceptance of a pair rests on, with
the note and gate versions that decision saw: what agreement between
partitions and firing rates are computed from (services/agreement.py)."""

from __future__ import annotations

from typing import NamedTuple

from commonplace.store.connection import Connection


class Verdict(NamedTuple):
    note_path: str
    gate_id: str
    model_id: str
    decision: str
    note_sha: str
    """The note version the review saw (not the one an ack later accepted)."""
    gate_sha: str


def accepted_verdicts(conn: Connection) -> list[Verdict]:
    """Per (note, gate, partition), the review of its latest `full-review`
    acceptance: the review any later ack carried forward, so the same one the
    reports show. Only `pass`, `warn` and `fail` are ever accepted.

    One scan in event order, the latest of a pair kept (as `latest_accepted`
    does), rather than one lookup of the latest event per row."""
    rows = conn.execute(
        "SELECT e.note_path, e.gate_id, e.model_id, r.decision, r.reviewed_note_sha, r.gate_sha"
        " FROM acceptance_events AS e JOIN gate_reviews AS r ON r.id = e.accepted_review_id"
        " JOIN review_runs AS run ON run.id = r.review_run_id AND run.status = 'completed'"
        " WHERE e.acceptance_kind = 'full-review' ORDER BY e.id"
    )
    latest: dict[tuple[str, str, str], Verdict] = {}
    same: dict[str, str] = {}
    for note_path, gate_id, model_id, decision, note_sha, gate_sha in rows:
        verdict = Verdict(
            same.setdefault(note_path, note_path),
            same.setdefault(gate_id, gate_id),
            same.setdefault(model_id, model_id),
            same.setdefault(decision, decision),
            same.setdefault(note_sha, note_sha),
            same.setdefault(gate_sha, gate_sha),
        )
        latest[(verdict.note_path, verdict.gate_id, verdict.model_id)] = verdict
    return sorted(latest.values())
