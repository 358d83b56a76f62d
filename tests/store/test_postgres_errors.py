"""A PostgreSQL store that cannot be used: a wrong password, a server that does not
answer, no psycopg, a schema from a newer version, a malformed URL, a password in
commonplace.toml, a bad schema name. Each is one `error:` line and exit 1 through the
real commands, nothing is written, and the password is never shown, wherever it came
from (the URL in --db or COMMONPLACE_REVIEW_DB, PGPASSWORD, ~/.pgpass, a service file)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from helpers.commands import Result, run_script
from helpers.postgres import postgres_password, schema_exists

from commonplace.store.migrations import MIGRATIONS

# It sets up its own PostgreSQL stores: not run again per test backend.
pytestmark = pytest.mark.one_backend

Cli = Callable[..., Result]
SECRET = "Sw0rdf1sh-never-shown"  # a wrong password: it must appear nowhere
MODEL = ("--model", "demo")


@pytest.fixture
def kb(example_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example KB, with crash logs going where the test can see them and no
    password from the developer's environment."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir(exist_ok=True)
    return example_kb


def with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"


def with_store(kb: Path, *lines: str) -> None:
    """Settings put before the example KB's own (its tables come last)."""
    config = kb / "commonplace.toml"
    config.write_text("\n".join(lines) + "\n" + config.read_text(encoding="utf-8"))


def crash_logs(kb: Path) -> list[Path]:
    state = kb.parent / "state" / "commonplace"
    return sorted(state.iterdir()) if state.is_dir() else []


def assert_refused(result: Result, *, says: str, secret: str = SECRET) -> str:
    """One `error:` line, exit 1, no traceback, and `secret` nowhere."""
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.err + result.out
    assert secret not in result.err + result.out
    return lines[0]


def nothing_written(kb: Path, url: str, schema: str) -> None:
    assert not schema_exists(url, schema)
    assert not list(kb.rglob("*.sqlite")), "a URL was taken for a file path"
    assert not (kb / "kb" / "reports").exists() or not any((kb / "kb" / "reports").iterdir())
    assert crash_logs(kb) == []


# Commands that read, create, and only migrate; each through its real entry point.
COMMANDS = (
    ("review-target-selector", "--all-gates", *MODEL, "--json"),
    ("review-sweep", "--runner", "stand-in", *MODEL, "--json"),
    ("review-store", "migrate"),
)


# ---------------------------------------------------------------------------
# Wrong passwords, from every place libpq takes one


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_password_in_the_db_url_is_refused_and_shown_masked(
    cli: Cli,
    kb: Path,
    postgres_schema: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    db = with_password(url, SECRET) + f"?schema={schema}"
    result = cli(*command, "--db", db, cwd=kb)
    line = assert_refused(result, says="password authentication failed")
    assert ":***@" in line
    nothing_written(kb, url, schema)


def test_a_wrong_password_in_the_environment_url_is_refused(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("COMMONPLACE_REVIEW_DB", with_password(url, SECRET) + f"?schema={schema}")
    for command in COMMANDS:
        line = assert_refused(cli(*command, cwd=kb), says="password authentication failed")
        assert "(COMMONPLACE_REVIEW_DB)" in line
    nothing_written(kb, url, schema)


def test_a_wrong_password_parameter_is_refused_and_masked(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    result = cli(
        "review-store", "migrate", "--db", f"{url}?password={SECRET}&schema={schema}", cwd=kb
    )
    assert "password=***" in assert_refused(result, says="password authentication failed")
    nothing_written(kb, url, schema)


def test_a_wrong_pgpassword_is_refused(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, schema = postgres_schema
    monkeypatch.setenv("PGPASSWORD", SECRET)
    with_store(kb, f'store = "{url}"', f'schema = "{schema}"')
    for command in COMMANDS:
        assert_refused(cli(*command, cwd=kb), says="password authentication failed")
    nothing_written(kb, url, schema)


def test_a_wrong_password_in_pgpass_is_refused(
    cli: Cli,
    kb: Path,
    postgres_schema: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "home" / ".pgpass"  # HOME is tmp_path/home in every test
    pgpass.write_text(f"*:*:*:*:{SECRET}\n")
    pgpass.chmod(0o600)
    with_store(kb, f'store = "{url}"', f'schema = "{schema}"')
    for command in COMMANDS:
        assert_refused(cli(*command, cwd=kb), says="password authentication failed")
    nothing_written(kb, url, schema)


def test_the_right_password_in_pgpass_works(
    cli: Cli,
    kb: Path,
    postgres_schema: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "home" / ".pgpass"
    pgpass.write_text(f"*:*:*:*:{postgres_password() or ''}\n")
    pgpass.chmod(0o600)
    with_store(kb, f'store = "{url}"', f'schema = "{schema}"')
    result = cli("review-store", "migrate", cwd=kb)
    assert result.code == 0, result.err
    assert f"(schema {schema}): schema version 0 -> {len(MIGRATIONS)}" in result.out


# ---------------------------------------------------------------------------
# No server, no driver, a newer schema


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_server_is_one_error_line(
    cli: Cli, kb: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    db = f"postgresql://commonplace:{SECRET}@127.0.0.1:{closed_port()}/commonplace"
    line = assert_refused(cli(*command, "--db", db, cwd=kb), says="cannot connect to review store")
    assert "Connection refused" in line or "connection failed" in line
    assert crash_logs(kb) == [] and not list(kb.rglob("*.sqlite"))


def test_without_psycopg_the_error_names_the_install_command(
    kb: Path, postgres_schema: tuple[str, str], tmp_path: Path
) -> None:
    url, schema = postgres_schema
    fake = tmp_path / "no-extra" / "psycopg"
    fake.mkdir(parents=True)
    # What an install without the extra looks like to our import.
    (fake / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    db = with_password(url, postgres_password() or SECRET) + f"?schema={schema}"
    env = {"PYTHONPATH": str(fake.parent), "XDG_STATE_HOME": str(tmp_path / "state")}
    for command in COMMANDS:
        done = run_script(f"commonplace-{command[0]}", [*command[1:], "--db", db], cwd=kb, env=env)
        result = Result(done.returncode, done.stdout, done.stderr)
        secret = postgres_password() or SECRET
        assert_refused(result, says="pip install 'commonplace-review[postgres]'", secret=secret)
    nothing_written(kb, url, schema)


def set_version(url: str, schema: str, version: int) -> None:
    with psycopg.connect(url, password=postgres_password(), autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".schema_version SET version = %s', (version,))


def counts(url: str, schema: str) -> tuple[int, ...]:
    with psycopg.connect(url, password=postgres_password()) as conn:
        return tuple(
            int(conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()[0])  # type: ignore[index]
            for table in ("review_batches", "review_runs", "acceptance_events", "snapshots")
        )


def test_a_schema_from_a_newer_version_is_refused_and_left_alone(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    with_store(kb, f'store = "{url}"', f'schema = "{schema}"')
    assert cli("review-store", "migrate", cwd=kb).code == 0
    newer = len(MIGRATIONS) + 1
    set_version(url, schema, newer)
    for command in (
        *COMMANDS,
        ("review-store", "check"),
        ("create-review-run", "kb/notes/frost-dates.md", "clarity", "--runner", "stand-in", *MODEL),
    ):
        assert_refused(cli(*command, cwd=kb), says=f"has schema version {newer}, newer than")
    with psycopg.connect(url, password=postgres_password()) as conn:
        row = conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchone()
    assert row == (newer,)
    assert counts(url, schema) == (0, 0, 0, 0)
    assert crash_logs(kb) == []


# ---------------------------------------------------------------------------
# Malformed URLs, passwords in the config file, bad schema names

MALFORMED = {
    "port out of range": "postgresql://commonplace:{pw}@127.0.0.1:99999/commonplace",
    "port not a number": "postgresql://commonplace:{pw}@127.0.0.1:nope/commonplace",
    "unclosed IPv6 host": "postgresql://commonplace:{pw}@[::1/commonplace",
    "raw @ in the password": "postgresql://commonplace:a@{pw}@127.0.0.1/commonplace",
    "raw / in the password": "postgresql://commonplace:a/{pw}@127.0.0.1/commonplace",
    "raw ? in the password": "postgresql://commonplace:a?{pw}@127.0.0.1/commonplace",
    "a bad second host": "postgresql://commonplace:{pw}@h1:5432,h2:x/commonplace",
}


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_url_is_refused_before_any_connection(cli: Cli, kb: Path, url: str) -> None:
    for command in COMMANDS:
        result = cli(*command, "--db", url.format(pw=SECRET), cwd=kb)
        assert_refused(result, says="--db: not a valid PostgreSQL URL")
    assert crash_logs(kb) == [] and not list(kb.rglob("*.sqlite"))


def test_a_libpq_parameter_libpq_refuses_is_one_error_line(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    for query in ("sslmode=bogus", "no_such_parameter=1", f"password={SECRET}%ZZ"):
        result = cli("review-store", "migrate", "--db", f"{url}?{query}&schema={schema}", cwd=kb)
        assert_refused(result, says="cannot connect to review store")
    nothing_written(kb, url, schema)


@pytest.mark.parametrize(
    "written",
    [
        "postgresql://commonplace:{pw}@127.0.0.1/commonplace",
        "postgresql://commonplace@127.0.0.1/commonplace?password={pw}",
        "postgres://commonplace:{pw}@127.0.0.1/commonplace?schema=s",
    ],
)
def test_a_password_in_commonplace_toml_is_refused_and_says_where_it_goes(
    cli: Cli, kb: Path, written: str
) -> None:
    with_store(kb, f'store = "{written.format(pw=SECRET)}"')
    for command in COMMANDS:
        line = assert_refused(cli(*command, cwd=kb), says="the store URL carries a password")
        assert "PGPASSWORD, ~/.pgpass or a service file" in line
    assert crash_logs(kb) == [] and not list(kb.rglob("*.sqlite"))


BAD_SCHEMAS = ("Bad-Name", "1starts_with_a_digit", "a;drop schema public", "x" * 64, "", "ü")


@pytest.mark.parametrize("schema", BAD_SCHEMAS)
def test_a_bad_schema_name_is_refused_wherever_it_is_set(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str], schema: str
) -> None:
    url, _ = postgres_schema
    from urllib.parse import quote

    result = cli("review-store", "migrate", "--db", f"{url}?schema={quote(schema)}", cwd=kb)
    assert_refused(result, says="--db: schema must be a lowercase name")
    with_store(kb, f'store = "{url}"', f"schema = {schema!r}".replace("'", '"'))
    for command in COMMANDS:
        assert_refused(cli(*command, cwd=kb), says="commonplace.toml: schema must be")
    assert crash_logs(kb) == [] and not list(kb.rglob("*.sqlite"))


def test_a_missing_schema_named_by_db_reads_as_empty_and_is_not_made(
    cli: Cli, kb: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    result = cli(
        "review-target-selector", "--all-gates", *MODEL, "--db", f"{url}?schema={schema}", cwd=kb
    )
    assert result.code == 0, result.err
    assert "never-reviewed" in result.out or "missing-review" in result.out
    nothing_written(kb, url, schema)


# Loaded at start-up through PYTHONPATH: the store statistics meet a psycopg error
# outside any store transaction, as a server lost between two of them would give.
PSYCOPG_FAULT = """\
import psycopg
import commonplace.store.check as storecheck


def store_stats(store):
    psycopg.connect("postgresql://nobody@127.0.0.1:{port}/x?password={pw}", connect_timeout=5)

storecheck.store_stats = store_stats
"""


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_psycopg_error_outside_a_transaction_is_an_error_line_not_a_crash(
    kb: Path, tmp_path: Path, json_mode: bool
) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PSYCOPG_FAULT.format(port=closed_port(), pw=SECRET))
    env = {"PYTHONPATH": str(hook), "XDG_STATE_HOME": str(tmp_path / "state")}
    db = str(tmp_path / "store.sqlite")
    assert run_script("commonplace-review-store", ["migrate", "--db", db], cwd=kb).returncode == 0
    args = ["stats", "--db", db, *(["--json"] if json_mode else [])]
    done = run_script("commonplace-review-store", args, cwd=kb, env=env)
    line = assert_refused(Result(done.returncode, done.stdout, done.stderr), says="review store")
    assert "Connection refused" in line and "unexpected error" not in line
    assert crash_logs(kb) == []


@pytest.mark.parametrize("right", [True, False])
def test_a_service_file_names_the_server_and_holds_the_password(
    cli: Cli,
    kb: Path,
    postgres_schema: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    right: bool,
) -> None:
    url, schema = postgres_schema
    monkeypatch.delenv("PGPASSWORD")
    parts = urlsplit(url)
    password = (postgres_password() or "") if right else SECRET
    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[team]\nhost={parts.hostname}\nport={parts.port}\n"
        f"dbname={parts.path.lstrip('/')}\nuser={parts.username}\npassword={password}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    with_store(kb, 'store = "postgresql:///?service=team"', f'schema = "{schema}"')
    result = cli("review-store", "migrate", cwd=kb)
    if right:
        assert result.code == 0, result.err
        assert schema_exists(url, schema)
    else:
        assert_refused(result, says="password authentication failed")
        nothing_written(kb, url, schema)
