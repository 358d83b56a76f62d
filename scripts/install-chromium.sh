#!/usr/bin/env bash
# Install Debian's Chromium (for the HTML report's real-browser test) unless
# it is there already. Needs root or sudo, and the Debian package mirrors.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  chromium --version 2>/dev/null
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium >/dev/null \
  || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
chromium --version 2>/dev/null
