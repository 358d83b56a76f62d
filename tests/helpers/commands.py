"""Running the commands: in-process (what the `cli` fixture returns) and as the
installed console scripts, in real processes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


class Stdin:
    """A text stdin with a binary buffer, like the real one when piped."""

    def __init__(self, text: str) -> None:
        self.buffer = io.BytesIO(text.encode("utf-8"))

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self.buffer.read().decode("utf-8")


def console_script(name: str) -> str:
    """The installed console script next to this interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_script(
    name: str,
    args: Sequence[str],
    *,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(name), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
