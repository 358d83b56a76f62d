"""commonplace-warn-selector [NOTE...] [--model M [--effort E]] [--json]"""

from __future__ import annotations

import argparse

from commonplace.cli import app, note_scope


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notes", nargs="*", metavar="NOTE", help="notes or folders (default: every note)"
    )
    app.add_model(parser, required=False)
    note_scope.add_changed_since(parser)
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.current import fix_queue

    ws = app.workspace(args, reads_only=True)
    entries = fix_queue(ws, note_refs=args.notes, model=args.model, effort=args.effort)
    changed = note_scope.changed_note_keys(args, ws)
    if changed is not None:
        entries = [e for e in entries if e.note_path in changed]
    payload = [
        {
            "note_path": e.note_path,
            "gate_id": e.gate_id,
            "model_id": e.model_id,
            "decision": e.decision,
            "findings": [{"severity": f.severity, "text": f.text} for f in e.findings],
            "gate_review_id": e.gate_review_id,
            "review_run_id": e.review_run_id,
            "reviewed_at": e.reviewed_at,
            "reviewed_note_sha": e.reviewed_note_sha,
            "acceptance_kind": e.acceptance_kind,
        }
        for e in entries
    ]

    def text() -> str:
        lines: list[str] = []
        note = None
        for e in entries:
            if e.note_path != note:
                note = e.note_path
                lines.append(note)
            via = "" if e.acceptance_kind == "full-review" else f", via {e.acceptance_kind}"
            lines.append(f"  [{e.decision}] {e.gate_id} ({e.model_id}{via})")
            lines += [f"    - {f.severity}: {f.text}" for f in e.findings]
        lines.append(f"{len(entries)} review(s) to act on")
        return "\n".join(lines)

    app.emit(args, payload, text)
    return 0
