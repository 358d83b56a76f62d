"""commonplace-review-target-selector [GATES...|--all-gates] --model M [--note ...|--current]"""

from __future__ import annotations

import argparse
import sys

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.review.selector import Selection, StaleGate, StaleNote

REASONS = ("missing-review", "gate-changed", "note-changed", "gate-dirty", "in-progress")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    parser.add_argument("--all-gates", action="store_true", help="every gate of every lens")
    app.add_note_scope(parser, "every reviewable note")
    app.add_model(parser)
    parser.add_argument(
        "--reason",
        action="append",
        choices=REASONS,
        help="only pairs stale for this reason (repeatable)",
    )
    parser.add_argument(
        "--fail-on-stale", action="store_true", help="exit 1 when anything is stale (for CI)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.errors import UsageError
    from commonplace.review.selector import StaleReason, select_targets

    if args.all_gates and args.gates:
        raise UsageError("name gates or lenses, or give --all-gates, not both")
    selection = select_targets(
        app.workspace(args),
        gate_refs=args.gates,
        model=args.model,
        effort=args.effort,
        note_refs=args.notes,
        current_only=args.current,
        reasons={StaleReason(r) for r in args.reason} if args.reason else None,
        include_diff=args.json,
    )
    if args.json:
        _write_json(selection.stale)
    else:
        _write_text(selection)
    return 1 if args.fail_on_stale and selection.stale else 0


def _write_json(stale: list[StaleNote]) -> None:
    # Assembled by hand so that a 400,000-pair answer stays fast: each note and
    # each (gate, reason) fragment is JSON-encoded once, then joined in C.
    import json

    tails: dict[tuple[str, str], str] = {}

    def tail(gate: StaleGate) -> str:
        if gate.diff is not None:
            return (
                f'{json.dumps(gate.gate_id)}, "reason": "{gate.reason.value}",'
                f' "diff": {json.dumps(gate.diff)}'
            )
        text = tails.get((gate.gate_id, gate.reason))
        if text is None:
            text = f'{json.dumps(gate.gate_id)}, "reason": "{gate.reason.value}"'
            tails[(gate.gate_id, gate.reason)] = text
        return text

    out = sys.stdout
    out.write("[")
    separator = "\n"
    for note in stale:
        head = f'  {{"note_path": {json.dumps(note.note_path)}, "gate_id": '
        out.write(separator + head + ("},\n" + head).join(map(tail, note.gates)) + "}")
        separator = ",\n"
    out.write("\n]\n" if stale else "]\n")


def _write_text(selection: Selection) -> None:
    lines: list[str] = []
    for note in selection.stale:
        lines.append(note.note_path)
        lines.extend(f"  - {g.gate_id} ({g.reason.value})" for g in note.gates)
    pairs = sum(len(n.gates) for n in selection.stale)
    lines.append(
        f"{pairs} stale pair(s) in {len(selection.stale)} note(s) of "
        f"{selection.notes} for {selection.model_id}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
