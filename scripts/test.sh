#!/usr/bin/env bash
# Set up (scripts/setup.sh), install the claude and codex CLIs when npm is there
# (scripts/install-clis.sh): the pinned pair into .cache/clis and the current
# pair into .cache/clis-current. Then lint, type-check src/ (mypy --strict, set
# in pyproject.toml), run the whole test suite (with the pinned CLIs), and run
# the tests marked real_cli again with the current CLIs.
# Arguments go to the first pytest run; with arguments the second run is left
# out (a developer running a few tests). A failure of either run fails. Both
# runs spread the tests over the cores with pytest-xdist (`-n`).
# The PostgreSQL tests use the server in COMMONPLACE_TEST_POSTGRES (and its
# password in COMMONPLACE_TEST_POSTGRES_PASSWORD). Outside CI, when that is
# unset and PostgreSQL is installed (/usr/lib/postgresql/*/bin/initdb), this
# script starts a throwaway server itself (scripts/postgres.sh start) and stops
# it when it ends; without one those tests skip (under CI=true they fail).
#
#   TEST_WORKERS  how many pytest-xdist workers (default: the cores, at most 4;
#                 0 runs the tests in this process, one after another)
#   CURRENT_CLAUDE_VERSION, CURRENT_CODEX_VERSION  the current pair
#   (default 2.1.337 and 0.171.0: what the npm registry served on 2026-12-07)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
current_prefix=.cache/clis-current
bash "$root/scripts/setup.sh"
if command -v npm >/dev/null 2>&1; then
  bash "$root/scripts/install-clis.sh"
  CLAUDE_VERSION=${CURRENT_CLAUDE_VERSION:-2.1.337} CODEX_VERSION=${CURRENT_CODEX_VERSION:-0.171.0} \
    CLI_PREFIX=$current_prefix bash "$root/scripts/install-clis.sh"
else
  echo "note: npm not found; the tests that run the real claude and codex CLIs will skip" >&2
fi
cd "$root"
cores=$(nproc 2>/dev/null || echo 2)
workers=${TEST_WORKERS:-$((cores < 4 ? cores : 4))}
# loadgroup: tests marked xdist_group(name) share one worker; the rest spread.
parallel=(-n "$workers" --dist loadgroup)
.venv/bin/ruff check .
.venv/bin/mypy
if [ -z "${COMMONPLACE_TEST_POSTGRES:-}" ] && [ "${CI:-}" != "true" ] &&
   bash "$root/scripts/postgres.sh" available; then
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/commonplace-pg.XXXXXX")
  trap 'bash "$root/scripts/postgres.sh" stop "$pg_dir" || true' EXIT
  if COMMONPLACE_TEST_POSTGRES=$(bash "$root/scripts/postgres.sh" start "$pg_dir"); then
    export COMMONPLACE_TEST_POSTGRES COMMONPLACE_TEST_POSTGRES_PASSWORD=commonplace-test
  else
    echo "note: no PostgreSQL server could be started; the PostgreSQL tests will skip" >&2
  fi
fi
.venv/bin/python -m pytest -q "${parallel[@]}" "$@"
if [ "$#" -eq 0 ]; then
  echo "--- the tests marked real_cli again, with the CLIs in $current_prefix" >&2
  COMMONPLACE_TEST_CLI_PREFIX=$current_prefix .venv/bin/python -m pytest -q "${parallel[@]}" -m real_cli
fi
