#!/usr/bin/env bash
# Install the harness CLIs (claude, codex) from the npm registry, for the
# integration tests. Safe to run again: it installs only when the requested
# versions are not there yet.
#
#   CLAUDE_VERSION  @anthropic-ai/claude-code version (default: the pinned 2.1.197)
#   CODEX_VERSION   @openai/codex version (default: the pinned 0.169.0)
#   CLI_PREFIX      where to install, relative to the repository or absolute
#                   (default: .cache/clis); the tests read the CLIs from
#                   <prefix>/node_modules/.bin, or from COMMONPLACE_TEST_CLI_PREFIX
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
claude_version=${CLAUDE_VERSION:-2.1.197}
codex_version=${CODEX_VERSION:-0.169.0}
prefix=${CLI_PREFIX:-.cache/clis}
case "$prefix" in /*) ;; *) prefix="$root/$prefix" ;; esac
for version in "$claude_version" "$codex_version"; do
  # a version goes into an npm package spec: digits, dots and a pre-release tag only
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] ||
    { echo "error: not a version: '$version' (expected e.g. 2.1.197)" >&2; exit 1; }
done
bin="$prefix/node_modules/.bin"
if [ -x "$bin/claude" ] && [ -x "$bin/codex" ] &&
   "$bin/claude" --version 2>/dev/null | grep -q "^${claude_version//./\\.} " &&
   "$bin/codex" --version 2>/dev/null | grep -q " ${codex_version//./\\.}\$"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to install the harness CLIs" >&2; exit 1; }
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
  "@anthropic-ai/claude-code@$claude_version" "@openai/codex@$codex_version" >&2
"$bin/claude" --version >&2
"$bin/codex" --version >&2
