"""Which process owns a running review run, whether it still lives, and the
runner processes it leaves behind when it dies (SPEC 6, reap).

A run created by a command that executes it records its owner (`Owner`:
host, pid, process start) and a lease the owner renews while it works
(`lifecycle/leases.py`): the lease, not the pid, tells whether the run is
alive, on any machine. Runs without a lease (older versions) keep the pid
rule: the owner is alive when it is on this host and that pid is a live (not
zombie) process; a run of another host cannot be checked from here and
counts as alive, and is reaped by age instead. The reaper also fails at once
the runs of an owner of this host that is gone (`owner_gone`), leased or not.

The host is the machine's name, or `COMMONPLACE_HOST` when set: processes
that share a hostname (containers, tests acting as machines) tell
themselves apart with it.

Every runner process group carries `OWNER_VARIABLE` in its environment (set
by the launcher), naming the owner's host, pid and start time. That makes the
groups of a dead owner findable in /proc without trusting a recorded process
group id that may have been reused since.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from commonplace.clock import iso_utc
from commonplace.errors import UserError

OWNER_VARIABLE = "COMMONPLACE_REVIEW_OWNER"
HOST_VARIABLE = "COMMONPLACE_HOST"
GRACE_SECONDS = 3.0
_HOST_LIMIT = 255  # as long as a DNS name may be


class Owner(NamedTuple):
    """The process that owns running runs: the pid with its start time tells
    it from a later process that reuses the pid."""

    host: str
    pid: int
    started_at: str


def this_host() -> str:
    """`COMMONPLACE_HOST` when set, else the machine's name."""
    chosen = os.environ.get(HOST_VARIABLE, "").strip()
    if not chosen:
        return os.uname().nodename
    if len(chosen) > _HOST_LIMIT or not chosen.isprintable():
        raise UserError(
            f"{HOST_VARIABLE} must be a printable host name of at most {_HOST_LIMIT} characters"
        )
    return chosen


def this_owner() -> Owner:
    return Owner(this_host(), os.getpid(), process_started_at())


_started: dict[int, str] = {}  # by pid: a forked child is another owner


def process_started_at() -> str:
    """When this process started, as `clock.utc_now` writes times. Without
    /proc, the first time it asked: constant for its life, which is all an
    owner's identity needs."""
    pid = os.getpid()
    found = _started.get(pid)
    if found is None:
        found = _started[pid] = _start_from_proc(pid) or iso_utc(datetime.now(UTC))
    return found


def _start_from_proc(pid: int) -> str | None:
    ticks = start_ticks(pid)
    boot = _boot_time()
    if ticks is None or boot is None:
        return None
    with contextlib.suppress(ValueError, OSError):
        per_second = os.sysconf("SC_CLK_TCK")
        return iso_utc(datetime.fromtimestamp(boot + ticks / per_second, UTC))
    return None


def _boot_time() -> int | None:
    """Seconds since the epoch at boot (`btime` of /proc/stat)."""
    try:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` names a process that has not exited (zombies have)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    return _state(pid) not in ("Z", "X")


def owner_alive(host: str | None, pid: int | None) -> bool:
    """Whether the recorded owner of a run may still be executing it. Runs
    without an owner (made for external executors) have none alive."""
    if host is None or pid is None:
        return False
    if host != this_host():
        return True  # cannot tell from here
    return pid_alive(pid)


def owner_gone(pid: int, started_at: str | None) -> bool:
    """Whether the process of this host that owned a run is gone: its pid
    is not alive, or is now a later process (it started at another time)."""
    if not pid_alive(pid):
        return True
    if started_at is None:
        return False
    now_started = _start_from_proc(pid)
    return now_started is not None and now_started != started_at


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of
    /proc/<pid>/stat): with the pid, it tells a process from a later one
    that reuses its pid. None where /proc does not say."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


def owner_token(pid: int | None = None) -> str:
    """`host:pid:start ticks` of this process (or `pid`)."""
    pid = os.getpid() if pid is None else pid
    return f"{this_host()}:{pid}:{start_ticks(pid) or 0}"


def token_alive(token: str) -> bool:
    """Whether the owner a token names is still that same live process. A
    token of another host, or one that cannot be read, counts as alive."""
    parsed = _parse_token(token)
    if parsed is None or parsed[0] != this_host():
        return True
    _, pid, ticks = parsed
    if not pid_alive(pid):
        return False
    return ticks == 0 or start_ticks(pid) in (None, ticks)


def orphaned_groups(owners: Iterable[tuple[str, int]] | None = None) -> dict[int, str]:
    """Process groups of runners whose owner is dead: pgid -> owner token.
    With `owners` ((host, pid) pairs), only groups of those owners."""
    wanted = None if owners is None else set(owners)
    found: dict[int, str] = {}
    for pid in _pids():
        token = _owner_of(pid) if pid != os.getpid() else None
        parsed = None if token is None else _parse_token(token)
        if token is None or parsed is None:
            continue
        if wanted is not None and parsed[:2] not in wanted:
            continue
        if token_alive(token):
            continue
        with contextlib.suppress(OSError):
            found[os.getpgid(pid)] = token
    found.pop(os.getpgrp(), None)  # never our own group
    return found


def _parse_token(token: str) -> tuple[str, int, int] | None:
    """(host, pid, start ticks) of `host:pid:ticks`; a host name may hold colons."""
    parts = token.split(":")
    if len(parts) < 3:
        return None
    try:
        return ":".join(parts[:-2]), int(parts[-2]), int(parts[-1])
    except ValueError:
        return None


def stop_orphaned_runners(*, dry_run: bool = False) -> list[int]:
    """Stop the runner process groups on this host whose owner is dead (the
    watchdog stops them itself unless it was killed too). The groups, sorted."""
    groups = sorted(orphaned_groups())
    return groups if dry_run else stop_groups(groups)


def stop_groups(groups: Iterable[int]) -> list[int]:
    """TERM each group, give them a grace period, then KILL what is left.
    Returns the groups that were signalled."""
    # imported here: every command that creates or finishes runs imports
    # this module, and only the reaper stops processes
    from commonplace import process

    return process.stop_groups(list(groups), grace=GRACE_SECONDS, poll=0.05)


def _pids() -> list[int]:
    try:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


def _owner_of(pid: int) -> str | None:
    """The owner token in a process's environment; None when it has none or
    the environment cannot be read (another user's process)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return None
    prefix = OWNER_VARIABLE.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    return text.rsplit(b")", 1)[-1].decode("ascii", "replace").split()


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None
