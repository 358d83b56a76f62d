"""xdist groups: tests that must not run at the same time as one another run
one after another on a single worker (pytest-xdist's `--dist loadgroup`, which
scripts/test.sh uses). A group mark has no effect on a serial run."""

from __future__ import annotations

import pytest

# `reap-stale-runs` stops the runner process groups of dead owners anywhere on
# the host: run beside a test that leaves orphans on purpose to see them
# reaped, it would stop those orphans first. Every test that reaps for real
# (not `--dry-run`) and every test that leaves orphans are in this group.
REAPS_ORPHANS = pytest.mark.xdist_group("reaps-orphans")

# The malformed-output bench (tests/reliability/test_malformed_outputs.py) is
# built once per backend per worker: on one worker it is built once per backend.
MALFORMED_BENCH = pytest.mark.xdist_group("malformed-bench")
