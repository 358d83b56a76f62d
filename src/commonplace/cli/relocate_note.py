"""commonplace-relocate-note OLD NEW [--already-moved] [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="the note's current path")
    parser.add_argument("new", metavar="NEW", help="where it goes (must not exist)")
    parser.add_argument(
        "--already-moved",
        action="store_true",
        help="the file is already at NEW; move only its review history",
    )
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services.relocation import relocate_note

    moved = relocate_note(
        app.workspace(args),
        args.old,
        args.new,
        already_moved=args.already_moved,
        dry_run=args.dry_run,
    )
    app.warn(moved.warnings)
    history = (
        f"{moved.review_runs} run(s), {moved.gate_reviews} gate review(s),"
        f" {moved.acceptance_events} acceptance event(s)"
    )
    verb = "would move" if moved.dry_run else f"moved ({moved.moved_by})"
    app.emit(
        args,
        {
            "old_path": moved.old_path,
            "new_path": moved.new_path,
            "moved_by": moved.moved_by,
            "review_runs": moved.review_runs,
            "gate_reviews": moved.gate_reviews,
            "acceptance_events": moved.acceptance_events,
            "dry_run": moved.dry_run,
        },
        f"{verb} {moved.old_path} -> {moved.new_path} with {history}",
    )
    return 0
