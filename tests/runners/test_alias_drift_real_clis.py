"""An alias that starts resolving to another model (issue item 7): `--model
sonnet` is resolved by claude itself, to `claude-sonnet-5` by 2.1.197 and to
`claude-sonnet-5-5` by 2.1.337. A sweep with the pinned CLI, then one with the
current CLI, against the loopback API: the second says once, on stderr and in
its JSON, that the flags now resolve to another partition and how many
accepted pairs the old one holds, and the flags point at the new partition
from then on (a sweep that says nothing more is in test_resolution_changes.py).

Both CLIs are needed: the pinned ones in .cache/clis and the current ones in
.cache/clis-current (.ci/run installs both). Not marked `real_cli`: it names
its CLIs itself, so the run with the current CLIs would only repeat it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.real_cli import SEEDS, Bench
from helpers.vendor_api import REPO_ROOT, VendorAPI

PINNED = REPO_ROOT / ".cache" / "clis" / "node_modules" / ".bin" / "claude"
CURRENT = REPO_ROOT / ".cache" / "clis-current" / "node_modules" / ".bin" / "claude"
FLAGS = ("--effort", "low")


def installed(cli: Path, how: str) -> str:
    if not (cli.is_file() and os.access(cli, os.X_OK)):
        message = f"{cli} not installed; run {how}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(cli)


@pytest.fixture
def api() -> Iterator[VendorAPI]:
    with VendorAPI() as api:
        yield api


def sweep(bench: Bench, *scope: str) -> tuple[dict, str]:
    done = bench.run("review-sweep", *scope, "--jobs", "2", *bench.runner_args("sonnet", *FLAGS))
    assert done.code == 0, done.err
    return done.json(), done.err


def test_a_sweep_says_once_that_an_alias_now_resolves_to_another_model(
    example_kb: Path, tmp_path: Path, api: VendorAPI
) -> None:
    pinned = installed(PINNED, "scripts/install-clis.sh")
    current = installed(
        CURRENT,
        "CLAUDE_VERSION=2.1.337 CODEX_VERSION=0.171.0 CLI_PREFIX=.cache/clis-current"
        " bash scripts/install-clis.sh",
    )
    old = Bench(example_kb, "claude-code", api, tmp_path / "home-pinned", pinned)
    new = Bench(example_kb, "claude-code", api, tmp_path / "home-current", current)

    # 2.1.197: a first resolution, into a partition that held nothing: no notice
    first, err = sweep(old, "clarity", "--note", SEEDS)
    assert first["notices"] == [] and "notice:" not in err
    assert {r.model for r in api.review_requests()} == {"claude-sonnet-5"}
    assert old.rows("SELECT DISTINCT model_id FROM acceptance_events") == [("claude-sonnet-5-low",)]
    (held,) = old.rows("SELECT COUNT(*) FROM acceptance_events")[0]
    assert held == 2

    # 2.1.337: the same flags, the other lenses of the note, several batches
    second, err = sweep(new, "--note", SEEDS)
    assert len(second["batches"]) > 1
    assert {r.model for r in api.review_requests()} == {"claude-sonnet-5", "claude-sonnet-5-5"}
    notice = (
        "--model sonnet --effort low now resolves to claude-sonnet-5-5-low"
        " (was claude-sonnet-5-low, which holds 2 accepted pairs); reviews go to the new partition"
    )
    assert second["notices"] == [notice]
    assert err.count("notice:") == 1 and f"notice: {notice}" in err.splitlines()
    assert new.rows("SELECT DISTINCT model_id FROM review_runs WHERE batch_id > 1") == [
        ("claude-sonnet-5-5-low",)
    ]

    # the new resolution is remembered: the same flags point at the new partition
    planned = new.run(
        "run-review-bundle", SEEDS, "clarity", "--dry-run", *new.runner_args("sonnet", *FLAGS)
    )
    assert planned.code == 0, planned.err
    assert planned.json()["model_id"] == "claude-sonnet-5-5-low"
