#!/usr/bin/env bash
# Set up (scripts/setup.sh), install the pinned claude and codex CLIs when npm
# is there (scripts/install-clis.sh), then lint and run the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
if command -v npm >/dev/null 2>&1; then
  bash "$root/scripts/install-clis.sh"
else
  echo "note: npm not found; the tests that run the real claude and codex CLIs will skip" >&2
fi
cd "$root"
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
