"""Fixtures of the report tests."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary (skips when absent, fails in CI)."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
