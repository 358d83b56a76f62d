"""One note's story (`commonplace show`): per partition and applicable gate,
the current decision and how fresh it is, as the selector judges it; the
note's labels; with
`history`, every run, acceptance, relocation, rekey and model resolution of
the note over time."""

from __future__ import annotations

from dataclasses import dataclass

from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate, every_gate_ids, load_found_gates
from commonplace.kb.notes import note_facts, resolve_note_refs
from commonplace.kb.paths import key_for_path, shown
from commonplace.protocol.decisions import Finding
from commonplace.protocol.sections import suggested_revision
from commonplace.services.current import CurrentReview, current_reviews
from commonplace.services.labels import Label, note_labels
from commonplace.services.note_lookup import known_note_paths, no_such_note
from commonplace.services.selector import select_stale
from commonplace.store import note_history
from commonplace.store.note_history import NoteRun

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.workspace import Workspace

FRESH = "fresh"
# A gate with a current review that no longer applies to the note (or is gone).
NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class GateStory:
    gate_id: str
    staleness: str
    """`fresh`, the selector's stale reason, or `not-applicable`."""
    decision: str | None
    """None: never reviewed in this partition (or accepted without a review)."""
    findings: tuple[Finding, ...] = ()
    rationale_markdown: str | None = None
    suggested_revision: str | None = None
    reviewed_at: str | None = None
    reviewed_note_sha: str | None = None
    review_run_id: int | None = None
    gate_review_id: int | None = None
    runner: str | None = None
    acceptance_kind: str | None = None


@dataclass(frozen=True)
class PartitionStory:
    model_id: str
    gates: tuple[GateStory, ...]


@dataclass(frozen=True)
class HistoryEvent:
    at: str
    kind: str
    """`run`, `rekey`, `acceptance`, `relocation` or `model-resolution`."""
    model_id: str | None = None
    gate_id: str | None = None
    review_run_id: int | None = None
    outcome: str | None = None
    """A run's status; the decision an acceptance accepted (None for an ack)."""
    runner: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class NoteStory:
    note_path: str
    note_sha: str
    applicable_gates: tuple[str, ...]
    partitions: tuple[PartitionStory, ...]
    history: tuple[HistoryEvent, ...] | None = None
    labels: tuple[Label, ...] = ()
    """People's verdicts on the note (`commonplace label`), oldest first."""


def note_story(
    ws: Workspace,
    note_ref: str,
    *,
    model: str | None = None,
    effort: str | None = None,
    history: bool = False,
) -> NoteStory:
    """The story of the note `note_ref` names (a path from the working
    directory or the KB root); of one partition with `model`, else of every
    partition with history for the note (the default model's when none has)."""
    git = ws.git_state()
    note = _the_note(ws, git, note_ref)
    scan = load_found_gates(ws.config, every_gate_ids(ws.config))
    facts = note_facts(note)
    applicable = [g for g in sorted(scan.gates, key=lambda g: g.id) if g.applies_to(facts)]
    with ws.store.read() as conn:
        runs = note_history.note_runs(conn, note.key)
        stored = note_history.note_partitions(conn, note.key)
    if model:
        partitions = [ws.partition(model, effort).model_id]
    elif stored:
        partitions = stored
    elif ws.config.defaults.model:
        partitions = [ws.partition(ws.config.defaults.model, ws.config.defaults.effort).model_id]
    else:
        partitions = []
    current = current_reviews(ws.store, note_paths=[note.key])
    runners = {run.id: run.runner for run in runs}
    stories = tuple(
        PartitionStory(
            model_id,
            _gates(ws, git, note, applicable, model_id, current, runners),
        )
        for model_id in partitions
    )
    return NoteStory(
        note.key,
        note.sha,
        tuple(g.id for g in applicable),
        stories,
        _history(ws, note.key, runs) if history else None,
        tuple(note_labels(ws.store, note.key)),
    )


def _the_note(ws: Workspace, git: GitState, raw: str) -> KbFile:
    key = key_for_path(ws.config.kb_root, raw, cwd=ws.cwd)
    path = ws.config.kb_root / key
    if path.is_dir():
        raise UserError(f"{shown(raw)} is a folder; show takes one note")
    if not path.exists():
        raise no_such_note(raw, key, known_note_paths(ws))
    scan = resolve_note_refs(ws.config, git, [raw], cwd=ws.cwd)
    return scan.notes[0]


def _gates(
    ws: Workspace,
    git: GitState,
    note: KbFile,
    applicable: list[Gate],
    model_id: str,
    current: list[CurrentReview],
    runners: dict[int, str],
) -> tuple[GateStory, ...]:
    stale = select_stale(
        ws.store, git, notes=[note], gates=applicable, model_id=model_id, in_progress=True
    )
    reasons = {g.gate_id: str(g.reason) for entry in stale for g in entry.gates}
    reviews = {r.gate_id: r for r in current if r.model_id == model_id}
    applies = {g.id for g in applicable}
    out = []
    for gate_id in sorted(applies | set(reviews)):
        staleness = reasons.get(gate_id, FRESH) if gate_id in applies else NOT_APPLICABLE
        review = reviews.get(gate_id)
        if review is None:
            out.append(GateStory(gate_id, staleness, None))
            continue
        out.append(
            GateStory(
                gate_id,
                staleness,
                review.decision,
                review.findings,
                review.rationale_markdown,
                suggested_revision(review.rationale_markdown),
                review.reviewed_at,
                review.reviewed_note_sha,
                review.review_run_id,
                review.gate_review_id,
                runners.get(review.review_run_id),
                review.acceptance_kind,
            )
        )
    return tuple(out)


# Order of events recorded at the same instant: a run, then what it led to.
_ORDER = {"relocation": 0, "run": 1, "model-resolution": 2, "rekey": 3, "acceptance": 4}


def _history(ws: Workspace, note_path: str, runs: list[NoteRun]) -> tuple[HistoryEvent, ...]:
    with ws.store.read() as conn:
        accepted = note_history.note_acceptances(conn, note_path)
        resolved = note_history.note_alias_resolutions(conn, note_path)
        paths = {note_path}
        moves: list[note_history.NoteRelocation] = []
        for _ in range(100):  # a chain of moves into this path, followed back
            moves = note_history.relocations_touching(conn, paths)
            earlier = {m.old_path for m in moves if m.new_path in paths} - paths
            if not earlier:
                break
            paths |= earlier
    events: list[HistoryEvent] = []
    for run in runs:
        gates = f"{run.gates} gate(s)"
        why = f": {run.failure_reason}" if run.failure_reason else ""
        asked = _asked(run.requested_model, run.requested_effort)
        events.append(
            HistoryEvent(
                run.started_at,
                "run",
                run.model_id,
                review_run_id=run.id,
                outcome=run.status,
                runner=run.runner,
                detail=f"{gates}, asked for {asked}{why}",
            )
        )
        if run.rekeyed_from:
            events.append(
                HistoryEvent(
                    run.completed_at or run.started_at,
                    "rekey",
                    run.model_id,
                    review_run_id=run.id,
                    detail=f"moved from partition {run.rekeyed_from} to {run.model_id}",
                )
            )
    for item in resolved:
        asked = _asked(item.requested_model, item.requested_effort)
        events.append(
            HistoryEvent(
                item.observed_at,
                "model-resolution",
                item.resolved_model_id,
                detail=f"{asked} resolved to {item.resolved_model_id} (batch {item.batch_id})",
            )
        )
    for event in accepted:
        events.append(
            HistoryEvent(
                event.accepted_at,
                "acceptance",
                event.model_id,
                event.gate_id,
                event.review_run_id,
                event.decision,
                detail=event.acceptance_kind,
            )
        )
    for move in moves:
        counts = f"{move.review_runs} run(s), {move.acceptance_events} acceptance(s) moved"
        events.append(
            HistoryEvent(
                move.relocated_at,
                "relocation",
                detail=f"{move.old_path} -> {move.new_path}: {counts}",
            )
        )
    events.sort(key=lambda e: (e.at, _ORDER[e.kind]))
    return tuple(events)


def _asked(model: str, effort: str | None) -> str:
    return f"{model} effort {effort}" if effort else model
