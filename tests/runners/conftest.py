"""Fixtures of the harness-CLI tests: a running fake vendor API and the CLIs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.kb import VENDOR_FORMATS, require_shared
from helpers.real_cli import Bench, benches, require_cli
from helpers.vendor_api import VendorAPI


@pytest.fixture
def vendor() -> Path:
    """../shared/vendor-formats (skips when absent, fails in CI)."""
    return require_shared(VENDOR_FORMATS)


@pytest.fixture
def vendor_api() -> Iterator[VendorAPI]:
    """A VendorAPI in mode "ok", stopped after the test. Tests needing another
    mode construct their own."""
    with VendorAPI() as api:
        yield api


@pytest.fixture
def claude_cli() -> str:
    """The claude binary (skips when absent, fails in CI)."""
    return require_cli("claude")


@pytest.fixture
def codex_cli() -> str:
    """The codex binary (skips when absent, fails in CI)."""
    return require_cli("codex")


@pytest.fixture
def bench_factory(
    request: pytest.FixtureRequest, example_kb: Path, tmp_path: Path
) -> Iterator[Callable[..., Bench]]:
    """`real_cli.benches` on the example KB: `make(runner, **VendorAPI options)`."""
    with benches(request, example_kb, tmp_path) as make:
        yield make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the `claude_cli` or `codex_cli` fixture runs a real CLI:
    marked `real_cli`, like the modules that do so throughout (`pytestmark`)."""
    for item in items:
        if {"claude_cli", "codex_cli"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_cli)
