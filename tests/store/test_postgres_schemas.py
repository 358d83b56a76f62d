"""One PostgreSQL server holds the stores of several KBs, each in a schema of
its own named by the `schema` setting: what one KB reviews, another never
sees, and a KB's store is made only by its first write."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.commands import Result
from helpers.kb import EXAMPLE_KB, make_git_kb
from helpers.postgres import fresh_schema, postgres_password, require_postgres, schema_exists

# It sets up its own PostgreSQL stores: not run again per test backend.
pytestmark = pytest.mark.one_backend


Cli = Callable[..., Result]


def kb_on_server(tmp_path: Path, name: str, url: str, schema: str) -> Path:
    kb = make_git_kb(EXAMPLE_KB, tmp_path / name)
    config = kb / "commonplace.toml"
    config.write_text(
        f'store = "{url}"\nschema = "{schema}"\n\n' + config.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return kb


def stale(cli: Cli, kb: Path) -> int:
    result = cli("review-target-selector", "--all-gates", "--model", "demo", "--json", cwd=kb)
    assert result.code == 0, result.err
    return len(json.loads(result.out))


def test_two_kbs_share_a_server_and_never_each_others_reviews(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = require_postgres()
    if postgres_password() is not None:
        monkeypatch.setenv("PGPASSWORD", postgres_password() or "")
    with fresh_schema(url) as first, fresh_schema(url) as second:
        garden, orchard = (
            kb_on_server(tmp_path, "garden", url, first),
            kb_on_server(tmp_path, "orchard", url, second),
        )
        before = stale(cli, garden)
        assert before > 0 and stale(cli, orchard) == before
        assert not schema_exists(url, first)  # reading made nothing

        swept = cli("review-sweep", "--runner", "stand-in", "--model", "demo", cwd=garden)
        assert swept.code == 0, swept.err
        assert stale(cli, garden) == 0
        assert stale(cli, orchard) == before  # its own schema, still empty
        assert schema_exists(url, first) and not schema_exists(url, second)

        stats = cli("review-store", "stats", "--json", cwd=garden)
        assert stats.code == 0, stats.err
        assert json.loads(stats.out)["acceptance_events"] == {"full-review": before}
        check = cli("review-store", "check", cwd=garden)
        assert check.code == 0, check.out + check.err
