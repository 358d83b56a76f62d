"""commonplace init [--example-gates] [--root DIR]"""

from __future__ import annotations

import argparse

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.init import InitResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="the KB root (default: the git top level at or above the working directory,"
        " else the working directory)",
    )
    parser.add_argument(
        "--example-gates",
        action="store_true",
        help="also add a starter lens of four gates to the gates folder (never overwrites)",
    )
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from commonplace.services.init import choose_root, init_kb

    root = choose_root(Path(args.root) if args.root else None, Path.cwd())
    result = init_kb(root, example_gates=args.example_gates)
    app.emit(args, _payload(result), lambda: _text(result))
    return 0


def _payload(result: InitResult) -> dict[str, object]:
    layout = result.layout
    return {
        "kb_root": str(result.kb_root),
        "config_file": "commonplace.toml",
        "scan_roots": list(layout.scan_roots),
        "gates_dir": layout.gates_dir,
        "reports_dir": layout.reports_dir,
        "store": layout.store,
        "notes_found": layout.notes_found,
        "gates_found": layout.gates_found,
        "scan_roots_detected": layout.roots_detected,
        "gates_dir_detected": layout.gates_detected,
        "left_out": list(layout.left_out),
        "walk_truncated": layout.truncated,
        "gitignore_added": list(result.gitignore_added),
        "gitignore_created": result.gitignore_created,
        "gates_written": list(result.gates_written),
        "gates_kept": list(result.gates_kept),
        "git": result.is_git,
    }


def _text(result: InitResult) -> str:
    import shlex

    layout = result.layout
    roots = ", ".join(app.shown(r) for r in layout.scan_roots)
    lines = [f"wrote commonplace.toml in {app.shown(str(result.kb_root))}"]
    if layout.roots_detected:
        lines.append(f"  scan_roots = {roots} ({layout.notes_found} note(s) found)")
    else:
        lines.append(f"  scan_roots = {roots} (no note found: the defaults)")
    found = f"{layout.gates_found} gate(s)" if layout.gates_found else "no gate yet"
    lines.append(f"  gates_dir = {app.shown(layout.gates_dir)} ({found})")
    lines.append(f"  store = {app.shown(layout.store)}")
    if result.gitignore_added:
        verb = "created" if result.gitignore_created else "added to"
        entries = [line for line in result.gitignore_added if not line.startswith("#")]
        lines.append(f"{verb} .gitignore: {' '.join(entries)}")
    else:
        lines.append(".gitignore already ignores the store and artifacts")
    lines += [f"wrote starter gate {app.shown(g)}" for g in result.gates_written]
    lines += [f"kept starter gate {app.shown(g)} (it exists)" for g in result.gates_kept]
    if layout.left_out:
        lines.append(
            f"note: {len(layout.left_out)} note(s) are in no scan root (first:"
            f" {app.shown(layout.left_out[0])}); move them into a folder of notes"
        )
    if layout.truncated:
        lines.append("note: the KB is very large; init looked at part of it: check scan_roots")
    lines += ["", "next steps:"]
    if result.is_git:
        new = ["commonplace.toml", ".gitignore"]
        if result.gates_written:
            new.append(f"{layout.gates_dir}/starter")
        lines.append(
            f"  git add {' '.join(shlex.quote(app.shown(n)) for n in new)} && git commit"
            "   # gates are reviewed from committed text"
        )
    lines += [
        "  commonplace doctor                   # check the configuration",
        "  commonplace status --model MODEL     # what is stale",
        "  commonplace review --runner claude-code --model sonnet   # review the stale pairs",
    ]
    return "\n".join(lines)
