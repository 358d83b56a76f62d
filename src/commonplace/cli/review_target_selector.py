"""commonplace-review-target-selector [GATES...|--all-gates] --model M [--note ...|--current]"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from commonplace.cli import app

if TYPE_CHECKING:
    from commonplace.review.selector import Selection, StalePair

REASONS = ("missing-review", "gate-changed", "note-changed", "gate-dirty")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gates", nargs="*", metavar="GATE_OR_LENS", help="gate ids or lenses (default: every gate)"
    )
    parser.add_argument("--all-gates", action="store_true", help="every gate of every lens")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--note",
        nargs="+",
        dest="notes",
        metavar="PATH",
        default=[],
        help="notes or folders of notes (default: every reviewable note)",
    )
    scope.add_argument("--current", action="store_true", help="only notes with status: current")
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
        _write_json(selection.pairs)
    else:
        _write_text(selection)
    return 1 if args.fail_on_stale and selection.pairs else 0


def _write_json(pairs: list[StalePair]) -> None:
    # Hand-assembled so that a 400,000-pair answer stays fast; each key and
    # value is still encoded by json.dumps, once per distinct string.
    encode = json.dumps
    cache: dict[str, str] = {}

    def quoted(text: str) -> str:
        value = cache.get(text)
        if value is None:
            value = cache[text] = encode(text)
        return value

    out = sys.stdout
    if not pairs:
        out.write("[]\n")
        return
    rows = []
    for pair in pairs:
        row = (
            f'  {{"note_path": {quoted(pair.note_path)}, "gate_id": {quoted(pair.gate_id)},'
            f' "reason": "{pair.reason.value}"'
        )
        if pair.diff is not None:
            row += f', "diff": {encode(pair.diff)}'
        rows.append(row + "}")
    out.write("[\n" + ",\n".join(rows) + "\n]\n")


def _write_text(selection: Selection) -> None:
    lines: list[str] = []
    current = None
    for pair in selection.pairs:
        if pair.note_path != current:
            current = pair.note_path
            lines.append(pair.note_path)
        lines.append(f"  - {pair.gate_id} ({pair.reason.value})")
    notes = len({p.note_path for p in selection.pairs})
    lines.append(
        f"{len(selection.pairs)} stale pair(s) in {notes} note(s) of "
        f"{selection.notes} for {selection.model_id}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
