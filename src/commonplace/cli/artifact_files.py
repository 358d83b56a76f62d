"""`commonplace-review-store artifacts [--batch] ID...` and `prune-artifacts
[--dry-run]`: the review artifacts the store can write again."""

from __future__ import annotations

import argparse

from commonplace.cli import app


def run(args: argparse.Namespace) -> int:
    from commonplace.services import artifact_upkeep

    ws = app.workspace(args, reads_only=True)
    if args.action == "prune-artifacts":
        pruned = artifact_upkeep.prune(ws, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        app.emit(
            args,
            {
                "dry_run": args.dry_run,
                "removed": pruned.removed,
                "bytes_freed": pruned.bytes_freed,
                "kept": pruned.kept,
            },
            lambda: "\n".join(
                [
                    *pruned.removed,
                    f"{verb} {len(pruned.removed)} file(s), {pruned.bytes_freed} bytes;"
                    f" kept {pruned.kept} the store cannot write again",
                ]
            ),
        )
        return 0
    done = artifact_upkeep.regenerate(
        ws, run_ids=_ids(args.file, "review run"), batch_ids=_ids(args.batch, "batch")
    )
    app.warn(done.notes)
    app.emit(
        args,
        {"written": done.written, "unchanged": done.unchanged, "notes": done.notes},
        lambda: "\n".join(
            [*done.written, f"wrote {len(done.written)} file(s), {len(done.unchanged)} unchanged"]
        ),
    )
    return 0


def _ids(values: list[str], what: str) -> list[int]:
    from commonplace.errors import UsageError

    for raw in values:
        if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
            raise UsageError(f"not a {what} id: {raw!r}")
    return [int(raw) for raw in values]
