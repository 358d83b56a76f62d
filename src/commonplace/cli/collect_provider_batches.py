"""commonplace-collect-provider-batches [--json] [--cancel JOB]"""

from __future__ import annotations

import argparse
import sys

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.provider_collect import CollectReport
    from commonplace.services.sweeps import SweepReport
    from commonplace.workspace import Workspace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cancel",
        metavar="JOB",
        help="cancel this provider job; its runs fail as cancelled once the provider says so",
    )
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.services import provider_collect

    ws = app.workspace(args)
    if args.cancel is not None:
        report = provider_collect.cancel(ws, args.cancel)
    else:
        report = provider_collect.collect(ws)
    app.emit(args, report.as_dict(), lambda: _text(report))
    return 1 if any(job.error for job in report.jobs) else 0


def _text(report: CollectReport) -> str:
    if not report.jobs:
        return "no provider batch job waiting to be collected"
    lines = []
    for job in report.jobs:
        counts = ", ".join(f"{k} {v}" for k, v in job.counts.items() if v)
        state = "collected" if job.ended else "waiting"
        line = f"{app.shown(job.job_id)} ({job.provider}): {app.shown(job.status)}, {state}"
        line += f" [{counts}]" if counts else ""
        if job.completed or job.failed:
            line += f"; {job.completed} run(s) completed, {job.failed} failed"
        if job.error:
            line += f"; could not ask the provider: {app.shown(job.error, backslashes=False)}"
        lines.append(line)
    lines.append(f"{len(report.jobs) - report.open} job(s) collected, {report.open} still open")
    return "\n".join(lines)


def emit_submission(args: argparse.Namespace, ws: Workspace, report: SweepReport) -> int:
    """What a `--provider-batch` sweep submitted; with `--wait`, collect until done."""
    from commonplace.services import provider_collect

    submission = report.submission
    assert submission is not None
    ids = [job.job_id for job in submission.jobs]
    payload: dict[str, object] = {
        "runner": report.runner,
        "model_id": report.model_id,
        "jobs": [
            {"job_id": job.job_id, "status": job.status, "batch_ids": list(job.batch_ids)}
            for job in submission.jobs
        ],
        "requests": submission.requests,
        "refused": [{"batch_ids": list(b), "reason": why} for b, why in submission.refused],
        "skipped": app.skipped_pairs(report.skipped),
        "notices": list(report.notices),
    }
    lines = [
        f"submitted {submission.requests} request(s) (one per batch) in {len(ids)}"
        f" provider batch job(s) ({report.model_id}): {', '.join(map(app.shown, ids)) or '-'}"
    ]
    lines += [
        f"not submitted: batch(es) {', '.join(map(str, b))}: {app.shown(why, backslashes=False)}"
        for b, why in submission.refused
    ]
    lines += [
        f"skipped {app.shown(s.note_path)} :: {app.shown(s.gate_id)}: {s.reason}"
        for s in report.skipped
    ]
    code = 1 if submission.refused else 0
    if getattr(args, "wait", False) and ids:

        def progress(now: CollectReport) -> None:
            done = sum(1 for job in now.jobs if job.ended)
            counts: dict[str, int] = {}
            for job in now.jobs:
                for key, value in job.counts.items():
                    counts[key] = counts.get(key, 0) + int(value or 0)
            shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            print(f"\rprovider jobs: {done}/{len(ids)} ended [{shown}]", end="", file=sys.stderr)

        collected = provider_collect.wait(ws, ids, poll_s=args.poll_seconds, progress=progress)
        print(file=sys.stderr)
        payload["collected"] = collected.as_dict()
        lines.append(_text(collected))
        if any(job.failed for job in collected.jobs):
            code = 1
    else:
        lines.append("collect the results with commonplace-collect-provider-batches")
    app.emit(args, payload, "\n".join(lines))
    return code
