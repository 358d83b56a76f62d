"""commonplace-review-store check|migrate|stats|export [--out FILE]|import FILE"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("check", "migrate", "stats", "export", "import"))
    parser.add_argument("file", nargs="?", metavar="FILE", help="import: the dump (- for stdin)")
    parser.add_argument(
        "--out", metavar="FILE", help="export: write the dump here (default: stdout)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.store import check as storecheck

    _check_usage(args)
    if args.action in ("export", "import"):
        from commonplace.cli import store_transfer

        return store_transfer.run(args)
    ws = app.workspace(args, reads_only=args.action != "migrate")
    if args.action == "migrate":
        before, after = ws.store.migrate()
        app.emit(
            args,
            {"path": ws.store.name, "from_version": before, "to_version": after},
            f"{ws.store.name}: schema version {before} -> {after}",
        )
        return 0
    if args.action == "stats":
        stats = storecheck.store_stats(ws.store)
        app.emit(args, stats, "\n".join(f"{k}: {_plain(v)}" for k, v in stats.items()))
        return 0
    report = storecheck.check_store(ws.store)
    app.emit(
        args,
        {
            "ok": report.ok,
            "schema_version": report.schema_version,
            "violations": list(report.violations),
            "running_runs": report.running_runs,
        },
        lambda: "\n".join(
            [
                *report.violations,
                f"{'ok' if report.ok else 'FAILED'}: {len(report.violations)} "
                f"violation(s), {report.running_runs} run(s) running",
            ]
        ),
    )
    if report.ok:
        return 0
    app.error(f"review store {ws.store.name} failed its check: {len(report.violations)} problem(s)")
    return 1


def _check_usage(args: argparse.Namespace) -> None:
    from commonplace.errors import UsageError

    if args.action == "import" and args.file is None:
        raise UsageError(
            "import needs the dump: commonplace-review-store import FILE (- for stdin)"
        )
    if args.action != "import" and args.file is not None:
        raise UsageError(f"{args.action} takes no FILE argument")
    if args.action != "export" and args.out is not None:
        raise UsageError("--out goes with export only")
    if args.action == "export" and args.json and args.out is None:
        raise UsageError("export --json needs --out FILE: without it stdout is the dump")


def _plain(value: object) -> str:
    """`{'completed': 5, 'failed': 1}` as `completed 5, failed 1`."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)
