"""The two store backends the store, lifecycle, selector, ingest, sweep and
reliability suites run against: a SQLite file and a schema on the PostgreSQL
test server (tests/helpers/postgres.py).

A test of those suites gets a `backend` parameter (`sqlite` or `postgresql`);
on PostgreSQL the `backend` fixture points COMMONPLACE_REVIEW_DB at a fresh
schema, so every command a test runs without `--db` (in-process or as a
subprocess) uses it, and `helpers.db.store_of(kb)` names it. A store target is
a `Path` for SQLite and a `PgTarget` (the URL with `?schema=`) for PostgreSQL;
the raw-SQL helpers of `helpers.db` take either.

A test that is about SQLite itself says so with
`@pytest.mark.sqlite_only("why")`: it runs on SQLite only, and the marker
holds the reason (a PostgreSQL variant made some other way is skipped with it).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from helpers.postgres import postgres_password

BACKENDS = ("sqlite", "postgresql")
STORE_ENV = "COMMONPLACE_REVIEW_DB"


class PgTarget(str):
    """A PostgreSQL store named as `--db` takes it: `URL?schema=NAME`."""

    @property
    def url(self) -> str:
        return self.split("?", 1)[0]

    @property
    def schema(self) -> str:
        return dict(parse_qsl(urlsplit(self).query))["schema"]

    def exists(self) -> bool:
        """Whether the store was ever written (its version table is there)."""
        with connect(self) as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = 'schema_version'",
                (self.schema,),
            ).fetchone()
        return found is not None


def pg_target(url: str, schema: str) -> PgTarget:
    return PgTarget(f"{url}?schema={schema}")


def connect(target: PgTarget, *, autocommit: bool = False) -> Any:
    """A psycopg connection to the server of `target`, its schema searched first."""
    import psycopg

    conn = psycopg.connect(target.url, password=postgres_password(), autocommit=autocommit)
    conn.execute(f'SET search_path TO "{target.schema}"')
    return conn


def current_target() -> PgTarget | None:
    """The PostgreSQL store of this test (COMMONPLACE_REVIEW_DB), if it has one."""
    value = os.environ.get(STORE_ENV, "")
    return PgTarget(value) if value.startswith("postgresql://") else None


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Run the test once per backend (the tests of the both-backend suites)."""
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("one_backend") is not None:
        return
    if any("backend" in call.params for call in getattr(metafunc, "_calls", [])):
        return  # a folder conftest and a marker both asked
    # A test about SQLite itself gets no PostgreSQL variant at all (its marker
    # says why), rather than one that is always skipped.
    about_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    metafunc.parametrize("backend", ("sqlite",) if about_sqlite else BACKENDS, indirect=True)


def skip_if_sqlite_only(request: pytest.FixtureRequest, backend: str) -> None:
    marker = request.node.get_closest_marker("sqlite_only")
    if backend != "sqlite" and marker is not None:
        reason = marker.args[0] if marker.args else "about SQLite itself"
        pytest.skip(f"SQLite only: {reason}")
