#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install commonplace-review with its test extras.
# Safe to run again: it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
fi
[ -n "$python" ] || { echo "error: Python 3.11 or newer is needed" >&2; exit 1; }
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
fi
if ! "$root/.venv/bin/python" -c 'import commonplace, pytest, hypothesis' 2>/dev/null ||
   [ "$root/pyproject.toml" -nt "$root/.venv/.installed" ]; then
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[test]"
  touch "$root/.venv/.installed"
fi
# Compile the sources once, as installing a wheel would: commands then start
# without recompiling (some environments set PYTHONDONTWRITEBYTECODE).
"$root/.venv/bin/python" -m compileall -q "$root/src" >/dev/null
