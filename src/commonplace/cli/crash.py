"""The unexpected-error tier (exit 3): the full traceback goes to a log file
under the user's state directory, which the one-line message names; with
`--debug` or `COMMONPLACE_DEBUG=1` it is printed on stderr instead."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

DEBUG_ENV = "COMMONPLACE_DEBUG"


def debug_wanted(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def state_dir() -> Path:
    """`$XDG_STATE_HOME/commonplace`, else `~/.local/state/commonplace`."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    # A relative XDG path is invalid by the spec; fall back as if unset.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "commonplace"


def report(exc: BaseException, *, debug: bool) -> str:
    """The one-line report of `exc`; its traceback is printed (debug) or
    logged, and the line says where it went."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    line = f"unexpected error: {type(exc).__name__}: {exc}{where}"
    text = "".join(traceback.format_exception(exc))
    if debug:
        sys.stderr.write(text)
        return line
    log = _write_log(text)
    if log is None:
        return f"{line}; the traceback could not be logged (run again with --debug to see it)"
    return f"{line}; traceback in {log}"


def _write_log(text: str) -> Path | None:
    """A new file of its own (never one that exists: a link planted there is
    not followed), readable by the user only; None when it cannot be written."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    try:
        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / f"commonplace-{stamp}-{os.getpid()}.log"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as file:
            file.write(text)
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    return path


def environment_failure(exc: Exception) -> str | None:
    """A full disk or a failing review store (a file or a server) is the
    machine's state, not a bug: it is told as an `error:` (exit 1). Store
    failures inside a transaction already arrive as `StoreError`; this
    catches the rest."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"no space left on the device{where}: {exc.strerror or exc}"
    if type(exc).__module__ == "sqlite3":
        from commonplace.store.connection import store_error_message

        return store_error_message(None, exc)
    if type(exc).__module__.partition(".")[0] == "psycopg":
        # A server that went away between transactions, or under one that a
        # thread ran: the server's words, which never carry the password.
        from commonplace.store.postgres import error_message

        return error_message(None, exc)
    return None
