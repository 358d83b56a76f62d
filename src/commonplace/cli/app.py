"""What every command shares: option helpers, output, and the error tiers.

Library code raises `UserError` for expected failures; here they become
`error: <message>` on stderr and the error's exit code. Anything else is an
unexpected error (exit 3) with a short report, Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import sys

# Start-up time matters for every command, so this module imports only what
# parsing needs; everything else is imported where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import timedelta
    from pathlib import Path
    from typing import Any, NoReturn

    from commonplace.workspace import Workspace

# Mirrors review.partitions.EFFORTS, which resolve_partition validates; kept
# here so that building a parser does not import the store and its SQLite.
EFFORTS = ("low", "medium", "high", "xhigh", "max")


class CommandSpec:
    """A command: its name after `commonplace-`, its module, its one-line help."""

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name, self.module, self.help = name, module, help


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


def add_note_scope(parser: argparse.ArgumentParser, default: str) -> None:
    """`--note PATH...` or `--current`; `default` says what neither means."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--note",
        nargs="+",
        dest="notes",
        metavar="PATH",
        default=[],
        help=f"notes or folders of notes (default: {default})",
    )
    scope.add_argument("--current", action="store_true", help="only notes with status: current")


def workspace(args: argparse.Namespace) -> Workspace:
    from commonplace.workspace import open_workspace

    return open_workspace(db=getattr(args, "db", None))


def emit(args: argparse.Namespace, payload: Any, text: str | Callable[[], str]) -> None:
    """Print the JSON payload with --json, else the human text."""
    if getattr(args, "json", False):
        import json

        json.dump(payload, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        body = text() if callable(text) else text
        if body:
            print(body)


def error(message: str) -> None:
    """An `error: ...` line on stderr, for outcomes that are failures but not
    exceptions (a run that ended failed)."""
    print(f"error: {message}", file=sys.stderr)


def warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)


def read_input_bytes(path: str | None, *, kb_root: Path | None = None) -> bytes:
    """The bytes of `--input-file PATH` (`-` for stdin), or stdin when absent,
    within the output cap; a path that is not a regular file is refused.
    A relative path missing from the working directory is looked up from the
    KB root, where the paths commands report are relative to."""
    from pathlib import Path

    from commonplace.errors import UserError
    from commonplace.review.capped import read_capped_stream, read_regular_file

    if path is None or path == "-":
        if path is None and sys.stdin.isatty():
            raise UserError("give --input-file PATH or pipe the input on stdin")
        return read_capped_stream(sys.stdin.buffer, name="stdin")
    file = Path(path)
    if kb_root is not None and not file.is_absolute() and not file.exists():
        file = kb_root / file if (kb_root / file).exists() else file
    return read_regular_file(file, name=path)


def read_text_input(path: str | None) -> str:
    """Like `read_input_bytes`, decoded as UTF-8."""
    from commonplace.errors import UserError

    try:
        return read_input_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        where = "stdin" if path in (None, "-") else path
        raise UserError(f"{where} is not UTF-8 text") from None


def skipped_pairs(skipped: Sequence[Any]) -> list[dict[str, str]]:
    """Skipped pairs (`targets.SkippedPair`) as the JSON contracts list them."""
    return [{"note_path": s.note_path, "gate_id": s.gate_id, "reason": s.reason} for s in skipped]


def emit_outcome(args: argparse.Namespace, outcome: Any) -> int:
    """Print a run's outcome (a lifecycle `RunOutcome`); 1 when it failed."""
    payload: dict[str, object] = {
        "review_run_id": outcome.review_run_id,
        "status": outcome.status.value,
        "model_id": outcome.model_id,
        "accepted": outcome.accepted,
    }
    if outcome.rekeyed_from:
        payload["rekeyed_from"] = outcome.rekeyed_from
    if outcome.reason:
        payload["reason"] = outcome.reason
        emit(args, payload, "")
        error(f"review run {outcome.review_run_id} failed: {outcome.reason}")
        return 1
    emit(
        args,
        payload,
        f"review run {outcome.review_run_id} completed ({outcome.model_id}), "
        f"{outcome.accepted} pair(s) accepted",
    )
    return 0


def duration(value: str) -> timedelta:
    """`0s`, `90m`, `2h`, `1d` (a bare number is seconds)."""
    import re
    from datetime import timedelta

    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", value)
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
    import importlib

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
        expected = _environment_failure(exc)
        if expected is not None:
            return _fail(args, expected, 1)
        import traceback
        from pathlib import Path

        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return _fail(args, f"unexpected error: {type(exc).__name__}: {exc} (at {where})", 3)


def _environment_failure(exc: Exception) -> str | None:
    """A full disk or a failing review store is the machine's state, not a
    bug: it is told as an `error:` (exit 1). Store failures inside a
    transaction already arrive as `StoreError`; this catches the rest."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"no space left on the device{where}: {exc.strerror or exc}"
    if type(exc).__module__ == "sqlite3":
        from commonplace.review.store import store_error_message

        return store_error_message(None, exc)
    return None


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    error(message)
    if getattr(args, "json", False):
        import json

        json.dump({"error": message, "exit_code": code}, sys.stdout)
        sys.stdout.write("\n")
    return code
