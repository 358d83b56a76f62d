"""Run as a script (`python -I -S guard.py WATCH_FD STATUS_FD PROGRAM ARGS...`)
to start a runner that dies with the command that launched it.

Why not PR_SET_PDEATHSIG in a `preexec_fn`: `preexec_fn` is unsafe in a
process with threads (sweeps launch from worker threads), the death signal
follows the *thread* that forked, not the process, and it reaches only the
runner itself, never the processes the runner starts (a harness CLI starts
tools). A pipe does not have these gaps: the launcher keeps the write end of
WATCH_FD, and the kernel closes it whenever the launcher dies, SIGKILL
included. So this script forks a watchdog that waits for that end of file
and then stops the whole process group, and execs the runner in its own
place: the runner keeps the pid, process group, session and exit status the
launcher sees. It uses the standard library only and imports nothing else:
it starts once per batch, so it imports as little as it can (`_signal`, the
C module, rather than `signal` and `contextlib`, which bring in `enum`,
`functools` and `collections`: milliseconds of every batch).

If exec fails, the error is written to STATUS_FD (`errno NUL filename NUL
message`) and the script exits 127; on success exec closes STATUS_FD, so the
launcher reads end of file at once.
"""

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # the same names, typed
    import signal as _signal
else:
    import _signal

GRACE_SECONDS = 3.0


def main(argv: list[str]) -> None:
    watch, status, command = int(argv[1]), int(argv[2]), argv[3:]
    os.set_inheritable(watch, False)  # the runner never gets either end
    os.set_inheritable(status, False)
    runner = os.getpid()
    try:
        watchdog = os.fork()
    except OSError:  # no process to spare: the runner still runs, unwatched
        watchdog = None
    if watchdog == 0:
        os.close(status)
        try:
            _watch(watch, runner)
        finally:
            os._exit(0)  # never on to the exec below: the runner runs once
    os.close(watch)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        detail = f"{exc.errno}\0{exc.filename or ''}\0{exc.strerror or exc}"
        os.write(status, detail.encode("utf-8", "replace"))
        if watchdog is not None:
            os.kill(watchdog, _signal.SIGKILL)
        os._exit(127)


def _watch(watch: int, runner: int) -> None:
    """The watchdog: no stdio of its own (the launcher's pipes must reach
    end of file when the runner is done), blocked until the launcher's end
    of the pipe closes. The launcher stops the group itself when all goes
    well, this process included."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    while True:
        try:
            if not os.read(watch, 64):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    # The launcher is gone: TERM the group, then KILL whatever is left
    # (this watchdog too), as the launcher itself would have done.
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    try:
        os.killpg(0, _signal.SIGTERM)
    except OSError:
        os._exit(0)
    end = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < end and _alive(runner):
        time.sleep(0.05)
    try:
        os.killpg(0, _signal.SIGKILL)
    except OSError:
        return


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state not in (b"Z", b"X")


if __name__ == "__main__":
    main(sys.argv)
