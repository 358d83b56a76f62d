"""Fault: malformed reviewer outputs fed to the ingest commands as real processes.

Each output of helpers/malformed_corpus.py (truncated, unterminated, duplicated,
unrequested or escaping pairs, broken encodings, binary data, odd line
endings, enormous blocks, unreadable decisions, ...) goes through
`ingest-batch-output` for its own batch of three notes x two gates, and some
also through `ingest-bundle-output` for a run of their own. The batches share
one example KB and store; the ingests run four at a time. SPEC 7 says what
each must do; always: exit 0 or 1, no traceback, no run left running, a
specific reason on every failed run, a store that passes `check`, and no file
written outside the KB's reports directory.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.backends import STORE_ENV, PgTarget, pg_target
from helpers.cli import Cli
from helpers.commands import console_script
from helpers.db import rows, run_states, store_of
from helpers.faults import MODEL, assert_clean_exit, assert_store_checks
from helpers.groups import MALFORMED_BENCH
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, make_git_kb
from helpers.malformed_corpus import (
    BATCH,
    BUGS,
    BUNDLE,
    BUNDLE_CASES,
    CASES,
    ESCAPE,
    Case,
    as_single_run,
    use_token,
)
from helpers.postgres import fresh_schema, postgres_password, require_postgres

from commonplace.protocol.prompt import requested_pairs
from commonplace.services.batch import prepare_review_batch
from commonplace.workspace import open_workspace

JOBS = 4
COMMANDS = {"batch": "ingest-batch-output", "bundle": "ingest-bundle-output"}

pytestmark = MALFORMED_BENCH


@dataclass(frozen=True)
class Ingested:
    run_ids: list[int]
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Bench:
    kb: Path
    results: dict[tuple[str, str], Ingested]  # by (command kind, case name)
    outside_before: set[str]
    outside_after: set[str]
    db: Path | PgTarget


def files_outside_reports(root: Path, kb: Path) -> set[str]:
    """Every file under `root` except the KB's reports directory and git folder."""
    skip = (kb / "kb" / "reports", kb / ".git")
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if not any(path.is_relative_to(s) for s in skip)
    }


@pytest.fixture(scope="module")
def benches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Bench]]:
    """The bench of each backend, made once per module when first asked for;
    on PostgreSQL in a schema of its own, dropped after the module."""
    made: dict[str, Bench] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Bench:
            if backend not in made:
                target = None
                if backend == "postgresql":
                    url = require_postgres()
                    target = pg_target(url, stack.enter_context(fresh_schema(url)))
                made[backend] = stack.enter_context(make_bench(tmp_path_factory, target))
            return made[backend]

        yield get


@pytest.fixture
def bench(benches: Callable[[str], Bench], backend: str, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """The bench of this test's backend; commands the test runs use its store."""
    made = benches(backend)
    if isinstance(made.db, PgTarget):
        monkeypatch.setenv(STORE_ENV, made.db)
    return made


@contextmanager
def make_bench(
    tmp_path_factory: pytest.TempPathFactory, target: PgTarget | None
) -> Iterator[Bench]:
    """Prepare a batch per case (and a run per bundle case), write the outputs,
    then ingest them all with real processes."""
    root = tmp_path_factory.mktemp("malformed")
    with pytest.MonkeyPatch.context() as env:  # as tests/conftest.py's _isolated does
        env.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        if target is not None:
            env.setenv(STORE_ENV, target)
            if postgres_password():
                env.setenv("PGPASSWORD", postgres_password() or "")
        env.setenv("HOME", str(root / "home"))
        for key, value in GIT_IDENTITY.items():
            env.setenv(key, value)
        kb = make_git_kb(EXAMPLE_KB, root / "example-kb")
        ws = open_workspace(cwd=kb)
        jobs: dict[tuple[str, str], tuple[list[int], list[str]]] = {}
        names = [("batch", name) for name in CASES] + [("bundle", name) for name in BUNDLE_CASES]
        for kind, name in names:
            prepared = prepare_review_batch(
                ws, BATCH if kind == "batch" else BUNDLE, runner="claude-workflow", model=MODEL
            )
            pairs = requested_pairs((kb / prepared.prompt_path).read_text(encoding="utf-8"))
            use_token(prepared.batch.boundary_token)  # the grammar of this batch
            data = CASES[name].output(pairs)
            output = kb / "kb" / "reports" / "outputs" / f"{kind}-{name}.md"
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
            run_ids = [run.review_run_id for run in prepared.batch.runs]
            scope = (
                ["--batch-id", str(prepared.batch.batch_id)]
                if kind == "batch"
                else ["--review-run-id", str(run_ids[0])]
            )
            argv = [console_script(f"commonplace-{COMMANDS[kind]}"), *scope]
            jobs[(kind, name)] = (run_ids, [*argv, "--input-file", str(output), "--json"])
        ws.store.close()
        before = files_outside_reports(root, kb)

        def ingest(job: tuple[list[int], list[str]]) -> Ingested:
            done = subprocess.run(job[1], cwd=kb, capture_output=True, text=True, check=False)
            return Ingested(job[0], done.returncode, done.stdout, done.stderr)

        with ThreadPoolExecutor(JOBS) as pool:
            results = dict(zip(jobs, pool.map(ingest, jobs.values()), strict=True))
        yield Bench(kb, results, before, files_outside_reports(root, kb), store_of(kb))


def assert_outcome(case: Case, db: Path | PgTarget, ingested: Ingested) -> None:
    run_ids, err = ingested.run_ids, ingested.err
    assert_clean_exit(ingested.code, err, 0 if case.completes == "all" else 1)
    json.loads(ingested.out)  # --json owns stdout, whatever happened
    states = run_states(db)
    completing = {"all": range(len(run_ids)), "none": ()}.get(str(case.completes), case.completes)
    for index, run_id in enumerate(run_ids):
        status, reason = states[run_id]
        if index in completing:
            assert (status, reason) == ("completed", None), (run_id, status, reason)
            continue
        assert status == "failed", (run_id, status)
        assert reason and reason.startswith(case.prefix), (case.prefix, reason)
        assert case.message in reason[len(case.prefix) :], (case.message, reason)
        assert f"error: review run {run_id} failed: " in err, err
    marks = ", ".join("?" * len(run_ids))
    reviews = rows(
        db,
        f"SELECT decision, rationale_markdown FROM gate_reviews WHERE review_run_id IN ({marks})",
        tuple(run_ids),
    )
    ((accepted,),) = rows(
        db,
        "SELECT COUNT(*) FROM acceptance_events e JOIN gate_reviews r"
        f" ON r.id = e.accepted_review_id WHERE r.review_run_id IN ({marks})",
        tuple(run_ids),
    )
    assert accepted == sum(decision in ("pass", "warn", "fail") for decision, _ in reviews)
    if case.decisions is not None:
        assert {decision for decision, _ in reviews} == case.decisions
        assert all("\r" not in text for _, text in reviews)


def params(kind: str, names: list[str]) -> list[object]:
    bug = {n: [pytest.mark.xfail(strict=True, reason=BUGS[n])] for n in BUGS}
    return [pytest.param(kind, n, id=f"{kind}-{n}", marks=bug.get(n, [])) for n in names]


@pytest.mark.parametrize(
    ("kind", "name"), params("batch", list(CASES)) + params("bundle", list(BUNDLE_CASES))
)
def test_a_malformed_output(bench: Bench, kind: str, name: str) -> None:
    case = CASES[name] if kind == "batch" else as_single_run(CASES[name])
    assert_outcome(case, bench.db, bench.results[(kind, name)])


def test_nothing_is_written_outside_the_reports_directory(bench: Bench) -> None:
    assert bench.outside_after == bench.outside_before
    assert not Path("/tmp", ESCAPE).exists()


def test_the_store_checks_after_every_output(bench: Bench, cli: Cli) -> None:
    assert {status for status, _ in run_states(bench.db).values()} <= {
        "completed",
        "failed",
    }
    assert_store_checks(bench.kb, cli=cli)
    print(
        f"\nmalformed outputs tried: {len(CASES)} through ingest-batch-output and"
        f" {len(BUNDLE_CASES)} through ingest-bundle-output ({len(bench.results)} ingests,"
        f" {len(BUGS)} known bug(s))"
    )
    assert len(CASES) >= 30
