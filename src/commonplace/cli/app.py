"""What every command shares: option helpers, output, and the error tiers.

Library code raises `UserError` for expected failures; here they become
`error: <message>` on stderr and the error's exit code. Anything else is an
unexpected error (exit 3) with a short report, Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from commonplace.workspace import Workspace

EFFORTS = ("low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    module: str
    help: str


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="review store (default: env COMMONPLACE_REVIEW_DB, then the configured path)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def add_model(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--model", required=required, help="model name or alias (partition)")
    parser.add_argument("--effort", choices=EFFORTS, help="reasoning effort, part of the partition")


def workspace(args: argparse.Namespace) -> Workspace:
    from commonplace.workspace import open_workspace

    return open_workspace(db=getattr(args, "db", None))


def emit(args: argparse.Namespace, payload: Any, text: str | Callable[[], str]) -> None:
    """Print the JSON payload with --json, else the human text."""
    if getattr(args, "json", False):
        json.dump(payload, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        body = text() if callable(text) else text
        if body:
            print(body)


def read_text_input(path: str | None) -> str:
    """The text of `--input-file PATH` (`-` for stdin), or stdin when absent."""
    from commonplace.errors import UserError

    if path is None or path == "-":
        if path is None and sys.stdin.isatty():
            raise UserError("give --input-file PATH or pipe the review on stdin")
        data = sys.stdin.buffer.read()
        where = "stdin"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
        where = path
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where} is not UTF-8 text") from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


def duration(value: str) -> timedelta:
    match = _DURATION.match(value)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration (try 0s, 90m, 2h, 1d): {value}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2) or "s"]
    return timedelta(**{unit: float(match.group(1))})


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {value!r}")
    return number


def run(spec: CommandSpec, argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    module = importlib.import_module(spec.module)
    parser = Parser(prog=prog or f"commonplace-{spec.name}", description=spec.help)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    from commonplace.errors import UserError

    try:
        return int(module.run(args))
    except UserError as exc:
        return _fail(args, exc.message, exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the unexpected tier: a short report, not a crash dump
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return _fail(args, f"unexpected error: {type(exc).__name__}: {exc} (at {where})", 3)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        json.dump({"error": message, "exit_code": code}, sys.stdout)
        sys.stdout.write("\n")
    return code
