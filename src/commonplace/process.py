"""The one place that starts short-lived external processes (git and friends)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from commonplace.errors import UserError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        detail = (
            self.stderr.decode("utf-8", "replace").strip()
            or self.stdout.decode("utf-8", "replace").strip()
        )
        return f"`{' '.join(self.argv)}` exited {self.returncode}: {detail}"


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> Completed:
    """Run a command to completion and capture its output.

    With `check`, a non-zero exit raises `UserError` naming the command, its exit
    code and what it printed; a missing executable always does.
    """
    try:
        proc = subprocess.run(list(argv), cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise UserError(f"command not found: {argv[0]}") from exc
    result = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise UserError(result.describe())
    return result
