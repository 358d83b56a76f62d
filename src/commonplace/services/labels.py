"""Human labels (`commonplace label`, issue 18): a person's verdict on a
(note, gate) pair, tied to the committed note and gate versions it judged.

A label feeds calibration as a case (`label_cases`) and is set against the
models' reviews of the same versions (`label_disagreements`). With `accept`
it also makes the pair fresh in one partition through a `manual-override`
acceptance (appended by the lifecycle); the fix queue and the reports then
show the label's decision and why for that pair, not the overruled review's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from commonplace.clock import utc_now
from commonplace.errors import UserError
from commonplace.services.calibration_cases import CalibrationCase, CaseSource
from commonplace.store.connection import Store
from commonplace.store.labels import LabelRow, labels_of, reviews_of_labelled_versions

if TYPE_CHECKING:
    from commonplace.kb.gates import Gate
    from commonplace.workspace import Workspace

DECISIONS = ("pass", "warn", "fail")
MAX_WHY = 4000  # characters: a verdict's reason, not a document
MAX_BY = 200


@dataclass(frozen=True)
class Label:
    uid: str
    note_path: str
    gate_id: str
    note_sha: str
    gate_sha: str
    decision: str
    why: str | None
    model_id: str | None
    labeller: str
    created_at: str
    acceptance_event_id: int | None
    """The `manual-override` acceptance it made (`--accept`), if any."""


def _label(row: LabelRow) -> Label:
    return Label(
        row.uid,
        row.note_path,
        row.gate_id,
        row.note_sha,
        row.gate_sha,
        row.decision,
        row.why,
        row.model_id,
        row.labeller,
        row.created_at,
        row.acceptance_id,
    )


def record_label(
    ws: Workspace,
    *,
    note_ref: str,
    gate_ref: str,
    decision: str,
    why: str | None = None,
    model: str | None = None,
    effort: str | None = None,
    accept: bool = False,
    by: str | None = None,
) -> Label:
    """Record a label on the current committed versions of one note and one
    gate that applies to it; with `accept` (needs `model`) also accept the
    pair in that partition. All or nothing."""
    from commonplace.kb.gates import is_lens, load_gate, resolve_gate_ids
    from commonplace.kb.notes import note_facts, resolve_one_note
    from commonplace.kb.paths import shown
    from commonplace.lifecycle import append_manual_override
    from commonplace.lifecycle.targets import refuse_dirty_gates
    from commonplace.store.labels import add_label
    from commonplace.store.snapshots import add_snapshots

    if decision not in DECISIONS:
        raise UserError(f"--decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if accept and not model:
        raise UserError("--accept needs --model: an acceptance belongs to one partition")
    why = _checked_text("--why", why, MAX_WHY, lines=True) or None
    labeller = _checked_text("--by", by, MAX_BY, lines=False) or _default_labeller(ws)
    git = ws.git_state()
    note = resolve_one_note(ws.config, git, note_ref, cwd=ws.cwd, purpose="a label judges one note")
    if is_lens(ws.config, gate_ref):
        raise UserError(f"{shown(gate_ref)} is a lens; a label judges one gate")
    gate_ids = resolve_gate_ids(ws.config, [gate_ref], cwd=ws.cwd)
    if len(gate_ids) != 1:
        raise UserError(f"{shown(gate_ref)} names {len(gate_ids)} gates; a label judges one gate")
    gate = load_gate(ws.config, gate_ids[0])
    facts = note_facts(note)
    if not gate.applies_to(facts):
        raise UserError(
            f"gate {gate.id} does not apply to {note.key} ({gate.skip_reason(facts)});"
            " nothing labelled"
        )
    refuse_dirty_gates(git, [gate], "; nothing labelled")
    if git.is_dirty(note.key):
        raise UserError(
            f"{shown(note.key)} has uncommitted changes; commit it first, because a label"
            " must point at the committed version it judged; nothing labelled"
        )
    model_id = ws.partition(model, effort).model_id if model else None
    now = utc_now()
    with ws.store.write() as conn:
        add_snapshots(conn, [(note.sha, note.text), (gate.sha, gate.file.text)])
        event_id = None
        if accept and model_id is not None:
            event_id = append_manual_override(
                conn,
                note_path=note.key,
                gate_id=gate.id,
                model_id=model_id,
                note_sha=note.sha,
                note_commit=git.commit_for(note.key),
                gate_sha=gate.sha,
                at=now,
            )
        row = add_label(
            conn,
            note_path=note.key,
            gate_id=gate.id,
            note_sha=note.sha,
            gate_sha=gate.sha,
            decision=decision,
            why=why,
            model_id=model_id,
            labeller=labeller,
            at=now,
            acceptance_id=event_id,
        )
    return _label(row)


def _checked_text(option: str, text: str | None, cap: int, *, lines: bool) -> str:
    """Text a person typed, refused (never silently changed) when it holds a
    control character that could forge output or a terminal escape, or is
    longer than `cap`. `lines`: line breaks and tabs are fine."""
    if text is None:
        return ""
    allowed = "\n\t" if lines else ""
    bad = sorted({c for c in text if not c.isprintable() and c not in allowed})
    if bad:
        shown_bad = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise UserError(f"{option} holds control characters ({shown_bad}); nothing labelled")
    if len(text) > cap:
        raise UserError(f"{option} is {len(text)} characters long; at most {cap}; nothing labelled")
    return text.strip()


def _default_labeller(ws: Workspace) -> str:
    """git's user.name and user.email, else $USER: who made the label."""
    from commonplace.git import user_identity

    found = user_identity(ws.config.kb_root)
    if found and found.isprintable():
        return found[:MAX_BY]
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    return user[:MAX_BY] if user and user.isprintable() else "unknown"


def note_labels(store: Store, note_path: str) -> list[Label]:
    """The note's labels, oldest first."""
    with store.read() as conn:
        return [_label(row) for row in labels_of(conn, note_paths=[note_path])]


def label_cases(ws: Workspace, gates: Sequence[Gate]) -> list[CalibrationCase]:
    """Calibration cases from labels (source LABEL): per (note, gate) of
    these gates, the newest label made on the note's and the gate's current
    versions; a label of an older version judges a text that is gone."""
    from commonplace.services.note_lookup import current_sha

    by_id = {g.id: g for g in gates}
    if not by_id:
        return []
    with ws.store.read() as conn:
        rows = labels_of(conn, gate_ids=list(by_id))
    newest: dict[tuple[str, str], LabelRow] = {}
    note_shas: dict[str, str | None] = {}
    for row in rows:  # oldest first: a newer label of the same versions wins
        if row.note_path not in note_shas:
            note_shas[row.note_path] = current_sha(ws.config.kb_root, row.note_path)
        if row.gate_sha == by_id[row.gate_id].sha and row.note_sha == note_shas[row.note_path]:
            newest[(row.note_path, row.gate_id)] = row
    # A label that accepted stands as the pair's review in its partition: a
    # calibration review would be accepted over it, so it is not a case.
    return [
        CalibrationCase(row.note_path, row.gate_id, row.decision, row.why, CaseSource.LABEL)
        for _, row in sorted(newest.items())
        if row.acceptance_id is None
    ]


@dataclass(frozen=True)
class LabelDisagreement:
    """A person's label and a model's review of the same note and gate
    versions that decided otherwise."""

    note_path: str
    gate_id: str
    label_decision: str
    label_why: str | None
    label_uid: str
    labeller: str
    note_sha: str
    gate_sha: str
    model_id: str
    """The partition whose review disagrees."""
    model_decision: str
    gate_review_id: int
    review_run_id: int


def label_disagreements(store: Store, model_id: str | None = None) -> list[LabelDisagreement]:
    """Per labelled versions of a pair and per partition, the newest label
    that speaks for that partition (one naming it, else one naming none) set
    against the partition's newest completed pass/warn/fail review of those
    versions; listed when they differ. Sorted by note, gate, partition."""
    with store.read() as conn:
        labels = labels_of(conn)
        reviews = reviews_of_labelled_versions(conn, model_id)
    if model_id is not None:
        labels = [row for row in labels if row.model_id in (None, model_id)]
    # (note, gate, note sha, gate sha, partition or None) -> newest label
    speaking: dict[tuple[str, str, str, str, str | None], LabelRow] = {}
    for row in labels:
        speaking[(row.note_path, row.gate_id, row.note_sha, row.gate_sha, row.model_id)] = row
    newest_review = {
        (r.note_path, r.gate_id, r.note_sha, r.gate_sha, r.model_id): r for r in reviews
    }
    found = []
    for (note_path, gate_id, note_sha, gate_sha, partition), review in newest_review.items():
        versions = (note_path, gate_id, note_sha, gate_sha)
        label = speaking.get((*versions, partition)) or speaking.get((*versions, None))
        if label is None or label.decision == review.decision:
            continue
        found.append(
            LabelDisagreement(
                note_path,
                gate_id,
                label.decision,
                label.why,
                label.uid,
                label.labeller,
                note_sha,
                gate_sha,
                partition,
                review.decision,
                review.gate_review_id,
                review.review_run_id,
            )
        )
    return sorted(found, key=lambda d: (d.note_path, d.gate_id, d.model_id, d.note_sha))
