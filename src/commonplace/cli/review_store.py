"""commonplace-review-store check|migrate|stats|export [--out FILE]|import FILE
|artifacts [--batch] ID...|prune-artifacts [--dry-run]"""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("check", "migrate", "stats", "export", "import", "artifacts", "prune-artifacts"),
    )
    parser.add_argument(
        "file",
        nargs="*",
        metavar="ARG",
        help="import: the dump FILE (- for stdin); artifacts: the review run ids whose"
        " files to write again from the store",
    )
    parser.add_argument(
        "--batch",
        nargs="+",
        default=[],
        metavar="ID",
        help="artifacts: review batch ids (their output file and their runs' files)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="prune-artifacts: list what would be removed and the bytes freed; remove nothing",
    )
    parser.add_argument(
        "--out", metavar="FILE", help="export: write the dump here (default: stdout)"
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.store import check as storecheck

    _check_usage(args)
    if args.action in ("artifacts", "prune-artifacts"):
        from commonplace.cli import artifact_files

        return artifact_files.run(args)
    args.file = args.file[0] if args.file else None
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
        from commonplace.services.artifact_upkeep import artifact_bytes

        stats = storecheck.store_stats(ws.store)
        reviews = stats["gate_reviews"]
        pairs = sum(reviews.values()) if isinstance(reviews, dict) else 0
        total = int(str(stats["store_bytes"])) + (files := artifact_bytes(ws.config))
        stats |= {
            "artifact_bytes": files,
            "reviewed_pairs": pairs,
            "bytes_per_reviewed_pair": round(total / pairs) if pairs else None,
        }
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

    if args.action == "import" and len(args.file) != 1:
        raise UsageError(
            "import needs the dump: commonplace-review-store import FILE (- for stdin)"
        )
    if args.action == "artifacts" and not args.file and not args.batch:
        raise UsageError(
            "artifacts needs review run ids or --batch ids:"
            " commonplace-review-store artifacts 7 8 --batch 3"
        )
    if args.action not in ("import", "artifacts") and args.file:
        raise UsageError(f"{args.action} takes no argument")
    if args.batch and args.action != "artifacts":
        raise UsageError("--batch goes with artifacts only")
    if args.dry_run and args.action != "prune-artifacts":
        raise UsageError("--dry-run goes with prune-artifacts only")
    if args.action != "export" and args.out is not None:
        raise UsageError("--out goes with export only")
    if args.action == "export" and args.json and args.out is None:
        raise UsageError("export --json needs --out FILE: without it stdout is the dump")


def _plain(value: object) -> str:
    """`{'completed': 5, 'failed': 1}` as `completed 5, failed 1`."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)
