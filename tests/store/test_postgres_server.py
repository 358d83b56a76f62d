"""The test-side PostgreSQL server: scripts/postgres.sh starts and stops a real
one, the helpers find it, refuse a wrong password and drop each test's schema."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import helpers.postgres
import psycopg
import pytest
from helpers.kb import REPO
from helpers.postgres import (
    URL_VARIABLE,
    drop_schema,
    fresh_schema,
    postgres_password,
    require_postgres,
    schema_exists,
)

SCRIPT = REPO / "scripts" / "postgres.sh"

pytestmark = pytest.mark.one_backend  # opens no review store


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder under /tmp: pytest's own are private to root, which the server's
    user could not enter, and the server's socket path must stay short."""
    path = Path(tempfile.mkdtemp(prefix="cp-pg-test."))
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def running(pid: int) -> bool:
    """Whether the process runs: a zombie (exited, its parent not yet told) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def create_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, password=postgres_password(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".t (x integer)')


# ---------------------------------------------------------------------------
# The given server


def test_connects_as_the_commonplace_role_without_a_password_in_the_url() -> None:
    url = require_postgres()
    assert urlsplit(url).password is None
    with psycopg.connect(url, password=postgres_password()) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == ("commonplace", "commonplace")


def test_a_wrong_password_is_refused() -> None:
    url = require_postgres()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, password="wrong", connect_timeout=10)


def test_the_fixture_sets_pgpassword_and_gives_an_unused_schema(
    postgres_schema: tuple[str, str],
) -> None:
    url, schema = postgres_schema
    assert schema.startswith("t_")
    assert not schema_exists(url, schema)
    # No password argument: libpq takes PGPASSWORD, as the store will.
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_schema_made_inside_fresh_schema_is_gone_after_it() -> None:
    url = require_postgres()
    with fresh_schema(url) as schema:
        create_schema(url, schema)
        assert schema_exists(url, schema)
    assert not schema_exists(url, schema)


def test_the_schema_is_dropped_when_the_test_fails_too() -> None:
    url = require_postgres()
    with pytest.raises(RuntimeError), fresh_schema(url) as schema:
        create_schema(url, schema)
        raise RuntimeError("the test failed")
    assert not schema_exists(url, schema)


def test_psql_drops_the_schema_when_psycopg_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = require_postgres()
    with fresh_schema(url) as schema:
        create_schema(url, schema)
        monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg: ImportError
        drop_schema(url, schema)
        monkeypatch.undo()
        assert not schema_exists(url, schema)


def test_only_test_schema_names_are_dropped() -> None:
    for name in ("public", 't_1"; DROP SCHEMA public; --', "t_"):
        with pytest.raises(ValueError, match="not a test schema name"):
            drop_schema("postgresql://nobody@127.0.0.1:1/none", name)


def test_a_lock_held_by_a_leftover_connection_fails_the_drop_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = require_postgres()
    monkeypatch.setattr(helpers.postgres, "LOCK_TIMEOUT", "-c lock_timeout=300ms")
    with fresh_schema(url) as schema:
        create_schema(url, schema)
        with psycopg.connect(url, password=postgres_password()) as leftover:
            leftover.execute(f'LOCK TABLE "{schema}".t IN ACCESS SHARE MODE')
            with pytest.raises(psycopg.errors.LockNotAvailable):
                drop_schema(url, schema)
            leftover.rollback()


# ---------------------------------------------------------------------------
# Without a server


def test_no_server_skips_with_the_way_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"scripts/postgres\.sh start DIR"):
        require_postgres()


def test_no_server_in_ci_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=URL_VARIABLE):
        require_postgres()


# ---------------------------------------------------------------------------
# scripts/postgres.sh


def test_the_script_starts_a_server_and_stop_leaves_nothing(short_dir: Path) -> None:
    if script("available").returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("no initdb: .ci/run installs postgresql (scripts/postgres.sh install)")
        pytest.skip("PostgreSQL is not installed (scripts/postgres.sh install)")
    cluster = short_dir  # empty: the script gives it to the server's user
    started = script("start", str(cluster))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql://commonplace@127.0.0.1:") and "\n" not in url
    try:
        pid = int((cluster / "data" / "postmaster.pid").read_text().split()[0])
        with psycopg.connect(url, password="commonplace-test") as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    finally:
        stopped = script("stop", str(cluster))
    assert stopped.returncode == 0, stopped.stderr
    assert not cluster.exists()
    assert not running(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, password="commonplace-test", connect_timeout=5)


def test_stop_removes_only_a_folder_the_script_made(short_dir: Path) -> None:
    (short_dir / "keep.txt").write_text("mine")
    done = script("stop", str(short_dir))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "not removing it" in done.stderr
    assert (short_dir / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start"], "usage: scripts/postgres.sh start DIR"),
        (["stop", ""], "usage: scripts/postgres.sh stop DIR"),
        (["restart", "x"], "usage: scripts/postgres.sh install"),
        ([], "usage: "),
    ],
)
def test_bad_arguments_are_a_usage_error(args: list[str], message: str) -> None:
    done = script(*args)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and message in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the folder to another user")
def test_start_in_a_folder_the_server_user_cannot_enter_leaves_nothing(short_dir: Path) -> None:
    if script("available").returncode != 0:
        pytest.skip("PostgreSQL is not installed (scripts/postgres.sh install)")
    short_dir.chmod(0o700)  # root's own: the postgres user cannot enter it
    done = script("start", str(short_dir / "pg"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "not writable by postgres" in done.stderr
    assert list(short_dir.iterdir()) == []


def test_without_postgresql_start_says_how_to_install_it(short_dir: Path) -> None:
    nothing = {"COMMONPLACE_POSTGRES_LIB": str(short_dir / "lib")}
    assert script("available", env=nothing).returncode == 1
    done = script("start", str(short_dir / "pg"), env=nothing)
    assert done.returncode == 1
    assert done.stderr.startswith("error: PostgreSQL is not installed")
    assert "scripts/postgres.sh install" in done.stderr
    assert list(short_dir.iterdir()) == []


def test_start_refuses_a_path_that_would_break_the_server_configuration(short_dir: Path) -> None:
    cluster = short_dir / "pg'x\nlisten_addresses = '*'"
    done = script("start", str(cluster))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "letters, digits" in done.stderr
    assert list(short_dir.iterdir()) == []


def test_start_refuses_a_folder_that_is_not_empty(short_dir: Path) -> None:
    (short_dir / "keep.txt").write_text("mine")
    done = script("start", str(short_dir))
    assert done.returncode == 1
    assert "is not empty" in done.stderr
    assert sorted(p.name for p in short_dir.iterdir()) == ["keep.txt"]
