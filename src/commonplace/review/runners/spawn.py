"""Starting a runner so that it dies with us (SPEC 8, process handling).

The runner is started in a new session, so its process group is its own,
through `guard.py` (which says why a pipe and not PR_SET_PDEATHSIG). This
process keeps the write end of the guard's watch pipe for as long as the
call lasts; when this process dies, however it dies, the kernel closes it and
the guard's watchdog stops the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

GUARD = Path(__file__).with_name("guard.py")


def start_guarded(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> tuple[subprocess.Popen[bytes], int | None]:
    """The runner, started with pipes on stdin, stdout and stderr, and the
    write end of its watch pipe (None when there is no interpreter to run
    the guard with, and so no guard). The caller closes that end once the
    group is stopped. When exec fails, raises the OSError exec gave, as
    `subprocess.Popen` would."""
    if not sys.executable:
        return _popen(list(argv), cwd, env, ()), None
    watch_r, watch_w = os.pipe()  # both ends close-on-exec: no other child inherits them
    status_r, status_w = os.pipe()
    guard = [sys.executable, "-I", "-S", str(GUARD), str(watch_r), str(status_w)]
    try:
        child = _popen([*guard, *argv], cwd, env, (watch_r, status_w))
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
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        os.close(watch_w)
        raise
    finally:
        os.close(status_r)
    if not report:
        return child, watch_w
    child.wait()
    os.close(watch_w)
    for stream in (child.stdin, child.stdout, child.stderr):
        if stream is not None:
            stream.close()
    number, filename, message = [*report.decode("utf-8", "replace").split("\0"), "", ""][:3]
    raise OSError(int(number) if number.isdigit() else 0, message, filename or None)


def close_quietly(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


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
