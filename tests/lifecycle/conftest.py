"""Every test here runs against both store backends (tests/helpers/backends.py)."""

from __future__ import annotations

import pytest
from helpers.backends import parametrize


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize(metafunc)
