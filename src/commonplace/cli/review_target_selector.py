"""commonplace-review-target-selector [GATES...|--all-gates] [--model M] [--note ...|--current]"""

from __future__ import annotations

import argparse
import sys

from commonplace.choices import UNREVIEWABLE_REASONS, StaleReason
from commonplace.cli import app, bulk, note_scope

REASONS: tuple[str, ...] = tuple(StaleReason)
# Notes and gates that cannot be reviewed: listed, never stale.
UNREVIEWABLE: tuple[str, ...] = UNREVIEWABLE_REASONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    parser.add_argument(
        "--all-gates",
        action="store_true",
        help="every gate: each lens's, then each type and collection gate",
    )
    app.add_note_scope(parser, "every reviewable note")
    app.add_model(parser, required=False, default="model under [defaults]")
    parser.add_argument(
        "--reason",
        action="append",
        choices=REASONS + UNREVIEWABLE,
        help="only pairs stale for this reason, or notes and gates that cannot be reviewed"
        " for this reason (repeatable)",
    )
    note_scope.add_changed_since(parser)
    parser.add_argument(
        "--changed-files",
        action="store_true",
        help="read the positional arguments as changed files (what a pre-commit hook gets)"
        " instead of gates: the notes among them, and the notes under the gates among them;"
        " other files are skipped",
    )
    parser.add_argument(
        "--fail-on-stale",
        action="store_true",
        help="exit 1 when anything is stale (for CI); notes and gates that cannot be reviewed"
        " are listed but do not count",
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.errors import UsageError
    from commonplace.services.selector import select_targets

    if args.all_gates and args.gates:
        raise UsageError("name gates or lenses, or give --all-gates, not both")
    if args.changed_files and (args.all_gates or args.changed_since):
        raise UsageError("--changed-files takes no --all-gates or --changed-since")
    ws = app.workspace(args, reads_only=True)
    model, effort = app.model_and_effort(args, ws)
    gate_refs = [] if args.changed_files else args.gates
    changed = note_scope.changed_scope(args, ws, gate_refs)
    if args.changed_files:
        from commonplace.services.changes import among_files

        changed = among_files(ws, args.gates)
    wanted = set(args.reason or ())
    stale_reasons = {StaleReason(r) for r in wanted if r not in UNREVIEWABLE}
    with bulk.collecting_rarely():
        selection = select_targets(
            ws,
            gate_refs=gate_refs,
            model=model,
            effort=effort,
            note_refs=args.notes,
            current_only=args.current,
            user_verified=args.user_verified,
            reasons=stale_reasons or None,
            include_diff=args.json,
            changed=changed,
        )
    if wanted:  # --reason names what to list, stale pairs and the others alike
        selection = selection._replace(
            stale=selection.stale if stale_reasons else [],
            unreviewable=tuple(u for u in selection.unreviewable if u.reason in wanted),
        )
    from commonplace.cli import selector_output

    if args.json:
        selector_output.write_json(sys.stdout, selection.stale, selection.unreviewable)
    else:
        selector_output.write_text(sys.stdout, selection)
    if changed is not None and not selection.notes:
        # A change that touches no note is nothing to check, not a failure.
        print(changed.empty_message(), file=sys.stderr)
    elif args.fail_on_stale and not selection.notes:
        # Nothing checked is not "nothing stale": CI must not pass on an empty scope.
        app.error("no notes in scope, so --fail-on-stale cannot pass")
        return 1
    failing = selection.stale
    if args.changed_files:
        # A gate being committed cannot be reviewed before its commit
        # (gate-dirty); failing on it would make a gate impossible to commit.
        failing = [
            n for n in failing if any(g.reason is not StaleReason.GATE_DIRTY for g in n.gates)
        ]
    return 1 if args.fail_on_stale and failing else 0
