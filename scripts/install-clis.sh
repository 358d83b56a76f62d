#!/usr/bin/env bash
# Install the pinned harness CLIs (claude, codex) from the npm registry into
# .cache/clis/, for the integration tests. Safe to run again: it installs only
# when the pinned versions are not there yet.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="$root/.cache/clis"
claude_version=2.1.197
codex_version=0.169.0
bin="$prefix/node_modules/.bin"
if [ -x "$bin/claude" ] && [ -x "$bin/codex" ] &&
   "$bin/claude" --version 2>/dev/null | grep -q "^$claude_version " &&
   "$bin/codex" --version 2>/dev/null | grep -q " $codex_version\$"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to install the harness CLIs" >&2; exit 1; }
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
  "@anthropic-ai/claude-code@$claude_version" "@openai/codex@$codex_version" >&2
"$bin/claude" --version >&2
"$bin/codex" --version >&2
