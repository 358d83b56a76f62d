"""The watchdog that stops a process's runners when that process dies.

A launcher (a real Python process using `commonplace.process.spawn`) starts
a runner and is then SIGKILLed: the runner's group must go, whether the
launcher had announced it (a member without the marker in its environment
is found through the announcement) or not (the marker finds it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import commonplace
from commonplace.process import WATCH_VARIABLE, group_alive, spawn

GUARD = Path(commonplace.__file__).parent / "runners" / "guard.py"

LAUNCHER = """\
import os, sys, time
from pathlib import Path
from commonplace.process import spawn
runner, release = sys.argv[2:], sys.argv[1] == "release"
child = spawn(runner, cwd=Path.cwd(), env=dict(os.environ), guard=Path({guard!r}))
if release:  # as if the launcher died before it could announce the runner
    child.release()
print(child.pid, child.stdout.readline().decode().strip(), flush=True)
time.sleep(60)
"""


def _launch_then_kill(tmp_path: Path, release: bool, runner: list[str]) -> tuple[int, list[bytes]]:
    """Start the launcher, read the runner's group and the pid it reports,
    wait for that pid to be `sleep`, SIGKILL the launcher. Returns the
    group and the environment of that pid."""
    mode = "release" if release else "keep"
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER.format(guard=str(GUARD)), mode, *runner],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )
    assert launcher.stdout is not None
    group, pid = (int(word) for word in launcher.stdout.readline().decode().split())
    deadline = time.monotonic() + 5  # a forked shell has yet to exec (env, then) sleep
    while not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    environ = _environ(pid)
    launcher.kill()  # started by this test: ended by its id
    launcher.wait()
    return group, environ


def _gone_within(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not group_alive(pgid)


def _environ(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return handle.read().split(b"\0")


def test_a_group_member_without_the_marker_dies_with_the_launcher(tmp_path: Path) -> None:
    # the runner leaves a sleeper with an empty environment in its group, then exits
    script = "env -i sleep 60 </dev/null >/dev/null 2>&1 & echo $!"
    group, environ = _launch_then_kill(tmp_path, False, ["/bin/sh", "-c", script])
    try:
        assert not any(e.startswith(WATCH_VARIABLE.encode()) for e in environ)
        assert _gone_within(group, 10.0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def test_a_runner_not_announced_is_found_by_its_marker(tmp_path: Path) -> None:
    script = "echo $$; exec sleep 60"
    group, environ = _launch_then_kill(tmp_path, True, ["/bin/sh", "-c", script])
    try:
        assert any(e.startswith(WATCH_VARIABLE.encode() + b"=") for e in environ)
        assert _gone_within(group, 10.0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _watchdog_of(child_pid: int) -> tuple[str, int]:
    """The marker a runner carries and the pid of the watchdog named by it."""
    prefix = WATCH_VARIABLE.encode() + b"="
    deadline = time.monotonic() + 5
    while len(_environ(child_pid)) < 2:  # empty for a moment while exec completes
        assert time.monotonic() < deadline
        time.sleep(0.01)
    token = next(e for e in _environ(child_pid) if e.startswith(prefix)).decode()
    while time.monotonic() < deadline:  # the watchdog too may be mid-exec
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    with open(f"/proc/{entry}/cmdline", "rb") as handle:
                        argv = handle.read().split(b"\0")
                    named = len(argv) > 5 and argv[5].decode() == token
                    if named and argv[3].endswith(b"guard.py"):
                        return token, int(entry)
        time.sleep(0.01)
    raise AssertionError(f"no watchdog for {token}")


def test_one_watchdog_serves_every_runner_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    children = [spawn(argv, cwd=tmp_path, env=dict(os.environ), guard=GUARD) for _ in range(2)]
    try:
        (token, watchdog), (again, same) = map(_watchdog_of, (c.pid for c in children))
        assert (token, watchdog) == (again, same)
        os.kill(watchdog, signal.SIGKILL)  # this test's own watchdog: ended by its id
        deadline = time.monotonic() + 5
        while b") Z " not in Path(f"/proc/{watchdog}/stat").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        children.append(spawn(argv, cwd=tmp_path, env=dict(os.environ), guard=GUARD))
        renewed, successor = _watchdog_of(children[-1].pid)
        assert renewed != token and successor != watchdog
    finally:
        for child in children:
            child.stop_group(grace=2.0, poll=0.05)
            child.release()
