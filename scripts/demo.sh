#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the main job on the bundled example KB:
# select what is stale, review it, finalize, report. No account, no network.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
exec "$root/.venv/bin/python" "$root/examples/demo.py" "$@"
