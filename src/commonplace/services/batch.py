"""Preparing batches for executors outside this process (SPEC 10, ADR 030):
an external orchestrator's `prepare-review-batch` and a live agent's
`create-review-run --with-prompt`. Both create runs through the lifecycle,
render the one prompt in file mode and write the batch's artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from commonplace import lifecycle
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate, load_found_gates, resolve_gate_ids
from commonplace.kb.links import NoteLinks, note_links
from commonplace.kb.notes import resolve_named_note
from commonplace.kb.unreviewable import Unreviewable
from commonplace.lifecycle import CreatedBatch, Packing
from commonplace.lifecycle.targets import Plan, SkippedPair, plan_runs
from commonplace.protocol.prompt import (
    PromptGate,
    PromptNote,
    RenderedPrompt,
    render_prompt,
)
from commonplace.services import artifacts
from commonplace.services.manifest import batch_manifest
from commonplace.workspace import Workspace


@dataclass(frozen=True)
class PreparedBatch:
    batch: CreatedBatch
    prompt_path: str  # KB-relative, like every path a command reports
    bundle_output_path: str
    manifest_path: str


def parse_pair_arg(raw: str) -> tuple[str, str]:
    """`NOTE::GATE` (spaces around `::` allowed) as (note, gate)."""
    note, separator, gate = raw.rpartition("::")
    note, gate = note.strip(), gate.strip()
    if not separator or not note or not gate:
        raise UserError(f"not a pair: {raw!r} (expected NOTE::GATE, e.g. kb/notes/x.md::prose/y)")
    return note, gate.removesuffix(".md")


def prepare_review_batch(
    ws: Workspace,
    pair_args: Sequence[str],
    *,
    runner: str,
    model: str,
    effort: str | None = None,
) -> PreparedBatch:
    """One batch, one run per note, for any pairs. Inapplicable pairs, and
    pairs whose note or gate cannot be reviewed, are skipped and reported;
    missing notes or gates and dirty gates are fatal."""
    partition = ws.partition(model, effort)
    requested: dict[str, dict[str, None]] = {}
    for raw in pair_args:
        note_ref, gate = parse_pair_arg(raw)
        requested.setdefault(note_ref, {})[gate] = None
    if not requested:
        raise UserError("name at least one NOTE::GATE pair")
    git = ws.git_state()
    by_key: dict[str, tuple[KbFile | Unreviewable, list[str]]] = {}
    for note_ref, gate_refs in requested.items():
        note = resolve_named_note(
            ws.config, git, note_ref, cwd=ws.cwd, purpose="a pair names one note"
        )
        by_key.setdefault(note.key, (note, []))[1].extend(
            resolve_gate_ids(ws.config, gate_refs, cwd=ws.cwd)
        )
    plan = _plan_usable(ws, git, {k: (n, list(dict.fromkeys(g))) for k, (n, g) in by_key.items()})
    artifacts.refuse_links(ws.config)  # before the store changes
    created = lifecycle.create_batch(
        ws.store, plan, packing=Packing.EXPLICIT, runner=runner, partition=partition
    )
    return publish_prompt(ws, plan, created)


def _plan_usable(
    ws: Workspace, git: GitState, requests: dict[str, tuple[KbFile | Unreviewable, list[str]]]
) -> Plan:
    """The plan of the pairs that can be reviewed; a pair whose note or gate
    cannot be is skipped with the reason, so it never fails its batch-mates."""
    gates = load_found_gates(
        ws.config, dict.fromkeys(g for _, ids in requests.values() for g in ids)
    )
    unusable = {u.key: u for u in gates.unusable}
    usable: list[tuple[KbFile, list[str]]] = []
    skipped: list[SkippedPair] = []
    for key, (note, gate_ids) in requests.items():
        problems = {g: unusable[g] for g in gate_ids if g in unusable}
        if isinstance(note, Unreviewable):
            problems = dict.fromkeys(gate_ids, note)
        skipped += [SkippedPair(key, g, f"{u.reason}: {u.detail}") for g, u in problems.items()]
        ids = [g for g in gate_ids if g not in problems]
        if ids and isinstance(note, KbFile):
            usable.append((note, ids))
    if not usable:
        listing = "; ".join(f"{s.note_path!r} :: {s.gate_id!r}: {s.reason}" for s in skipped)
        raise UserError(f"no pair named can be reviewed ({listing})")
    plan = plan_runs(ws.config, git, usable, gates.gates)
    return replace(plan, skipped=(*plan.skipped, *skipped))


def publish_prompt(ws: Workspace, plan: Plan, created: CreatedBatch) -> PreparedBatch:
    """Render the file-mode prompt of a created batch, record it on the batch
    and write the batch's artifacts. If that fails, the batch's runs fail with
    the reason instead of waiting for an output that can never come."""
    directory = artifacts.batch_dir(ws.config, created.batch_id)
    output = directory / artifacts.OUTPUT
    try:
        run_ids = [run.review_run_id for run in created.runs]
        prompt = render_batch_prompt(
            ws.config, plan, run_ids, token=created.boundary_token, output_path=str(output)
        )
        lifecycle.record_prompt(
            ws.store,
            created.batch_id,
            sha256=prompt.sha256,
            chars=prompt.chars,
            version=prompt.version,
        )
        prompt_path, manifest_path = artifacts.write_batch_files(
            ws.config,
            created.batch_id,
            prompt=prompt.text,
            manifest=batch_manifest(ws.config, plan, created, prompt, external=True),
        )
        assert prompt_path is not None  # a prompt was given
    except UserError as exc:
        for run in created.runs:
            lifecycle.fail_run(ws.store, run.review_run_id, f"prompt not written: {exc}")
        raise
    return PreparedBatch(
        created,
        artifacts.kb_relative(ws.config, prompt_path),
        artifacts.kb_relative(ws.config, output),
        artifacts.kb_relative(ws.config, manifest_path),
    )


def render_batch_prompt(
    config: Config,
    plan: Plan,
    run_ids: Sequence[int],
    *,
    token: str,
    output_path: str | None = None,
) -> RenderedPrompt:
    """The prompt of a batch: the texts the plan read, under the run ids the
    store gave and the batch's boundary token (so what the reviewer sees is
    what the run records). A dry run renders with the ids it would have, or
    zeros, and a fresh token it keeps nowhere."""
    notes, gates = prompt_inputs(config, plan, run_ids)
    return render_prompt(notes, gates, token=token, output_path=output_path)


def prompt_inputs(
    config: Config,
    plan: Plan,
    run_ids: Sequence[int],
    links: dict[str, NoteLinks] | None = None,
    prompt_gates: dict[str, PromptGate] | None = None,
    shown: dict[int, ShownGates] | None = None,
) -> tuple[list[PromptNote], dict[str, PromptGate]]:
    """What a batch's prompt embeds. `links` and `prompt_gates`, when given,
    keep each note's links and each gate across the batches of one sweep (a
    dry run reads a note once per lens and a gate once per note); `shown`
    keeps what a tuple of gates gives (notes alike share one)."""
    notes = []
    kept = {} if prompt_gates is None else prompt_gates
    gates: dict[str, PromptGate] = {}
    for target, run_id in zip(plan.targets, run_ids, strict=True):
        key, text = target.note.key, target.note.text
        found = None if links is None else links.get(key)
        if found is None:
            found = note_links(config.kb_root, key, text)
            if links is not None:
                links[key] = found
        seen = None if shown is None else shown.get(id(target.gates))
        if seen is None:
            seen = ShownGates(target.gates, tuple(g.id for g in target.gates), {})
            for gate in target.gates:
                prompt_gate = kept.get(gate.id)
                if prompt_gate is None:
                    prompt_gate = kept[gate.id] = PromptGate(
                        gate.id, gate.body, conditional=gate.routed
                    )
                seen.prompt_gates[gate.id] = prompt_gate
            if shown is not None:
                shown[id(target.gates)] = seen
        notes.append(PromptNote(run_id, key, text, seen.gate_ids, found))
        if len(plan.targets) == 1:
            return notes, seen.prompt_gates  # shared: read, never changed
        gates.update(seen.prompt_gates)
    return notes, gates


class ShownGates(NamedTuple):
    gates: tuple[Gate, ...]
    """Held, so that its id names no other tuple while the entry lives."""
    gate_ids: tuple[str, ...]
    prompt_gates: dict[str, PromptGate]
