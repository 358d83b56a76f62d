"""The real PostgreSQL server the tests use, when one is given: its URL comes from
COMMONPLACE_TEST_POSTGRES (`scripts/postgres.sh start DIR` prints one; .ci/run and
scripts/test.sh start one) and its password from COMMONPLACE_TEST_POSTGRES_PASSWORD.
Each test works in a schema of its own, dropped afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

URL_VARIABLE = "COMMONPLACE_TEST_POSTGRES"
PASSWORD_VARIABLE = "COMMONPLACE_TEST_POSTGRES_PASSWORD"
MISSING = (
    f"PostgreSQL server not given: set {URL_VARIABLE} (scripts/postgres.sh start DIR prints one)"
)
# A connection the test left open that holds a lock in the schema makes the drop
# fail after this long, with the server's message, instead of hanging the run.
LOCK_TIMEOUT = "-c lock_timeout=20s"


def postgres_url() -> str | None:
    """The test server's URL, None when no server is given."""
    return os.environ.get(URL_VARIABLE) or None


def postgres_password() -> str | None:
    """The test server's password, None when libpq should find it itself."""
    return os.environ.get(PASSWORD_VARIABLE) or None


def require_postgres() -> str:
    """The test server's URL; skip without one, except in CI where that is a failure."""
    url = postgres_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return url


def new_schema_name() -> str:
    """A schema name no other test (or xdist worker) uses: `t_` and 16 hex digits."""
    return f"t_{secrets.token_hex(8)}"


def drop_schema(url: str, schema: str) -> None:
    """Drop `schema` and everything in it, if it exists: through psycopg when it is
    installed, else through psql."""
    if not schema.startswith("t_") or not schema[2:].isalnum():
        raise ValueError(f"not a test schema name: {schema!r}")
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        _psql(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return
    with psycopg.connect(
        url, password=postgres_password(), autocommit=True, options=LOCK_TIMEOUT
    ) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def schema_exists(url: str, schema: str) -> bool:
    """Whether the server has a schema of that name (for tests of the clean-up)."""
    import psycopg

    with psycopg.connect(url, password=postgres_password()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
            (schema,),
        ).fetchone()
    return row is not None and row[0] == 1


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A schema name of this test's own; the store creates the schema, this drops it
    (CASCADE) on the way out, whether the test passed or not."""
    schema = new_schema_name()
    try:
        yield schema
    finally:
        drop_schema(url, schema)


def _psql(url: str, statement: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("neither psycopg nor psql is installed: cannot drop a test schema")
    env = dict(os.environ)
    password = postgres_password()
    if password is not None:
        env["PGPASSWORD"] = password
    env["PGOPTIONS"] = LOCK_TIMEOUT
    done = subprocess.run(
        [psql, "-X", "-q", url, "-v", "ON_ERROR_STOP=1", "-c", statement],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"psql failed ({done.returncode}): {done.stderr.strip()}")
