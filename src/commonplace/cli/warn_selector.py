"""commonplace-warn-selector [NOTE...] [--model M [--effort E]] [--full]
[--fail-on warn|fail] [--changed-since REF] [--json]"""

from __future__ import annotations

import argparse

from commonplace.cli import app, note_scope

# The text shows this many lines of a suggested revision unless --full.
REVISION_LINES = 6
# --fail-on: the decisions each choice fails on.
FAIL_ON = {"warn": ("warn", "fail"), "fail": ("fail",)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notes", nargs="*", metavar="NOTE", help="notes or folders (default: every note)"
    )
    app.add_model(parser, required=False)
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"show each suggested revision whole (default: its first {REVISION_LINES} lines)",
    )
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        help="exit 1 when an entry at or above this decision is listed (warn: warn or fail)",
    )
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
            "rationale_markdown": e.rationale_markdown,
            "suggested_revision": e.suggested_revision,
            "note_changed": e.note_changed,
            "note_deleted": e.note_deleted,
        }
        for e in entries
    ]

    def text() -> str:
        s = app.shown
        lines: list[str] = []
        note = None
        for e in entries:
            if e.note_path != note:
                note = e.note_path
                lines.append(s(note))
            via = "" if e.acceptance_kind == "full-review" else f", via {s(e.acceptance_kind)}"
            since = " (note deleted since)" if e.note_deleted else ""
            since = since or (" (note changed since)" if e.note_changed else "")
            lines.append(f"  [{e.decision}] {s(e.gate_id)} ({s(e.model_id)}{via}){since}")
            lines += [f"    - {s(f.severity)}: {s(f.text)}" for f in e.findings]
            lines += _revision_lines(e.suggested_revision, args.full)
        lines.append(f"{len(entries)} review(s) to act on")
        return "\n".join(lines)

    app.emit(args, payload, text)
    if args.fail_on and any(e.decision in FAIL_ON[args.fail_on] for e in entries):
        return 1
    return 0


def _revision_lines(revision: str | None, full: bool) -> list[str]:
    """The suggested revision indented under its entry, cut short unless `full`."""
    if not revision:
        return []
    body = revision.splitlines()
    shown = body if full else body[:REVISION_LINES]
    lines = ["    suggested revision:", *(f"      {app.shown(line)}" for line in shown)]
    if len(shown) < len(body):
        lines.append(f"      ... ({len(body) - len(shown)} more line(s); --full shows all)")
    return lines
