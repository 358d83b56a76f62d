#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint and run the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
