"""commonplace doctor [--json] [--db PATH]: what is wrong with this KB's
setup, and how to fix it. Exit 1 when something is a problem."""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from commonplace.services.doctor import PROBLEM, WARNING, diagnose

    findings = diagnose(Path.cwd(), db=args.db)
    problems = sum(f.severity == PROBLEM for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    payload = {
        "ok": problems == 0,
        "problems": problems,
        "warnings": warnings,
        "findings": [f.as_dict() for f in findings],
    }

    def text() -> str:
        lines = []
        for finding in findings:
            message = app.shown(finding.message, backslashes=False)  # names came escaped
            lines.append(f"{finding.severity:7}  {finding.check}: {message}")
            if finding.fix and finding.severity != "ok":
                lines.append(f"{'':9}fix: {app.shown(finding.fix, backslashes=False)}")
        verdict = "nothing is wrong" if problems == 0 else f"{problems} problem(s)"
        lines.append(f"doctor: {verdict}, {warnings} warning(s)")
        return "\n".join(lines)

    app.emit(args, payload, text)
    return 1 if problems else 0
