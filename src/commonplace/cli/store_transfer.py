"""`commonplace-review-store export [--out FILE]` and `import FILE`: the
review history moved between stores (services/transfer.py)."""

from __future__ import annotations

import argparse
import sys

from commonplace.cli import app


def run(args: argparse.Namespace) -> int:
    return _export(args) if args.action == "export" else _import(args)


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from commonplace.safe_files import writing_file
    from commonplace.services.transfer import export_lines

    ws = app.workspace(args, reads_only=True)
    if args.out is None:
        for line in export_lines(ws.store):
            sys.stdout.buffer.write(line.encode("ascii"))
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.out)
    rows = 0
    # anywhere the user names, but never through a link, nor inside the KB through one
    with writing_file(
        ws.config.kb_root,
        out if out.is_absolute() else ws.cwd / out,
        setting="--out",
        outside_ok=True,
    ) as handle:
        for line in export_lines(ws.store):
            handle.write(line.encode("ascii"))
            rows += 1
    rows -= 2  # the header and the end line
    app.emit(
        args,
        {"store": ws.store.name, "out": args.out, "rows": rows},
        f"exported {rows} row(s) of {ws.store.name} to {app.shown(args.out)}",
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from commonplace.services.transfer import import_dump, open_dump

    ws = app.workspace(args)
    with open_dump(args.file, sys.stdin.buffer) as source:
        summary = import_dump(ws.store, source, "stdin" if args.file == "-" else args.file)
    tables = {name: asdict(counts) for name, counts in summary.tables.items()}
    app.emit(
        args,
        {
            "source": summary.source,
            "store": summary.store,
            "added": summary.added,
            "tables": tables,
        },
        lambda: "\n".join(
            [
                *(
                    f"{name}: {c['read']} read, {c['added']} added, {c['already_present']}"
                    f" already present, {c['differing']} differing, {c['skipped']} skipped"
                    for name, c in tables.items()
                ),
                f"imported {summary.added} row(s) into {summary.store}",
            ]
        ),
    )
    return 0
