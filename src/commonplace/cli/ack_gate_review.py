"""commonplace-ack-gate-review NOTE GATE_OR_LENS... --model M [--expect-note-sha SHA]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("note", help="the note whose current version is accepted")
    parser.add_argument("gates", nargs="+", metavar="GATE_OR_LENS")
    app.add_model(parser)
    parser.add_argument(
        "--expect-note-sha",
        metavar="SHA",
        help="refuse unless the note is still this version (the one inspected)",
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.ack import ack_gate_review

    acked = ack_gate_review(
        app.workspace(args),
        note_ref=args.note,
        gate_refs=args.gates,
        model=args.model,
        effort=args.effort,
        expect_note_sha=args.expect_note_sha,
    )
    payload = {
        "acked": [
            {
                "note_path": a.note_path,
                "gate_id": a.gate_id,
                "model_id": a.model_id,
                "note_sha": a.note_sha,
                "gate_sha": a.gate_sha,
                "acceptance_event_id": a.acceptance_event_id,
            }
            for a in acked
        ]
    }
    app.emit(
        args, payload, "\n".join(f"acked: {a.note_path} {a.gate_id} ({a.model_id})" for a in acked)
    )
    return 0
