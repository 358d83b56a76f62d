"""commonplace label NOTE GATE --decision pass|warn|fail [--why TEXT] [--model M [--effort E]]
[--accept] [--by NAME] [--json]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Record a person's verdict on one (note, gate) pair, tied to the committed note"
        " and gate versions it judged. Labels feed `calibrate` as cases and are set"
        " against the models' reviews of the same versions. With --accept (and --model)"
        " the pair is also accepted in that partition as a manual override: it is fresh"
        " until the note or gate changes, and the fix queue shows the label's decision."
    )
    parser.add_argument("note", metavar="NOTE", help="the note judged (committed)")
    parser.add_argument("gate", metavar="GATE", help="the gate judged (one gate, not a lens)")
    parser.add_argument("--decision", required=True, choices=("pass", "warn", "fail"))
    parser.add_argument("--why", metavar="TEXT", help="the reason, in a few words")
    app.add_model(parser, required=False)
    parser.add_argument(
        "--accept",
        action="store_true",
        help="also accept the pair in the --model partition (a manual-override acceptance)",
    )
    parser.add_argument(
        "--by", metavar="NAME", help="who labels (default: git user.name and user.email, $USER)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from commonplace.services.labels import record_label

    label = record_label(
        app.workspace(args),
        note_ref=args.note,
        gate_ref=args.gate,
        decision=args.decision,
        why=args.why,
        model=args.model,
        effort=args.effort,
        accept=args.accept,
        by=args.by,
    )
    s = app.shown
    text = f"labelled: {s(label.note_path)} {s(label.gate_id)} {label.decision}"
    if label.model_id:
        text += f" ({s(label.model_id)})"
    if label.acceptance_event_id is not None:
        text += f"; accepted as a manual override (event {label.acceptance_event_id})"
    app.emit(args, asdict(label), text)
    return 0
