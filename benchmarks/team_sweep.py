#!/usr/bin/env python3
"""Sweep throughput of a team on one PostgreSQL store: 4 machines x 2 jobs
against 1 machine x 1 job (goal: at least 6x).

On copies of the corpus (one git repository, cloned once per machine, each
clone a host of its own through COMMONPLACE_HOST), `commonplace-review-sweep`
reviews three prose gates of `--notes` notes through a reviewer that takes
0.3 s per batch (`tests/helpers/slow_reviewer.py`): first one machine with
`--jobs 1`, then four machines with `--jobs 2` each, started together, each
phase in a fresh schema. Both phases must review every pair exactly once
(each pair asked of the reviewer once, one gate review and one acceptance
per pair, no run failed), or the script fails. While the team sweeps, the
server is sampled for sessions waiting on the store's write lock (the
advisory lock of store/postgres.py), to tell whether it is the bottleneck.

The server: COMMONPLACE_BENCH_POSTGRES (a URL; its password from PGPASSWORD
or ~/.pgpass), else one started with scripts/postgres.sh for the run and
stopped after it. `--sqlite` measures the same on one SQLite file instead,
for contrast. Prints the measurements; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, compile_package, copy_corpus, find_command, review_files

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
REVIEWER = REPO_ROOT / "tests" / "helpers" / "slow_reviewer.py"
POSTGRES_SH = REPO_ROOT / "scripts" / "postgres.sh"
TEST_PASSWORD = "commonplace-test"  # the role's password on a scripts/postgres.sh server
GATES = ("prose/orphan-references", "prose/pseudo-formalism", "prose/source-residue")
MODEL = "bench-team"


@contextmanager
def server() -> Iterator[str]:
    """The server's URL: the one given, or a throwaway one of scripts/postgres.sh."""
    given = os.environ.get("COMMONPLACE_BENCH_POSTGRES", "").strip()
    if given:
        yield given
        return
    folder = tempfile.mkdtemp(prefix="bench-pg-")
    os.rmdir(folder)  # postgres.sh wants a folder that is absent or empty, and makes it
    started = subprocess.run(
        ["bash", str(POSTGRES_SH), "start", folder], capture_output=True, text=True
    )
    if started.returncode != 0:
        raise SystemExit(f"error: cannot start a PostgreSQL server: {started.stderr.strip()}")
    os.environ.setdefault("PGPASSWORD", TEST_PASSWORD)
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(POSTGRES_SH), "stop", folder], capture_output=True)


def connect(url: str) -> Any:
    import psycopg  # the package's own PostgreSQL driver, installed with its extra

    return psycopg.connect(url, autocommit=True)


def team_kb(corpus: Path, tmp: Path, machines: int, log: Path) -> tuple[list[Path], list[str]]:
    """`machines` clones of a committed corpus copy with the slow reviewer
    configured, and the notes to sweep (those directly in kb/notes, by name)."""
    origin = copy_corpus(corpus, tmp / "origin")
    command = [sys.executable, str(REVIEWER), "--sleep", "0.3", "--log", str(log)]
    (origin / "commonplace.toml").write_text(
        f"[runners.slow]\ncommand = {json.dumps(command)}\n", encoding="utf-8"
    )
    git = ["git", "-c", "user.name=Benchmark", "-c", "user.email=benchmark@example.invalid"]
    subprocess.run([*git, "add", "commonplace.toml"], cwd=origin, check=True)
    subprocess.run([*git, "commit", "-q", "--no-verify", "-m", "reviewer"], cwd=origin, check=True)
    clones = []
    for number in range(machines):
        clone = tmp / f"machine-{number + 1}"
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
        clones.append(clone)
    notes, _ = review_files(origin)
    return clones, [n for n in notes if n.count("/") == 2 and n.startswith("kb/notes/")]


class LockSampler:
    """Samples, every 50 ms, how many sessions hold and wait for an advisory
    lock (the store's write lock is the only one taken)."""

    def __init__(self, url: str | None) -> None:
        self.url = url  # None: a SQLite store, nothing to sample
        self.samples: list[tuple[int, int]] = []  # (held, waiting)
        self.opened = 0  # connections the sweeps opened
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> LockSampler:
        if self.url is not None:
            self.opened = -self.sessions()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            self.opened += self.sessions() - 2  # not this sampler's own two

    def _loop(self) -> None:
        with connect(self.url) as conn:
            while not self._stop.wait(0.05):
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
                    " FROM pg_locks WHERE locktype = 'advisory'"
                ).fetchone()
                self.samples.append((int(row[0]), int(row[1])))

    def sessions(self) -> int:
        """Connections the server has accepted so far (PostgreSQL 14 and later)."""
        with connect(str(self.url)) as conn:
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return int(row[0])

    def summary(self) -> str:
        if not self.samples:
            return ""
        count = max(1, len(self.samples))
        held = sum(1 for h, _ in self.samples if h) / count
        waiting = sum(w for _, w in self.samples) / count
        return (
            f"write lock held {held:.0%} of the time, {waiting:.2f} session(s) waiting;"
            f" {self.opened} connections opened; "
        )


def sweep(
    sweeper: str, clones: list[Path], notes: list[str], store: str, jobs: int
) -> tuple[float, list[dict[str, Any]]]:
    """Every clone sweeps at once; the wall time and each sweep's report."""
    argv = [sweeper, *GATES, "--note", *notes, "--runner", "slow", "--model", MODEL]
    argv += ["--jobs", str(jobs), "--json"]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            argv,
            cwd=clone,
            env={**os.environ, "COMMONPLACE_HOST": clone.name, "COMMONPLACE_REVIEW_DB": store},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    outputs = [proc.communicate() for proc in procs]
    elapsed = time.perf_counter() - started
    for clone, proc, (_, err) in zip(clones, procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"error: the sweep of {clone.name} exited {proc.returncode}:\n{err}")
    return elapsed, [json.loads(out) for out, _ in outputs]


def rows(store: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of the phase's store, through the package's own store layer."""
    from commonplace.store.connection import Store

    with Store(store) as opened, opened.read() as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]


def reviewing_span(store: str) -> float:
    """Seconds from the first run created to the last one finished: the
    sweeps' work without their start-up (selecting, planning)."""
    from datetime import datetime

    [(first, last)] = rows(store, "SELECT min(started_at), max(completed_at) FROM review_runs")
    moments = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (first, last)]
    return (moments[1] - moments[0]).total_seconds()


def reviewed_once(store: str, log: Path, expected: int) -> str | None:
    """What is wrong with the phase's reviews, or None when each of the
    `expected` pairs was asked for once and accepted once."""
    asked: Counter[tuple[str, str]] = Counter()
    for line in log.read_text(encoding="utf-8").splitlines():
        asked.update((note, gate) for note, gate in json.loads(line)["pairs"])
    counts = "SELECT count(*), count(DISTINCT note_path || ' :: ' || gate_id) FROM "
    [reviews] = rows(store, counts + "gate_reviews")
    [accepted] = rows(store, counts + "acceptance_events")
    [(failed,)] = rows(store, "SELECT count(*) FROM review_runs WHERE status <> 'completed'")
    if len(asked) != expected or set(asked.values()) != {1}:
        return f"the reviewer was asked {sum(asked.values())} times for {len(asked)} pairs"
    if reviews != (expected, expected) or accepted != (expected, expected):
        return f"gate reviews {reviews}, acceptances {accepted} (total, distinct)"
    if failed:
        return f"{failed} run(s) not completed"
    return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--notes", type=int, default=120, help="notes to sweep (default 120)")
    parser.add_argument(
        "--sqlite", action="store_true", help="the same on one SQLite file instead, for contrast"
    )
    args = parser.parse_args()
    sweeper = find_command("commonplace-review-sweep")
    if sweeper is None or not args.corpus.is_dir():
        print("error: commonplace-review-sweep or the corpus not found", file=sys.stderr)
        return 1
    compile_package()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} core(s)")
    backend = "SQLite (one file)" if args.sqlite else "PostgreSQL"
    with (
        tempfile.TemporaryDirectory(prefix="bench-team-") as tmp,
        nullcontext(None) if args.sqlite else server() as url,
    ):
        results = {}
        for machines, jobs in ((1, 1), (4, 2)):
            phase = Path(tmp) / f"{machines}x{jobs}"
            phase.mkdir()
            log = phase / "asked.jsonl"
            clones, notes = team_kb(args.corpus, phase, machines, log)
            notes = notes[: args.notes]
            with phase_store(url, phase) as store:
                cpu_before = _children_cpu()
                with LockSampler(url) as lock:
                    elapsed, reports = sweep(sweeper, clones, notes, store, jobs)
                cpu = _children_cpu() - cpu_before
                wrong = reviewed_once(store, log, len(notes) * len(GATES))
                span = reviewing_span(store)
            if wrong is not None:
                print(f"error: {machines} x {jobs}: {wrong}", file=sys.stderr)
                return 1
            batches = sum(len(r["batches"]) for r in reports)
            left = sum(len(r["skipped"]) for r in reports)
            results[(machines, jobs)] = (elapsed, span)
            print(
                f"{machines} machine(s) x {jobs} job(s) on {backend}: {len(notes) * len(GATES)}"
                f" pairs in {batches} batches, each reviewed once, {elapsed:.2f} s"
                f" ({span:.2f} s from the first run created to the last finished,"
                f" {batches / span:.1f} batches/s); {left} pair(s) left to another machine"
            )
            print(
                f"  {lock.summary()}CPU of sweeps and reviewers {cpu:.1f} s"
                f" = {cpu / elapsed:.1f} of {os.cpu_count()} core(s) (the server's not counted)"
            )
    (solo, solo_span), (team, team_span) = results[(1, 1)], results[(4, 2)]
    print(
        f"4 machines x 2 jobs: {team:.2f} s vs 1 machine x 1 job {solo:.2f} s"
        f" -> ratio {solo / team:.1f}x (target >= 6x, ideal 8x);"
        f" without start-up {team_span:.2f} s vs {solo_span:.2f} s -> {solo_span / team_span:.1f}x"
    )
    return 0


@contextmanager
def phase_store(url: str | None, phase: Path) -> Iterator[str]:
    """A fresh store for one phase: a new schema on the server (dropped
    after), or a new SQLite file (made first: the sweeps' claims read it)."""
    if url is None:
        from commonplace.store.connection import Store

        path = phase / "store.sqlite"
        with Store(path) as store:
            store.migrate()
        yield str(path)
        return
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        yield f"{url}{'&' if '?' in url else '?'}schema={schema}"
    finally:
        with connect(url) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    raise SystemExit(main())
