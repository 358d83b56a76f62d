"""The one place that starts external processes: `run` for short-lived ones
(git, a CLI's version) and `spawn` for a runner streaming on pipes in a
process group of its own. Nothing else imports `subprocess`.

A runner is started through a guard script (the runners' `guard.py`, which
says why a pipe and not PR_SET_PDEATHSIG): this process keeps the write end
of the guard's watch pipe for as long as the call lasts; when this process
dies, however it dies, the kernel closes it and the guard's watchdog stops
the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from commonplace.errors import UserError


class CommandNotFound(UserError):
    """The program to run is not there."""


class CannotRun(UserError):
    """The program is there but could not be run to the end (no permission,
    a timeout). `cause` is what the system said."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


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
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> Completed:
    """Run a command to completion and capture its output. Without `stdin`
    it reads nothing (never the terminal).

    With `check`, a non-zero exit raises `UserError` naming the command, its exit
    code and what it printed; a missing executable always raises
    `CommandNotFound`, anything else that stops it `CannotRun`.
    """
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            env=env,
            timeout=timeout,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"command not found: {argv[0]}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CannotRun(f"cannot run `{' '.join(argv)}`: {exc}", str(exc)) from exc
    result = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise UserError(result.describe())
    return result


class Child:
    """A streaming child in its own process group, with pipes on stdin,
    stdout and stderr. `stop_group` ends the group; `release` then lets go
    of the guard's watch pipe."""

    def __init__(self, popen: subprocess.Popen[bytes], watch: int | None) -> None:
        self._popen = popen
        self._watch = watch

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    @property
    def stdin(self) -> IO[bytes]:
        assert self._popen.stdin is not None  # spawned with pipes
        return self._popen.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self._popen.stdout is not None
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes]:
        assert self._popen.stderr is not None
        return self._popen.stderr

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, seconds: float) -> int | None:
        """The exit code, or None when still running after `seconds`."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._popen.wait(seconds)
        return None

    def stop_group(self, grace: float, poll: float) -> None:
        """Stop the child's process group (see `stop_groups`) and reap the child."""
        stop_groups([self.pid], grace=grace, poll=poll)
        self.wait(grace)

    def release(self) -> None:
        """Close our end of the watch pipe: after the group is gone, its
        watchdog has nothing left to do."""
        if self._watch is not None:
            with contextlib.suppress(OSError):
                os.close(self._watch)
            self._watch = None


def spawn(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], guard: Path | None) -> Child:
    """Start `argv` in a new session (its own process group), through the
    `guard` script when given and there is an interpreter to run it with.
    When exec fails, raises the OSError exec gave, as `subprocess.Popen`
    would."""
    if guard is None or not sys.executable:
        return Child(_popen(list(argv), cwd, env, ()), None)
    watch_r, watch_w = os.pipe()  # both ends close-on-exec: no other child inherits them
    status_r, status_w = os.pipe()
    command = [sys.executable, "-I", "-S", str(guard), str(watch_r), str(status_w), *argv]
    try:
        popen = _popen(command, cwd, env, (watch_r, status_w))
    except BaseException:
        for fd in (watch_r, watch_w, status_r, status_w):
            os.close(fd)
        raise
    os.close(watch_r)
    os.close(status_w)
    try:
        report = _read_all(status_r)  # end of file as soon as the runner is exec'd
    except BaseException:  # Ctrl-C while the guard starts
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        os.close(watch_w)
        raise
    finally:
        os.close(status_r)
    if not report:
        return Child(popen, watch_w)
    popen.wait()
    os.close(watch_w)
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()
    number, filename, message = [*report.decode("utf-8", "replace").split("\0"), "", ""][:3]
    raise OSError(int(number) if number.isdigit() else 0, message, filename or None)


def stop_groups(pgids: Sequence[int], *, grace: float, poll: float) -> list[int]:
    """TERM each process group, wait up to `grace` seconds for them to go,
    then KILL what is left. Returns the groups that were signalled (a group
    already gone, or not ours to signal, is not)."""
    signalled = []
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
        signalled.append(pgid)
    end = time.monotonic() + grace
    delay = 0.002  # most groups (a guard's watchdog, say) are gone in a few ms
    if signalled:
        # A moment for the TERM to land before the first look: looking means
        # reading every process's stat, which costs more than this wait, and
        # right after the signal a group is almost always still there.
        time.sleep(min(0.001, grace))
    while signalled and time.monotonic() < end and any(map(group_alive, signalled)):
        time.sleep(delay)
        delay = min(delay * 2, poll)
    for pgid in signalled:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return signalled


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: an
    orphan that has exited waits for init to reap it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _popen(
    argv: list[str], cwd: Path, env: Mapping[str, str], fds: tuple[int, ...]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        pass_fds=fds,
    )


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)
