"""commonplace show NOTE [--model M [--effort E]] [--history] [--json]"""

from __future__ import annotations

import argparse

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.labels import Label
    from commonplace.services.note_story import GateStory, HistoryEvent, NoteStory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "One note's reviews: per partition and applicable gate, the current decision,"
        " whether it is fresh or why it is stale, the findings and the suggested revision,"
        " when and by which runner; --history adds every run, acceptance, relocation"
        " and rekey of the note over time."
    )
    parser.add_argument("note", metavar="NOTE", help="the note (from here or the KB root)")
    app.add_model(parser, required=False)
    parser.add_argument(
        "--history", action="store_true", help="also list the note's events over time"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from commonplace.services.note_story import note_story

    story = note_story(
        app.workspace(args, reads_only=True),
        args.note,
        model=args.model,
        effort=args.effort,
        history=args.history,
    )
    payload = asdict(story)
    for partition in payload["partitions"]:
        for gate in partition["gates"]:  # a finding is a NamedTuple: an object in JSON
            gate["findings"] = [finding._asdict() for finding in gate["findings"]]
    if story.history is None:
        del payload["history"]
    app.emit(args, payload, lambda: render(story))
    return 0


def render(story: NoteStory) -> str:
    """The story as terminal text; everything from the store or the KB is escaped."""
    s = app.shown
    lines = [f"{s(story.note_path)}  (note {story.note_sha[:12]})"]
    if not story.applicable_gates:
        lines.append("  no gate applies to this note")
    if not story.partitions:
        lines.append(
            "  never reviewed in any partition"
            f" ({len(story.applicable_gates)} applicable gate(s); pick one with --model)"
        )
    for partition in story.partitions:
        lines.append("")
        lines.append(f"partition {s(partition.model_id)}")
        for gate in partition.gates:
            lines += _gate_lines(gate)
    if story.labels:
        lines.append("")
        lines.append("labels (oldest first)")
        lines += [_label_line(label, story.note_sha) for label in story.labels]
    if story.history is not None:
        lines.append("")
        lines.append("history (oldest first)")
        lines += [_event_line(e) for e in story.history] or ["  (none)"]
    return "\n".join(lines)


def _gate_lines(gate: GateStory) -> list[str]:
    s = app.shown
    if gate.decision is None:
        return [f"  {s(gate.gate_id)}: never reviewed [{gate.staleness}]"]
    via = "" if gate.acceptance_kind == "full-review" else f", via {s(gate.acceptance_kind or '')}"
    lines = [f"  {s(gate.gate_id)}: {gate.decision} [{gate.staleness}]"]
    lines.append(
        f"    reviewed {s(gate.reviewed_at or '')} by {s(gate.runner or '?')}"
        f" (run {gate.review_run_id}{via})"
    )
    lines += [f"    - {s(f.severity)}: {s(f.text)}" for f in gate.findings]
    if gate.suggested_revision:
        lines.append("    suggested revision:")
        lines += [f"      {s(line)}" for line in gate.suggested_revision.splitlines()]
    return lines


def _label_line(label: Label, note_sha: str) -> str:
    s = app.shown
    parts = [s(label.created_at), s(label.gate_id), label.decision, f"by {s(label.labeller)}"]
    if label.model_id:
        parts.append(f"for {s(label.model_id)}")
    if label.acceptance_event_id is not None:
        parts.append("(accepted)")
    if label.note_sha != note_sha:
        parts.append(f"[of note {label.note_sha[:12]}]")
    line = "  " + " ".join(parts)
    return line + (f": {s(label.why)}" if label.why else "")


def _event_line(event: HistoryEvent) -> str:
    s = app.shown
    parts = [s(event.at), event.kind]
    if event.model_id:
        parts.append(s(event.model_id))
    if event.gate_id:
        parts.append(s(event.gate_id))
    if event.review_run_id is not None:
        parts.append(f"run {event.review_run_id}")
    if event.runner:
        parts.append(f"by {s(event.runner)}")
    if event.outcome:
        parts.append(s(event.outcome))
    if event.detail:
        parts.append(f"({s(event.detail)})")
    return "  " + " ".join(parts)
