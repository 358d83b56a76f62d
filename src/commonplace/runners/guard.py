"""Run as a script (`python -I -S guard.py WATCH_FD MARKER`): the watchdog
that stops a command's runners when the command dies, however it dies.

One watchdog serves every runner a process launches (`process.spawn` starts
it with the first one and keeps it for the process's life): an interpreter
start per batch cost more than a fast reviewer's whole call. The command
keeps the only write end of WATCH_FD; the kernel closes it whenever the
command dies, SIGKILL included, and this script then sees end of file.
Meanwhile the command writes `+PGID` when it has started a runner and `-PGID`
once it has stopped that runner's group itself. Every runner also carries
MARKER (`NAME=TOKEN`) in its environment, set before exec: a runner started
a moment before the command died, not yet announced, is found by it. At end
of file the watchdog TERMs every group announced and every group holding a
marked process, looks for marked processes again for a moment (a child
forked just before the command died may exec a little later), waits for the
groups to go and KILLs what is left, as the command would have done.

Why not PR_SET_PDEATHSIG in a `preexec_fn`: `preexec_fn` is unsafe in a
process with threads (sweeps launch from worker threads), the death signal
follows the *thread* that forked, not the process, and it reaches only the
runner itself, never the processes the runner starts (a harness CLI starts
tools). The pipe has none of these gaps. The watchdog runs in a session of
its own (Ctrl-C at the terminal does not reach it; the command handles that
itself) with its standard streams on /dev/null. Standard library only, and
as little of it as it can (`_signal`, the C module, rather than `signal`).
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
LATE_SECONDS = 0.3  # how long a runner forked at the command's death may take to exec
POLL_SECONDS = 0.05


def main(argv: list[str]) -> None:
    watch, marker = int(argv[1]), argv[2].encode("utf-8", "surrogateescape")
    announced = _follow(watch)
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)  # from now on, finish the job
    me = os.getpid()
    groups: set[int] = set()
    started = time.monotonic()
    end = started + GRACE_SECONDS
    candidates = announced | _marked(marker, me)
    while True:
        for pgid in candidates - groups:
            try:
                os.killpg(pgid, _signal.SIGTERM)
            except OSError:
                continue
            groups.add(pgid)
        now = time.monotonic()
        if now >= end or (now >= started + LATE_SECONDS and not any(map(_alive, groups))):
            break
        time.sleep(POLL_SECONDS)
        candidates = _marked(marker, me)
    for pgid in groups:
        try:
            os.killpg(pgid, _signal.SIGKILL)
        except OSError:
            continue


def _follow(watch: int) -> set[int]:
    """Read the command's announcements until end of file: the groups it
    started and has not stopped yet."""
    groups: set[int] = set()
    pending = b""
    while True:
        try:
            chunk = os.read(watch, 4096)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            sign, number = line[:1], line[1:]
            if not number.isdigit() or int(number) <= 1:
                continue
            if sign == b"+":
                groups.add(int(number))
            elif sign == b"-":
                groups.discard(int(number))
    return groups


def _marked(marker: bytes, me: int) -> set[int]:
    """The process groups of live processes carrying `marker` in their
    environment."""
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] not in (b"Z", b"X") and fields[2].isdigit():
            pgid = int(fields[2])
            if pgid > 1:
                found.add(pgid)
    return found


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main(sys.argv)
