"""commonplace-ack-trivial-note-changes [GATES...] --model M [--note ...|--current] [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.ack import TrivialAckReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    app.add_note_scope(parser, "every reviewable note")
    app.add_model(parser)
    parser.add_argument("--dry-run", action="store_true", help="report, ack nothing")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.ack import ack_trivial_note_changes

    report = ack_trivial_note_changes(
        app.workspace(args, reads_only=True),
        gate_refs=args.gates,
        model=args.model,
        effort=args.effort,
        note_refs=args.notes,
        current_only=args.current,
        user_verified=args.user_verified,
        dry_run=args.dry_run,
    )
    app.emit(args, _payload(report), lambda: _text(report))
    return 0


def _payload(report: TrivialAckReport) -> dict[str, object]:
    events = {(a.note_path, a.gate_id): a.acceptance_event_id for a in report.acked}
    return {
        "model_id": report.model_id,
        "dry_run": report.dry_run,
        "acked": [
            {
                "note_path": c.note_path,
                "gate_id": c.gate_id,
                "note_sha": c.note_sha,
                "acceptance_event_id": events.get((c.note_path, c.gate_id)),
            }
            for c in report.checked
            if c.trivial
        ],
        "not_trivial": [
            {
                "note_path": c.note_path,
                "gate_id": c.gate_id,
                "changed": list(c.changed),
                **({"reason": c.reason} if c.reason else {}),
            }
            for c in report.checked
            if not c.trivial
        ],
    }


def _text(report: TrivialAckReport) -> str:
    verb = "would ack" if report.dry_run else "acked"
    lines = []
    for c in report.checked:
        if c.trivial:
            lines.append(f"{verb}: {c.note_path} {c.gate_id}")
        else:
            why = c.reason or f"changed: {', '.join(c.changed)}"
            lines.append(f"kept: {c.note_path} {c.gate_id} ({why})")
    trivial = sum(1 for c in report.checked if c.trivial)
    lines.append(
        f"{verb} {trivial} of {len(report.checked)} note-changed pair(s) for {report.model_id}"
    )
    return "\n".join(lines)
