"""commonplace-review-report --format html|markdown|json|sarif|junit [--model M]
[--note PATH...] [--out F] [--repository-url URL]"""

from __future__ import annotations

import argparse

from commonplace.cli import app, note_scope
from commonplace.reports import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, help="html, markdown, json, sarif or junit")
    app.add_model(parser, required=False)
    parser.add_argument(
        "--note",
        nargs="+",
        dest="notes",
        metavar="PATH",
        default=[],
        help="notes or folders to report on (markdown: one note, or none for the fix-first order)",
    )
    note_scope.add_changed_since(parser)
    parser.add_argument("--out", metavar="FILE", help="write the report here (default: stdout)")
    parser.add_argument(
        "--repository-url",
        metavar="URL",
        help="link notes and gates into this repository browser, e.g."
        " https://github.com/ORG/REPO/blob/main/ (default: [report] repository_url, else"
        " links relative to the report)",
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from commonplace.errors import UsageError, UserError
    from commonplace.reports import iter_report
    from commonplace.safe_files import writing_file

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json is --format json; it cannot go with --format {args.format}")
    report_format = "json" if args.json else args.format
    if report_format is None:
        raise UsageError("name a --format (html, markdown, json, sarif or junit)")
    if report_format == "markdown" and len(args.notes) > 1:
        raise UsageError("--format markdown reports one --note PATH, or every note without --note")
    repository_url = None
    if args.repository_url is not None:
        from commonplace.settings import repository_url as checked_url

        repository_url = checked_url(args.repository_url, "--repository-url")
    ws = app.workspace(args, reads_only=True)
    out = None if args.out is None else Path(args.out)
    if out is not None and not out.is_absolute():
        out = ws.cwd / out
    pieces = iter_report(
        ws,
        format=report_format,
        model=args.model,
        effort=args.effort,
        note_refs=tuple(args.notes),
        changed=note_scope.changed_scope(args, ws),
        report_dir=None if out is None else out.parent,
        repository_url=repository_url,
    )
    if out is None:
        for piece in pieces:
            sys.stdout.write(piece)
        return 0
    # anywhere the user names, but never through a link, nor inside the KB
    # through one; written piece by piece, renamed into place when whole
    try:
        with writing_file(ws.config.kb_root, out, setting="--out", outside_ok=True) as handle:
            for piece in pieces:
                handle.write(piece.encode("utf-8"))
    except OSError as exc:  # a full disk, a file size limit: the old file stays
        raise UserError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"wrote {report_format} report to {args.out}", file=sys.stderr)
    return 0
