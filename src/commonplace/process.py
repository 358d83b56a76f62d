"""The one place that starts external processes: `run` for short-lived ones
(git, a CLI's version), `start` for one to collect later, and `spawn` for a
runner streaming on pipes in a process group of its own. Nothing else imports
`subprocess`.

A runner is watched by one watchdog per process (the runners' `guard.py`,
which says why a pipe and not PR_SET_PDEATHSIG), started with the first
runner: this process keeps the write end of the watchdog's pipe for as long
as it lives and announces on it each runner it starts and stops; every
runner also carries the watchdog's marker in its environment. When this
process dies, however it dies, the kernel closes the pipe and the watchdog
stops the groups. The runner itself is started by `subprocess.Popen`, so an
exec failure is Popen's own `OSError`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from commonplace.errors import UserError

WATCH_VARIABLE = "COMMONPLACE_REVIEW_WATCH"


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


class Started:
    """A short-lived command started by `start`, running while the caller
    does other work; `finish` waits for it and gives what `run` would have,
    with `check=False`."""

    def __init__(self, argv: Sequence[str], popen: subprocess.Popen[bytes]) -> None:
        self.argv, self._popen = tuple(argv), popen

    def finish(self) -> Completed:
        stdout, stderr = self._popen.communicate()
        return Completed(self.argv, self._popen.returncode, stdout, stderr)


def start(argv: Sequence[str], *, cwd: Path | None = None) -> Started:
    """Start a command that reads nothing and whose output is captured, and
    return at once: two of them, or one and some work of this process, run
    side by side. Raises like `run`."""
    try:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"command not found: {argv[0]}") from exc
    except OSError as exc:
        raise CannotRun(f"cannot run `{' '.join(argv)}`: {exc}", str(exc)) from exc
    return Started(argv, popen)


class Child:
    """A streaming child in its own process group, with pipes on stdin,
    stdout and stderr. `stop_group` ends the group; `release` then tells
    the watchdog the group is gone."""

    def __init__(self, popen: subprocess.Popen[bytes], watch: _Watchdog | None) -> None:
        self._popen = popen
        self._watch = watch
        self._pidfd: int | None = None
        self._no_pidfd = False

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
        if self._popen.returncode is not None:
            return self._popen.returncode
        pidfd = self._open_pidfd()
        if pidfd is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return self._popen.wait(seconds)
            return None
        # `Popen.wait` with a timeout polls with sleeps growing to 50 ms: a
        # call that ends in 20 ms would be seen up to 15 ms late. A pidfd
        # is readable the moment the child exits.
        watcher = select.poll()  # not select(): no limit on the fd's number
        watcher.register(pidfd, select.POLLIN)
        watcher.poll(max(0, int(seconds * 1000)))
        code = self._popen.poll()
        if code is not None:
            self._close_pidfd()
        return code

    def _open_pidfd(self) -> int | None:
        if self._pidfd is None and not self._no_pidfd:
            try:  # Linux 5.3 and later; and the child must not be reaped yet
                self._pidfd = os.pidfd_open(self._popen.pid)
            except (AttributeError, OSError):
                self._no_pidfd = True
        return self._pidfd

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def stop_group(self, grace: float, poll: float) -> None:
        """Stop the child's process group (see `stop_groups`) and reap the child."""
        stop_groups([self.pid], grace=grace, poll=poll)
        self.wait(grace)

    def release(self) -> None:
        """Tell the watchdog this group is gone (after `stop_group`): it
        must not signal the number once another group may hold it."""
        self._close_pidfd()
        if self._watch is not None:
            self._watch.announce(f"-{self.pid}\n")
            self._watch = None


def spawn(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], guard: Path | None) -> Child:
    """Start `argv` in a new session (its own process group), watched by
    this process's watchdog (the `guard` script, started on first use) when
    given and there is an interpreter to run it with. When exec fails,
    raises the OSError `subprocess.Popen` gives."""
    if guard is None or not sys.executable:
        return Child(_popen(list(argv), cwd, env), None)
    watchdog = _Watchdog.of_this_process(guard)
    popen = _popen(list(argv), cwd, {**env, WATCH_VARIABLE: watchdog.token})
    try:
        watchdog.announce(f"+{popen.pid}\n")
    except BaseException:  # Ctrl-C right after the start: nothing will stop it
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        raise
    return Child(popen, watchdog)


class _Watchdog:
    """This process's watchdog: its pid, the write end of its pipe, and the
    marker its runners carry. Replaced when it has died (someone killed it)
    or when this is a forked copy of the process that started it."""

    _current: _Watchdog | None = None
    _lock = threading.Lock()

    def __init__(self, guard: Path) -> None:
        self.owner = os.getpid()
        self.token = f"{self.owner}-{os.urandom(8).hex()}"
        read, self.fd = os.pipe()  # both close-on-exec: no runner inherits them
        if read == 3:  # dup2 onto itself would leave it close-on-exec
            read, old = os.dup(read), read
            os.close(old)
        null = os.devnull
        try:
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-S", str(guard), "3", f"{WATCH_VARIABLE}={self.token}"],
                # not an outer watchdog's marker: this one must not be TERMed
                # as a runner of the command that started this process
                {k: v for k, v in os.environ.items() if k != WATCH_VARIABLE},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, read, 3),
                ],
                setsid=True,
            )
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            os.close(read)

    @classmethod
    def of_this_process(cls, guard: Path) -> _Watchdog:
        with cls._lock:
            current = cls._current
            if current is not None and (current.owner != os.getpid() or current._gone()):
                # a forked copy lets go of its parent's pipe too: the parent's
                # watchdog must see end of file when the parent dies
                with contextlib.suppress(OSError):
                    os.close(current.fd)
                current.fd = -1
                current = None
            if current is None:
                current = cls._current = cls(guard)
            return current

    def _gone(self) -> bool:
        """Whether the watchdog has exited (it is reaped here if so)."""
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return True
        return pid != 0

    def announce(self, line: str) -> None:
        # under the lock: once closed, the fd's number may be another file's
        with self._lock:
            if self.fd < 0 or self.owner != os.getpid():
                return
            # one short write, atomic on a pipe; a dead watchdog (EPIPE) is
            # replaced at the next spawn
            with contextlib.suppress(OSError):
                os.write(self.fd, line.encode())


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
    delay = 0.002  # most groups are gone in a few ms
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


def _popen(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
