"""Shared fixtures: knowledge bases in temporary git repositories, and running
commands in-process the way their console scripts do. The helpers the fixtures
and tests share are in the `helpers` package beside this file."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers.backends import (
    STORE_ENV,
    PgTarget,
    current_target,
    parametrize,
    pg_target,
    skip_if_sqlite_only,
)
from helpers.commands import Result, Stdin
from helpers.kb import (
    CORPUS,
    EXAMPLE_KB,
    GIT_IDENTITY,
    make_git_kb,
    require_shared,
    use_template_root,
)
from helpers.postgres import fresh_schema, postgres_password, require_postgres
from hypothesis import HealthCheck, settings

from commonplace.store.connection import Store
from commonplace.workspace import Workspace, open_workspace

# Timing is measured by benchmarks/, never by tests: no per-example deadline,
# which would only make a loaded CI machine flaky.
settings.register_profile(
    "commonplace", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("commonplace")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked `both_backends` runs against SQLite and PostgreSQL
    (the folders of those suites say so in their own conftest.py)."""
    if metafunc.definition.get_closest_marker("both_backends") is not None:
        parametrize(metafunc)


@pytest.fixture(scope="session", autouse=True)
def _kb_templates(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The committed example KB and corpus are built once per session (per
    xdist worker) in this folder and copied for each test."""
    use_template_root(tmp_path_factory.mktemp("kb-templates"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's store variable or writes to their HOME."""
    monkeypatch.delenv("COMMONPLACE_REVIEW_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _keep_sigterm() -> Iterator[None]:
    """The sweep commands install a SIGTERM handler when run in-process; give
    pytest (or the xdist worker) its own back after every test."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.fixture
def corpus_kb(tmp_path: Path) -> Path:
    """The real corpus, copied into a temporary git repository."""
    return make_git_kb(require_shared(CORPUS), tmp_path / "corpus-kb")


@pytest.fixture
def example_kb(tmp_path: Path) -> Path:
    """The bundled example KB, copied into a temporary git repository."""
    return make_git_kb(EXAMPLE_KB, tmp_path / "example-kb")


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run `commonplace-<name> args...` in-process from `cwd`; returns code and output."""
    from commonplace.cli.app import run
    from commonplace.cli.main import COMMANDS

    def invoke(name: str, *args: str, cwd: Path, stdin: str | None = None) -> Result:
        monkeypatch.chdir(cwd)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", Stdin(stdin))
        capsys.readouterr()
        try:
            code = run(COMMANDS[name], list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def backend(
    request: pytest.FixtureRequest, _isolated: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store backend of this test: `sqlite`, unless the test's suite is
    parametrized over both (helpers/backends.py). On PostgreSQL the test gets a
    schema of its own, named in COMMONPLACE_REVIEW_DB for every command it runs
    without `--db`, and dropped afterwards."""
    kind = getattr(request, "param", "sqlite")
    skip_if_sqlite_only(request, kind)
    if kind == "sqlite":
        yield kind
        return
    url = require_postgres()
    password = postgres_password()
    if password is not None:
        monkeypatch.setenv("PGPASSWORD", password)
    with fresh_schema(url) as schema:
        monkeypatch.setenv(STORE_ENV, pg_target(url, schema))
        yield kind


@pytest.fixture(autouse=True)
def _backend(backend: str) -> None:
    """Every test has a backend, so that a suite can parametrize it."""


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Path | PgTarget:
    """The store to pass as `--db`: a file under tmp_path, or the test's schema."""
    return current_target() or tmp_path / "db" / "store.sqlite"


@pytest.fixture
def new_db(backend: str, tmp_path: Path) -> Iterator[Callable[[str], Path | PgTarget]]:
    """Another store for each name asked for: a file under tmp_path/stores, or
    a schema of its own (dropped after the test)."""
    made: dict[str, Path | PgTarget] = {}
    with ExitStack() as stack:

        def make(name: str) -> Path | PgTarget:
            if name not in made:
                if backend == "sqlite":
                    made[name] = tmp_path / "stores" / f"{name}.sqlite"
                else:
                    url = require_postgres()
                    made[name] = pg_target(url, stack.enter_context(fresh_schema(url)))
            return made[name]

        yield make


@pytest.fixture
def ws(example_kb: Path, db: Path | PgTarget) -> Workspace:
    """A workspace on the example KB with its store under tmp_path (or the
    test's PostgreSQL schema)."""
    return open_workspace(db=db, cwd=example_kb)


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[Store]:
    """A store at tmp_path/store.sqlite (or the test's PostgreSQL schema),
    closed after the test."""
    with Store(current_target() or tmp_path / "store.sqlite") as store:
        yield store


@pytest.fixture
def postgres_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(url, schema) on the test server: a schema name of this test's own, dropped
    after it. PGPASSWORD is set, as a user's libpq set-up would give the password
    (the URL has none). Skips without a server, fails without one in CI."""
    url = require_postgres()
    password = postgres_password()
    if password is not None:
        monkeypatch.setenv("PGPASSWORD", password)
    with fresh_schema(url) as schema:
        yield url, schema
