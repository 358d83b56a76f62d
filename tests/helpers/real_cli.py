"""Running our runner commands as real processes against the real `claude`
and `codex` CLIs and the loopback vendor API: environments, a bench per test
(a KB, a server, a HOME), store queries, and finding leftover CLI processes.
Shared by the real-CLI tests here and tests/cli/test_same_rows_across_paths.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.commands import console_script
from helpers.db import STORE
from helpers.db import rows as store_rows
from helpers.vendor_api import VendorAPI, claude_env, codex_env, find_cli

# A bound for a stuck command; a call against the local server takes about a second.
TIMEOUT = "60"
COMMAND_DEADLINE = 120.0

# Example-KB notes and gates (see tests/helpers/store.py).
SEEDS = "kb/notes/seed-packets.md"  # traits: [title-as-claim]: all five gates apply
FROST = "kb/notes/frost-dates.md"  # traits: []
DATE = "kb/notes/date-every-entry-before-writing-anything-else.md"
CLARITY = ("clarity/description-repeats-title", "clarity/undefined-abbreviation")
ABBREV = "clarity/undefined-abbreviation"

# runner name -> (CLI binary name, environment builder of vendor_api)
RUNNERS: Mapping[str, tuple[str, Callable[[VendorAPI, Path], dict[str, str]]]] = {
    "claude-code": ("claude", claude_env),
    "codex": ("codex", codex_env),
}
# The fixture that provides each runner's CLI (tests/review/runners/conftest.py).
CLI_FIXTURE = {"claude-code": "claude_cli", "codex": "codex_cli"}


# ---------------------------------------------------------------------------
# Helpers


def require_cli(name: str) -> str:
    """The CLI, as the `claude_cli` / `codex_cli` fixtures give it (skip when it
    is absent, fail in CI): for test folders that do not see those fixtures."""
    path = find_cli(name)
    if path is None:
        message = f"{name} not installed; run scripts/install-clis.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def cli_version(cli: str) -> str:
    """The version the CLI reports (`2.1.197 (Claude Code)`, `codex-cli 0.169.0`)."""
    out = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    return next(word for word in out.split() if word[:1].isdigit())


def path_without(*names: str) -> str:
    """This PATH without any folder holding one of `names`, with our console
    scripts first: a PATH on which the CLIs cannot be found."""
    folders = [str(Path(console_script("commonplace-run-review-bundle")).parent)]
    for folder in (os.environ.get("PATH") or "/usr/bin:/bin").split(os.pathsep):
        if folder and not any((Path(folder) / name).exists() for name in names):
            folders.append(folder)
    return os.pathsep.join(folders)


def command_env(runner: str, api: VendorAPI, home: Path, cli: str | None) -> dict[str, str]:
    """What our commands run with: the vendor_api environment of the runner's
    CLI (HOME = `home`), PATH starting with the CLI's folder and our console
    scripts. `cli=None`: a PATH without the CLIs."""
    env = RUNNERS[runner][1](api, home)
    scripts = str(Path(console_script("commonplace-run-review-bundle")).parent)
    if cli is None:
        env["PATH"] = path_without("claude", "codex")
    else:
        env["PATH"] = os.pathsep.join([str(Path(cli).parent), scripts, env["PATH"]])
    return env


@dataclass
class Done:
    code: int
    out: str
    err: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.out)


def start_command(
    name: str, args: list[str], *, cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """`commonplace-<name> args...` as a process of its own group."""
    return subprocess.Popen(
        [console_script(f"commonplace-{name}"), *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish_command(proc: subprocess.Popen[str], started: float) -> Done:
    """Wait for a command started by `start_command`; a stuck one (and all it
    started) is killed after COMMAND_DEADLINE and fails the test."""
    try:
        out, err = proc.communicate(timeout=COMMAND_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not end within {COMMAND_DEADLINE} s: {err[-2000:]}")
    return Done(proc.returncode, out, err, time.monotonic() - started)


def run_command(name: str, *args: str, cwd: Path, env: Mapping[str, str]) -> Done:
    """Run `commonplace-<name> args...` to its end."""
    started = time.monotonic()
    return finish_command(start_command(name, list(args), cwd=cwd, env=env), started)


def telemetry_of(db: Path, table: str) -> list[dict[str, Any]]:
    """The telemetry documents of every row of `review_runs` or `review_batches`, by id."""
    found = store_rows(db, f"SELECT telemetry_json FROM {table} ORDER BY id")
    return [json.loads(text) if text else {} for (text,) in found]


def processes_with(env_entry: str) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every process whose environment holds
    `env_entry` (e.g. `HOME=/tmp/...`), read from /proc. A zombie's environment
    cannot be read, so zombies never show here."""
    needle = env_entry.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        except OSError:  # gone meanwhile, or not ours
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        found.append((int(entry.name), state, cmdline.strip()))
    return found


def live_processes(env_entry: str, *, within: float = 0.0) -> list[tuple[int, str, str]]:
    """`processes_with(env_entry)` that are not zombies, waiting up to `within`
    seconds for them to be gone (a process takes a moment to exit after its
    SIGKILL)."""
    deadline = time.monotonic() + within
    while True:
        alive = [p for p in processes_with(env_entry) if p[1] != "Z"]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


class Bench:
    """One KB, one vendor API, one runner: runs our commands as they would be
    run by a user whose `claude` / `codex` talks to the API."""

    def __init__(self, kb: Path, runner: str, api: VendorAPI, home: Path, cli: str | None) -> None:
        self.kb, self.runner, self.api, self.home, self.cli = kb, runner, api, home, cli
        self.env = command_env(runner, api, home, cli)
        self.db = kb / STORE

    def run(self, name: str, *args: str) -> Done:
        done = run_command(name, *args, cwd=self.kb, env=self.env)
        print(f"commonplace-{name} {' '.join(args)}: exit {done.code} in {done.elapsed:.1f} s")
        return done

    def runner_args(self, model: str, *extra: str, timeout: str = TIMEOUT) -> tuple[str, ...]:
        """--runner, --model, `extra`, --timeout and --json."""
        return ("--runner", self.runner, "--model", model, *extra, "--timeout", timeout, "--json")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return store_rows(self.db, sql, params)

    def stale(self, model: str, *extra: str) -> list[tuple[str, str, str]]:
        """(note, gate, reason) of each stale pair of the partition of these flags."""
        done = self.run("review-target-selector", "--all-gates", "--model", model, *extra, "--json")
        assert done.code == 0, done.err
        return [(p["note_path"], p["gate_id"], p["reason"]) for p in done.json()]

    def bundle_against_a_hung_server(self, model: str, cli_name: str) -> Done:
        """`run-review-bundle SEEDS clarity --timeout 5` against a server in mode
        "hang"; checks that the CLI was running while the server held its
        request, and that no process of the command (found by its HOME) is
        alive after it ended."""
        assert self.api.mode == "hang"
        marker = f"HOME={self.home}"  # no other process has this HOME
        started = time.monotonic()
        proc = start_command(
            "run-review-bundle",
            [SEEDS, "clarity", "--quiet", *self.runner_args(model, timeout="5")],
            cwd=self.kb,
            env=self.env,
        )
        api = "messages" if self.runner == "claude-code" else "responses"
        assert self.api.wait_for(1, api=api, timeout=30), self.api.paths()
        during = [p for p in processes_with(marker) if p[0] != proc.pid]
        assert any(cli_name in cmd for _, _, cmd in during), during
        done = finish_command(proc, started)
        print(f"run-review-bundle against a hung server: exit {done.code} in {done.elapsed:.1f} s")
        # The server still holds the request, so a CLI left behind would still be waiting.
        assert live_processes(marker, within=2) == []
        return done

    def running_runs(self) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        return self.rows("SELECT id FROM review_runs WHERE status = 'running'")


@contextlib.contextmanager
def benches(
    request: pytest.FixtureRequest, kb: Path, tmp_path: Path
) -> Iterator[Callable[..., Bench]]:
    """`make(runner, *, with_cli=True, **VendorAPI options)`: a Bench on `kb` with
    a started VendorAPI (stopped on exit) and the runner's CLI, taken from its
    fixture (which skips, or fails in CI, when the CLI is absent)."""
    apis: list[VendorAPI] = []

    def make(runner: str, *, with_cli: bool = True, **options: Any) -> Bench:
        cli = request.getfixturevalue(CLI_FIXTURE[runner]) if with_cli else None
        api = VendorAPI(**options).start()
        apis.append(api)
        return Bench(kb, runner, api, tmp_path / f"home-{len(apis)}", cli)

    try:
        yield make
    finally:
        for api in apis:
            api.stop()
