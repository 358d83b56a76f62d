#!/usr/bin/env python3
"""The review store on PostgreSQL versus SQLite, measured in one run.

- The selector (`--all-gates --json`) on the synthetic 10,000-note x 40-gate KB,
  with a store where most pairs are reviewed: the same acceptances are written
  into a SQLite file and a PostgreSQL schema, so the selector reads hundreds of
  thousands of them from either. Goal: PostgreSQL at most 2x SQLite.
- Ingesting a clean 400-pair batch output (40 corpus notes x 10 gates), process
  start included, each repetition on a fresh store of its backend.

The server is COMMONPLACE_BENCH_POSTGRES (a URL; the password from PGPASSWORD or
~/.pgpass), else one this script starts with scripts/postgres.sh and stops at the
end. Each store is a schema of its own, dropped afterwards. Prints the figures and
the ratios; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import (
    REPO_ROOT,
    CommandFailed,
    compile_package,
    copy_corpus,
    count_pairs,
    find_command,
    review_files,
    time_command,
)
from generate_kb import generate
from ingest_batch import DEFAULT_CORPUS, NOTES_DIR, clean_output, prepare, unconditional_gates

SELECTOR = "commonplace-review-target-selector"
URL_ENV = "COMMONPLACE_BENCH_POSTGRES"
SCRIPT = REPO_ROOT / "scripts" / "postgres.sh"
# The password of the role scripts/postgres.sh creates.
SCRIPT_PASSWORD = "commonplace-test"
TARGET_SELECTOR = 2.0


@contextmanager
def server() -> Iterator[str]:
    """The server's URL: the one given, or one started here for this run."""
    given = os.environ.get(URL_ENV, "").strip()
    if given:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="cp-bench-pg."))
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True)
    if started.returncode != 0:
        raise CommandFailed(f"scripts/postgres.sh start: {started.stderr.decode().strip()}")
    os.environ.setdefault("PGPASSWORD", SCRIPT_PASSWORD)
    try:
        yield started.stdout.decode().strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True)


class Schemas:
    """Schema names of this run, all dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []

    def new(self, what: str) -> str:
        name = f"bench_{what}_{secrets.token_hex(4)}"
        self.names.append(name)
        return name

    def store(self, name: str) -> str:
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}schema={name}"

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def fill(target: str, root: Path, model: str, seed: int) -> tuple[int, int, float]:
    """Accept most applicable pairs of the KB in the store at `target`, as a
    store with a history would hold them: 90% of the pairs accepted, a tenth
    of those accepted twice (an older version first), one in twenty of them
    for a note version that has changed since. (events, pairs, seconds)."""
    from commonplace.services.selector import gate_scope, note_scope, select_stale
    from commonplace.store.acceptances import add_ack
    from commonplace.workspace import open_workspace

    started = time.perf_counter()
    ws = open_workspace(db=target, cwd=root)
    partition = ws.partition(model, None)
    git = ws.git_state()
    notes = note_scope(ws, git, [], False).notes
    gates = gate_scope(ws, []).gates
    gate_sha = {g.id: g.sha for g in gates}
    note_sha = {n.key: n.sha for n in notes}
    stale = select_stale(ws.store, git, notes=notes, gates=gates, model_id=partition.model_id)
    rng = random.Random(seed)
    rows: list[tuple[str, str, str, str]] = []
    for entry in stale:
        for gate in entry.gates:
            if rng.random() >= 0.9:
                continue
            current = note_sha[entry.note_path]
            old = "0" * 40
            if rng.random() < 0.1:
                rows.append((entry.note_path, gate.gate_id, old, gate_sha[gate.gate_id]))
            shown = old if rng.random() < 0.05 else current
            rows.append((entry.note_path, gate.gate_id, shown, gate_sha[gate.gate_id]))
    at = "2024-05-01T10:00:00.000Z"
    chunk = 20_000
    for start in range(0, len(rows), chunk):
        with ws.store.write() as conn:
            for note_path, gate_id, note, gate in rows[start : start + chunk]:
                add_ack(
                    conn,
                    note_path=note_path,
                    gate_id=gate_id,
                    model_id=partition.model_id,
                    note_sha=note,
                    note_commit=None,
                    gate_sha=gate,
                    at=at,
                    kind="migration-import",
                )
    ws.store.close()
    pairs = len({(r[0], r[1]) for r in rows})
    return len(rows), pairs, time.perf_counter() - started


def selector_figures(args: argparse.Namespace, schemas: Schemas, tmp: Path) -> tuple[float, float]:
    selector = find_command(SELECTOR)
    if selector is None:
        raise CommandFailed(f"{SELECTOR} not found")
    root = tmp / "kb"
    summary = generate(root, args.notes, args.gates, args.seed)
    print(f"generated {len(summary.note_paths)} notes x {len(summary.gate_paths)} gates")
    targets = {
        "sqlite": str(tmp / "selector.sqlite"),
        "postgresql": schemas.store(schemas.new("sel")),
    }
    for backend, target in targets.items():
        events, pairs, seconds = fill(target, root, args.model, args.seed)
        print(
            f"{backend}: filled with {events:,} acceptances of {pairs:,} pairs in {seconds:.1f} s"
        )
    argv = [selector, "--all-gates", "--model", args.model, "--json"]
    best: dict[str, float] = {}
    answers: dict[str, int | None] = {}
    for _ in range(args.repeat):  # alternated, so that both see the same machine load
        for backend, target in targets.items():
            env = dict(os.environ, COMMONPLACE_REVIEW_DB=target)
            timing = time_command(argv, repeat=1, cwd=root, env=env)
            best[backend] = min(best.get(backend, float("inf")), timing.best)
            answers[backend] = count_pairs(timing.stdout)
    print(f"stale pairs reported: sqlite {answers['sqlite']}, postgresql {answers['postgresql']}")
    if answers["sqlite"] != answers["postgresql"]:
        raise CommandFailed("the two backends report different stale pairs")
    return best["sqlite"], best["postgresql"]


def ingest_figures(args: argparse.Namespace, schemas: Schemas, tmp: Path) -> tuple[float, float]:
    prepare_cmd = find_command("commonplace-prepare-review-batch")
    ingest_cmd = find_command("commonplace-ingest-batch-output")
    if prepare_cmd is None or ingest_cmd is None:
        raise CommandFailed("commonplace-prepare-review-batch or -ingest-batch-output not found")
    root = copy_corpus(args.corpus, tmp)
    all_notes, all_gates = review_files(root)
    notes = [n for n in all_notes if n.startswith(NOTES_DIR)][:40]
    gates = unconditional_gates(root, all_gates, 10)
    pairs = [f"{note}::{gate}" for note in notes for gate in gates]
    best: dict[str, float] = {}
    for repetition in range(args.repeat):
        targets = {
            "sqlite": str(tmp / f"ingest-{repetition}.sqlite"),
            "postgresql": schemas.store(schemas.new("ingest")),
        }
        for backend, target in targets.items():
            reports = f"kb/reports-{backend}-{repetition}"
            (root / "commonplace.toml").write_text(f'reports_dir = "{reports}"\n')
            env = dict(os.environ, COMMONPLACE_REVIEW_DB=target)
            prepared = prepare(prepare_cmd, root, env, pairs, args.model)
            output, _ = clean_output(root, prepared)
            argv = [ingest_cmd, "--batch-id", str(prepared["batch_id"])]
            timing = time_command(
                [*argv, "--input-file", str(output), "--json"], repeat=1, cwd=root, env=env
            )
            report = json.loads(timing.stdout)
            if len(report.get("completed", [])) != len(notes) or report.get("failed"):
                raise CommandFailed(f"{backend}: the ingest did not complete every run")
            best[backend] = min(best.get(backend, float("inf")), timing.best)
    print(f"ingest: {len(pairs)} pairs, every run completed on both backends")
    return best["sqlite"], best["postgresql"]


def ratio(label: str, sqlite: float, postgres: float, target: str) -> str:
    return (
        f"{label}: postgresql {postgres:.3f} s vs sqlite {sqlite:.3f} s"
        f" -> ratio {postgres / sqlite:.2f}x ({target})"
    )


def main(argv: list[str] | None = None) -> int:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=10_000, help="notes to generate (10000)")
    parser.add_argument("--gates", type=int, default=40, help="gates to generate (40)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (0)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend, best kept (3)")
    parser.add_argument("--model", default="bench-model", help="model partition (bench-model)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus for ingest")
    parser.add_argument("--only", choices=("selector", "ingest"), help="run one benchmark")
    args = parser.parse_args(argv)
    lines: list[str] = []
    try:
        with server() as url, tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
            print(f"server: {url}")
            schemas = Schemas(url)
            try:
                if args.only in (None, "selector"):
                    sqlite, postgres = selector_figures(args, schemas, Path(tmp))
                    lines.append(
                        ratio(
                            "store-backends/selector",
                            sqlite,
                            postgres,
                            f"goal <= {TARGET_SELECTOR:g}x",
                        )
                    )
                if args.only in (None, "ingest"):
                    sqlite, postgres = ingest_figures(args, schemas, Path(tmp))
                    lines.append(
                        ratio("store-backends/ingest 400 pairs", sqlite, postgres, "no goal")
                    )
            finally:
                schemas.drop_all()
    except (CommandFailed, OSError, ValueError) as exc:
        print(f"store-backends: failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
