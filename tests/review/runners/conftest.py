"""Fixtures of the harness-CLI tests: a running fake vendor API and the CLIs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from review.runners.vendor_api import VendorAPI, find_cli


@pytest.fixture
def vendor_api() -> Iterator[VendorAPI]:
    """A VendorAPI in mode "ok", stopped after the test. Tests needing another
    mode construct their own."""
    with VendorAPI() as api:
        yield api


def _require_cli(name: str) -> str:
    path = find_cli(name)
    if path is None:
        message = f"{name} not installed; run scripts/install-clis.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def claude_cli() -> str:
    """The claude binary (skips when absent, fails in CI)."""
    return _require_cli("claude")


@pytest.fixture
def codex_cli() -> str:
    """The codex binary (skips when absent, fails in CI)."""
    return _require_cli("codex")
