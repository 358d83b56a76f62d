"""A PostgreSQL store failing while it is used: the server stopped in the middle of a
sweep, a role without rights on the schema; and a password given in the URL, which
works and shows up nowhere (output, reports, artifacts, crash logs, the store).

The first two need a server of their own (`scripts/postgres.sh`), stopped or
administered by the test; the last uses the shared test server."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from helpers.commands import Result, console_script
from helpers.kb import REPO
from helpers.postgres import postgres_password, require_postgres

from commonplace.store.connection import Store
from commonplace.store.snapshots import add_snapshots, snapshot_texts

# It sets up its own PostgreSQL stores: not run again per test backend.
pytestmark = pytest.mark.one_backend


Cli = Callable[..., Result]
SCRIPT = REPO / "scripts" / "postgres.sh"
MODEL = ("--model", "demo")
# The password scripts/postgres.sh gives its role (never in the URL it prints).
ROLE_PASSWORD = "commonplace-test"
READER_PASSWORD = "reader-Pa55-never-shown"


@dataclass(frozen=True)
class OwnServer:
    folder: Path
    url: str

    def stop(self) -> None:
        """`pg_ctl stop -m immediate`, as a crash or a failover would."""
        done = subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.folder)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        """The cluster's superuser, over the server's own socket (trusted)."""
        port = urlsplit(self.url).port
        return psycopg.connect(
            host=str(self.folder / "socket"),
            port=port,
            user="postgres",
            dbname="commonplace",
            autocommit=True,
        )


@pytest.fixture
def own_server() -> Iterator[OwnServer]:
    """A throwaway server for this test alone; skipped where the tests have no
    server (and so no PostgreSQL installed), a failure under CI."""
    require_postgres()
    folder = Path(tempfile.mkdtemp(prefix="cp-pg-own."))
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    server = OwnServer(folder, started.stdout.strip())
    try:
        yield server
    finally:
        server.stop()  # nothing to do when the test stopped it


@pytest.fixture
def kb(example_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return example_kb


def configure(kb: Path, url: str, schema: str, *extra: str) -> None:
    config = kb / "commonplace.toml"
    head = "\n".join((f'store = "{url}"', f'schema = "{schema}"'))
    config.write_text(f"{head}\n{config.read_text(encoding='utf-8')}\n" + "\n".join(extra))


def crash_logs(kb: Path) -> list[Path]:
    state = kb.parent / "state" / "commonplace"
    return sorted(state.iterdir()) if state.is_dir() else []


# ---------------------------------------------------------------------------
# The server goes away


# Says it has started, then takes its time: the test stops the server meanwhile.
# (Runners get an allow-listed environment: the marker's path is written in.)
SLOW_RUNNER = """#!/bin/sh
touch '{marker}'
sleep 5
exec python3 tools/stand-in-reviewer.py
"""


def test_a_server_stopped_in_the_middle_of_a_sweep_ends_it_with_an_error(
    own_server: OwnServer, kb: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "reviewer-started"
    (kb / "tools" / "slow.sh").write_text(SLOW_RUNNER.format(marker=marker))
    configure(kb, own_server.url, "team", '[runners.slow]\ncommand = ["sh", "tools/slow.sh"]')
    env = {**os.environ, "PGPASSWORD": ROLE_PASSWORD, "XDG_STATE_HOME": str(tmp_path / "state")}
    sweep = subprocess.Popen(
        [console_script("commonplace-review-sweep"), "--runner", "slow", *MODEL, "--jobs", "2"],
        cwd=kb,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"the reviewer never started: {sweep.poll()}"
        own_server.stop()
        out, err = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
    assert sweep.returncode == 1, (out, err)
    assert err.strip().splitlines()[-1].startswith("error: "), err
    assert "review store" in err
    assert "Traceback" not in out + err and "unexpected error" not in err
    assert crash_logs(kb) == []


# ---------------------------------------------------------------------------
# A role without rights


def test_a_role_without_rights_fails_instead_of_reading_an_empty_store(
    own_server: OwnServer, cli: Cli, kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(kb, own_server.url, "team")
    monkeypatch.setenv("PGPASSWORD", ROLE_PASSWORD)
    assert cli("review-sweep", "--runner", "stand-in", *MODEL, cwd=kb).code == 0
    owner_view = cli("review-target-selector", "--all-gates", *MODEL, "--json", cwd=kb)
    with own_server.superuser() as admin:
        admin.execute(f"CREATE ROLE reader LOGIN PASSWORD '{READER_PASSWORD}'")
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    reader = own_server.url.replace("commonplace@", "reader@", 1) + "?schema=team"
    for command in (
        ("review-target-selector", "--all-gates", *MODEL, "--json"),
        ("review-store", "check"),
        ("review-sweep", "--runner", "stand-in", *MODEL),
    ):
        result = cli(*command, "--db", reader, cwd=kb)
        assert result.code == 1, result.out
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "permission denied for schema team" in lines[0], lines
        assert "grant" in lines[0] and READER_PASSWORD not in result.out + result.err

    with own_server.superuser() as admin:
        admin.execute("GRANT USAGE ON SCHEMA team TO reader")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA team TO reader")
    # Allowed to read: the team's history, not an empty store.
    reading = cli("review-target-selector", "--all-gates", *MODEL, "--json", "--db", reader, cwd=kb)
    assert (reading.code, reading.out) == (owner_view.code, owner_view.out)
    (kb / "kb" / "notes" / "frost-dates.md").write_text("---\ndescription: x\n---\nchanged\n")
    before = _counts(own_server)
    writing = cli("review-sweep", "--runner", "stand-in", *MODEL, "--db", reader, cwd=kb)
    assert writing.code == 1 and "permission denied for table" in writing.err, writing.err
    assert "Traceback" not in writing.err and crash_logs(kb) == []
    assert _counts(own_server) == before


def _counts(server: OwnServer) -> tuple[int, ...]:
    with server.superuser() as admin:
        return tuple(
            int(admin.execute(f"SELECT count(*) FROM team.{table}").fetchone()[0])  # type: ignore[index]
            for table in ("review_batches", "review_runs", "acceptance_events")
        )


# ---------------------------------------------------------------------------
# A password given in the URL works, and is shown nowhere


def test_a_password_in_the_url_is_used_and_never_shown(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, schema = postgres_schema
    password = postgres_password()
    if not password:
        pytest.skip("the test server takes no password: nothing to hide")
    monkeypatch.delenv("PGPASSWORD")
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    secret_url = f"{scheme}://{user}:{password}@{host}?schema={schema}"
    shown: list[str] = []

    def run(*args: str) -> Result:
        result = cli(*args, cwd=kb)
        shown.extend((result.out, result.err))
        assert result.code in (0, 1), result.err  # 1: stale pairs left, never a crash
        return result

    assert run("review-store", "migrate", "--db", secret_url).code == 0
    assert run("review-sweep", "--runner", "stand-in", *MODEL, "--db", secret_url).code == 0
    monkeypatch.setenv("COMMONPLACE_REVIEW_DB", secret_url)
    for args in (
        ("review-target-selector", "--all-gates", *MODEL, "--json"),
        ("review-store", "check", "--json"),
        ("review-store", "stats"),
        ("review-report", "--format", "markdown", "--note", "kb/notes/frost-dates.md"),
        ("review-report", "--format", "html", "--out", str(kb / "kb" / "reports" / "r.html")),
    ):
        run(*args)
    assert any(":***@" in text for text in shown)
    assert all(password not in text for text in shown)
    files = [p for p in kb.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert [p for p in files if password.encode() in p.read_bytes()] == []
    assert crash_logs(kb) == []
    with psycopg.connect(url, password=password) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        assert len(tables) >= 8
        for (table,) in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t').fetchall()
            assert all(password not in row[0] for row in rows), table


# ---------------------------------------------------------------------------
# A connection dropped between two transactions


def test_a_connection_the_server_dropped_is_replaced_at_the_next_write(
    postgres_schema: tuple[str, str],
) -> None:
    url, schema = postgres_schema
    with Store(url, schema=schema) as store:
        store.migrate()
        for _ in range(2):  # dropped before a write, then before a read after that write
            with store.read() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            with psycopg.connect(url, password=postgres_password(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with store.write() as conn:
                added = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                add_snapshots(conn, [(f"sha-{pid}", "text")])
            assert added != pid
        with store.read() as conn:
            assert snapshot_texts(conn, [f"sha-{pid}"]) == {f"sha-{pid}": "text"}
