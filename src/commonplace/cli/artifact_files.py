"""`commonplace-review-store artifacts [--batch] ID...` and `prune-artifacts
[--dry-run]`: the review artifacts the store can write again."""

from __future__ import annotations

import argparse

from commonplace.cli import app


def run(args: argparse.Namespace) -> int:
    from commonplace.errors import UsageError
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
    ids: list[int] = []
    for raw in args.file:
        if not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
            raise UsageError(f"not a {'batch' if args.batch else 'review run'} id: {raw!r}")
        ids.append(int(raw))
    done = artifact_upkeep.regenerate(
        ws, run_ids=[] if args.batch else ids, batch_ids=ids if args.batch else []
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
