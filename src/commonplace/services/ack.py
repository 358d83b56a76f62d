"""Trivial-change acknowledgements: accepting the current note and gate
versions of pairs without a new review (SPEC 11)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from commonplace.clock import utc_now
from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate
from commonplace.kb.notes import note_facts
from commonplace.lifecycle.targets import refuse_dirty_gates
from commonplace.store.acceptances import add_ack
from commonplace.store.connection import Connection, Store
from commonplace.store.snapshots import add_snapshots

if TYPE_CHECKING:
    from commonplace.workspace import Workspace

TRIVIAL_CHANGE_ACK = "trivial-change-ack"


@dataclass(frozen=True)
class AckedPair:
    note_path: str
    gate_id: str
    model_id: str
    note_sha: str
    gate_sha: str
    acceptance_event_id: int


def ack_pairs(
    store: Store,
    git: GitState,
    *,
    note: KbFile,
    gates: Sequence[Gate],
    model_id: str,
    expect_note_sha: str | None = None,
) -> list[AckedPair]:
    """Accept the current versions of (note, gate) pairs, all or nothing.

    Every gate must apply to the note and be committed; with `expect_note_sha`
    the note must still be the version that was inspected.
    """
    if expect_note_sha is not None and expect_note_sha != note.sha:
        raise UserError(
            f"{note.key} has changed: its SHA is {note.sha}, not the expected "
            f"{expect_note_sha}; nothing acked"
        )
    facts = note_facts(note)
    refused = [f"{g.id} ({g.skip_reason(facts)})" for g in gates if not g.applies_to(facts)]
    if refused:
        raise UserError(
            f"gates that do not apply to {note.key}: {', '.join(refused)}; nothing acked"
        )
    refuse_dirty_gates(git, gates, "; nothing acked")
    with store.write() as conn:
        return _append_acks(conn, git, note, gates, model_id, utc_now())


def ack_many(
    store: Store,
    git: GitState,
    items: Iterable[tuple[KbFile, Sequence[Gate]]],
    *,
    model_id: str,
) -> int:
    """Accept the current versions of many notes' pairs in one transaction,
    each checked as `ack_pairs` checks it (for filling a store at once, as
    the benchmarks do); the number of pairs accepted."""
    now, count = utc_now(), 0
    with store.write() as conn:
        for note, gates in items:
            facts = note_facts(note)
            refused = [g.id for g in gates if not g.applies_to(facts)]
            if refused:
                raise UserError(f"gates that do not apply to {note.key}: {', '.join(refused)}")
            refuse_dirty_gates(git, gates, "; nothing acked")
            count += len(_append_acks(conn, git, note, gates, model_id, now))
    return count


def _append_acks(
    conn: Connection, git: GitState, note: KbFile, gates: Sequence[Gate], model_id: str, now: str
) -> list[AckedPair]:
    """`trivial-change-ack` events for the note's and the gates' current versions."""
    commit = git.commit_for(note.key)
    add_snapshots(conn, [(note.sha, note.text), *((g.sha, g.file.text) for g in gates)])
    acked = []
    for gate in gates:
        event_id = add_ack(
            conn,
            note_path=note.key,
            gate_id=gate.id,
            model_id=model_id,
            note_sha=note.sha,
            note_commit=commit,
            gate_sha=gate.sha,
            at=now,
            kind=TRIVIAL_CHANGE_ACK,
        )
        acked.append(AckedPair(note.key, gate.id, model_id, note.sha, gate.sha, event_id))
    return acked


def ack_gate_review(
    ws: Workspace,
    *,
    note_ref: str,
    gate_refs: Sequence[str],
    model: str,
    effort: str | None = None,
    expect_note_sha: str | None = None,
) -> list[AckedPair]:
    """The ack command: one note, gates or lenses. Gates named one by one must
    apply; gates reached through a lens are taken only where they apply."""
    from commonplace.kb.gates import is_lens, load_gates, resolve_gate_ids
    from commonplace.kb.notes import resolve_notes

    partition = ws.partition(model, effort)
    git = ws.git_state()
    notes = resolve_notes(ws.config, git, [note_ref], cwd=ws.cwd)
    if len(notes) != 1:
        raise UserError(f"{note_ref} names {len(notes)} notes; ack one note at a time")
    facts = note_facts(notes[0])
    chosen: dict[str, Gate] = {}
    for ref in gate_refs:
        named_alone = not is_lens(ws.config, ref)
        for gate in load_gates(ws.config, resolve_gate_ids(ws.config, [ref], cwd=ws.cwd)):
            if named_alone or gate.applies_to(facts):
                chosen.setdefault(gate.id, gate)
    if not chosen:
        raise UserError(f"none of the gates named applies to {notes[0].key}; nothing acked")
    return ack_pairs(
        ws.store,
        git,
        note=notes[0],
        gates=list(chosen.values()),
        model_id=partition.model_id,
        expect_note_sha=expect_note_sha,
    )


@dataclass(frozen=True)
class TrivialCheck:
    """A pair whose note changed since its acceptance, and the watched parts
    the change touched (none: trivial for this gate)."""

    note_path: str
    gate_id: str
    note_sha: str
    changed: tuple[str, ...]
    reason: str | None = None
    """Why the change could not be judged, when it could not."""

    @property
    def trivial(self) -> bool:
        return not self.changed and self.reason is None


@dataclass(frozen=True)
class TrivialAckReport:
    model_id: str
    dry_run: bool
    checked: tuple[TrivialCheck, ...]
    acked: tuple[AckedPair, ...]


def ack_trivial_note_changes(
    ws: Workspace,
    *,
    gate_refs: Sequence[str],
    model: str,
    effort: str | None = None,
    note_refs: Sequence[str] = (),
    current_only: bool = False,
    user_verified: bool = False,
    dry_run: bool = False,
) -> TrivialAckReport:
    """Ack every `note-changed` pair whose change since the accepted version
    touches none of the parts its gate watches, in one transaction."""
    from commonplace.kb.note_parts import changed_parts
    from commonplace.services.accepted_index import accepted_versions
    from commonplace.services.selector import (
        StaleReason,
        scope_gates,
        scope_notes,
        select_stale,
        snapshot_texts,
    )

    partition = ws.partition(model, effort)
    git = ws.git_state()
    gates = {g.id: g for g in scope_gates(ws, gate_refs)}
    scoped = scope_notes(ws, git, note_refs, current_only, user_verified=user_verified)
    notes = {n.key: n for n in scoped}
    stale = select_stale(
        ws.store,
        git,
        notes=list(notes.values()),
        gates=list(gates.values()),
        model_id=partition.model_id,
        reasons={StaleReason.NOTE_CHANGED},
    )
    accepted = accepted_versions(ws.store, partition.model_id, [n.note_path for n in stale])
    wanted = {accepted[n.note_path][g.gate_id][0] for n in stale for g in n.gates}
    before = snapshot_texts(ws.store, wanted)
    checked = []
    for entry in stale:
        note = notes[entry.note_path]
        for stale_gate in entry.gates:
            old_sha = accepted[note.key][stale_gate.gate_id][0]
            old_text = before.get(old_sha)
            if old_text is None:
                checked.append(
                    TrivialCheck(
                        note.key,
                        stale_gate.gate_id,
                        note.sha,
                        (),
                        "accepted version not in the store",
                    )
                )
                continue
            changed = changed_parts(old_text, note.text, gates[stale_gate.gate_id].watches)
            checked.append(TrivialCheck(note.key, stale_gate.gate_id, note.sha, changed))
    trivial: dict[str, list[Gate]] = {}
    for check in checked:
        if check.trivial:
            trivial.setdefault(check.note_path, []).append(gates[check.gate_id])
    acked: list[AckedPair] = []
    if trivial and not dry_run:
        now = utc_now()
        with ws.store.write() as conn:
            for note_path, chosen in trivial.items():
                acked += _append_acks(conn, git, notes[note_path], chosen, partition.model_id, now)
    return TrivialAckReport(partition.model_id, dry_run, tuple(checked), tuple(acked))
