"""What every command shares: option helpers, output, and the error tiers.

Library code raises `UserError` for expected failures; here they become
`error: <message>` on stderr and the error's exit code. Anything else is an
unexpected error (exit 3): one line naming the log of its traceback
(`cli.crash`). Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import sys

from commonplace.choices import EFFORTS
from commonplace.cli import note_scope

# Start-up time matters for every command, so this module imports only what
# parsing needs; everything else is imported where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import timedelta
    from pathlib import Path
    from types import ModuleType
    from typing import NoReturn

    from commonplace.lifecycle import RunOutcome
    from commonplace.lifecycle.targets import SkippedPair
    from commonplace.workspace import Workspace


class CommandSpec:
    """A command: its name after `commonplace-`, its module, its one-line help."""

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name, self.module, self.help = name, module, help


class Parser(argparse.ArgumentParser):
    examples: str | None = None  # the command whose examples end its help

    def format_help(self) -> str:
        if self.examples is not None and self.epilog is None:  # made only when shown
            from commonplace.cli.examples import epilog

            self.epilog = epilog(self.examples)
        return super().format_help()

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        if not any(isinstance(a, note_scope.NotesAction) for a in self._actions):
            return super().parse_args(args, namespace)
        argv = list(sys.argv[1:] if args is None else args)
        # Gates may then follow the notes, before or after other options.
        return self.parse_intermixed_args(note_scope.split_note_values(self, argv), namespace)

    def error(self, message: str) -> NoReturn:
        from commonplace.cli.hints import parse_error_hint

        self.print_usage(sys.stderr)
        message += parse_error_hint(self, message)
        print(f"error: {shown(message, backslashes=False)}", file=sys.stderr)
        raise SystemExit(2)


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="review store (default: env COMMONPLACE_REVIEW_DB, then the configured path)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def add_model(
    parser: argparse.ArgumentParser, *, required: bool = True, default: str | None = None
) -> None:
    more = f" (default: {default})" if default else ""
    parser.add_argument("--model", required=required, help=f"model name or alias (partition){more}")
    parser.add_argument("--effort", choices=EFFORTS, help="reasoning effort, part of the partition")


def add_note_scope(parser: argparse.ArgumentParser, default: str) -> None:
    """`--note PATH...` or `--current`, and `--user-verified`; `default` says
    what neither `--note` nor `--current` means."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--note",
        nargs="+",
        action=note_scope.NotesAction,
        dest="notes",
        metavar="PATH",
        default=[],
        help=f"notes or folders of notes (default: {default}); repeatable. A value after"
        " the first that names a gate or lens and no file is read as a gate,"
        " so in `--note a.md prose` prose is a gate argument",
    )
    scope.add_argument("--current", action="store_true", help="only notes with status: current")
    # A filter, not a scope of its own: it narrows --note, --current or every note.
    parser.add_argument(
        "--user-verified",
        action="store_true",
        help="only notes whose frontmatter has user-verified: true (a YAML boolean)",
    )


def workspace(args: argparse.Namespace, *, reads_only: bool = False) -> Workspace:
    """The command's workspace; `reads_only` commands refuse a `--db` (or
    COMMONPLACE_REVIEW_DB) that names no file instead of reading it as empty."""
    from commonplace.workspace import open_workspace

    return open_workspace(db=getattr(args, "db", None), existing_store=reads_only)


def model_and_effort(args: argparse.Namespace, ws: Workspace) -> tuple[str, str | None]:
    """`--model`/`--effort`, else `model`/`effort` under [defaults] (the
    default effort only goes with the default model)."""
    from commonplace.errors import UsageError

    defaults = ws.config.defaults
    model = args.model or defaults.model
    if not model or not model.strip():
        raise UsageError("--model is required (or set model under [defaults])")
    effort = args.effort or (defaults.effort if not args.model else None)
    return model, effort


def emit(args: argparse.Namespace, payload: object, text: str | Callable[[], str]) -> None:
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
    print(f"error: {shown(message, backslashes=False)}", file=sys.stderr)


def warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"warning: {shown(message, backslashes=False)}", file=sys.stderr)


def read_input_bytes(path: str | None, *, kb_root: Path | None = None) -> bytes:
    """The bytes of `--input-file PATH` (`-` for stdin), or stdin when absent,
    within the output cap; a path that is not a regular file is refused.
    A relative path missing from the working directory is looked up from the
    KB root, where the paths commands report are relative to."""
    from pathlib import Path

    from commonplace.capped import read_capped_stream, read_regular_file
    from commonplace.errors import UserError

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


def skipped_pairs(skipped: Sequence[SkippedPair]) -> list[dict[str, str]]:
    """Skipped pairs (`targets.SkippedPair`) as the JSON contracts list them."""
    return [{"note_path": s.note_path, "gate_id": s.gate_id, "reason": s.reason} for s in skipped]


def retry_hint(note_path: str, gate_ids: Sequence[str]) -> str:
    """How to review a failed run's pairs again: a failed run is final, so in
    a new run (its pairs are stale again, the selector lists them)."""
    import shlex

    names = " ".join(shlex.quote(shown(n)) for n in (note_path, *gate_ids))
    return (
        "a failed run stays failed; review its pairs again in a new run:"
        f" commonplace-create-review-run {names} --runner RUNNER --model MODEL"
        " (or commonplace-review-sweep)"
    )


def run_retry_hint(ws: Workspace, review_run_id: int) -> str:
    """`retry_hint` for a run of the store."""
    from commonplace.services.scope import runs_by_id

    run = runs_by_id(ws.store, [review_run_id])[review_run_id]
    return retry_hint(run.note_path, run.gate_ids)


def emit_outcome(
    args: argparse.Namespace,
    outcome: RunOutcome,
    *,
    retry: str | None = None,
    extra: dict[str, object] | None = None,
) -> int:
    """Print a run's outcome (a lifecycle `RunOutcome`) and the `extra` JSON
    keys; 1 when it failed, with `retry` (how to review it again) after the error."""
    payload: dict[str, object] = {
        "review_run_id": outcome.review_run_id,
        "status": outcome.status.value,
        "model_id": outcome.model_id,
        "accepted": outcome.accepted,
        **(extra or {}),
    }
    if outcome.rekeyed_from:
        payload["rekeyed_from"] = outcome.rekeyed_from
    if outcome.reason:
        payload["reason"] = outcome.reason
        emit(args, payload, "")
        error(f"review run {outcome.review_run_id} failed: {outcome.reason}")
        if retry:
            print(f"hint: {retry}", file=sys.stderr)
        return 1
    emit(
        args,
        payload,
        f"review run {outcome.review_run_id} completed ({outcome.model_id}), "
        f"{outcome.accepted} pair(s) accepted",
    )
    return 0


# The largest id SQLite stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1
# Longer than any run can last; far enough from datetime's limits that `now -
# duration` never overflows.
MAX_DURATION_DAYS = 36_500


def duration(value: str) -> timedelta:
    """`0s`, `90m`, `2h`, `1d` (a bare number is seconds), at most 100 years."""
    import re
    from datetime import timedelta

    # ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
    match = re.fullmatch(r"\s*([0-9]{1,15}(?:\.[0-9]{1,9})?)\s*(s|m|h|d)?\s*", value, re.ASCII)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration (try 0s, 90m, 2h, 1d): {value[:40]!r}")
    seconds = (
        float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    )
    if seconds > MAX_DURATION_DAYS * 86400:
        raise argparse.ArgumentTypeError(
            f"duration out of range (at most {MAX_DURATION_DAYS}d): {value[:40]!r}"
        )
    return timedelta(seconds=seconds)


def positive_int(value: str) -> int:
    """A whole number from 1 to the largest id SQLite stores, ASCII digits only."""
    import re

    text = value.strip()
    if re.fullmatch(r"[0-9]{1,19}", text, re.ASCII) and 0 < int(text) <= MAX_ID:
        return int(text)
    raise argparse.ArgumentTypeError(
        f"expected a positive whole number (at most {MAX_ID}), not {value[:40]!r}"
    )


def amount_usd(value: str) -> float:
    """A finite amount of US dollars greater than zero."""
    import math

    number = plain_number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(
            f"expected an amount of dollars greater than 0, not {value[:40]!r}"
        )
    return number


def plain_number(value: str) -> float | None:
    """A decimal number in ASCII (`1.5`, `2`, `.5`); None for anything else,
    `nan`, `inf`, `1e3` and non-ASCII digits included."""
    import re

    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,15}(\.[0-9]{0,15})?|\.[0-9]{1,15}", text, re.ASCII):
        return None
    return float(text)


def shown(text: str, *, backslashes: bool = True) -> str:
    """`text` safe to print on one line: control characters (newlines, escape
    sequences) and, for names, backslashes are written as backslash escapes,
    so that a crafted file name cannot forge or erase lines of output."""
    if text.isprintable() and not (backslashes and "\\" in text):
        return text
    return "".join(
        ("\\\\" if backslashes else ch)
        if ch == "\\"
        else ch
        if ch.isprintable()
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def reconfigure_streams() -> None:
    """Characters the output encoding cannot show (a note name under
    `LC_ALL=C`) are written as backslash escapes instead of stopping the
    command half-way through its output."""
    from contextlib import suppress

    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with suppress(ValueError, OSError):  # a closed or detached stream
                reconfigure(errors="backslashreplace")


def version() -> str:
    """What `--version` prints: the distribution's name and the package's version."""
    from commonplace import __version__

    return f"commonplace-review {__version__}"


def build_parser(spec: CommandSpec, prog: str | None = None) -> tuple[ModuleType, Parser]:
    """The command's module and its parser, with the examples as the epilog."""
    import importlib

    from commonplace.cli.help_width import formatter

    module = importlib.import_module(spec.module)
    parser = Parser(
        prog=prog or f"commonplace-{spec.name}", description=spec.help, formatter_class=formatter
    )
    parser.examples = spec.name
    module.add_arguments(parser)
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an unexpected error, print the traceback instead of logging it"
        " (or set COMMONPLACE_DEBUG=1)",
    )
    return module, parser


def run(spec: CommandSpec, argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    reconfigure_streams()
    module, parser = build_parser(spec, prog)
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
    except Exception as exc:  # the unexpected tier: one line; the traceback is logged
        from commonplace.cli import crash

        expected = crash.environment_failure(exc)
        if expected is not None:
            return _fail(args, expected, 1)
        return _fail(args, crash.report(exc, debug=crash.debug_wanted(args.debug)), 3)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    error(message)
    if getattr(args, "json", False):
        import json

        json.dump({"error": message, "exit_code": code}, sys.stdout)
        sys.stdout.write("\n")
    return code
