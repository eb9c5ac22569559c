#!/usr/bin/env bash
# Tools only the tests need: Debian's Chromium, which renders the monthly report's HTML
# page headless (tests/test_report.py), as a council member's browser would.
# Safe to run again: installs only what is missing. Without root it says what to install
# and the browser test skips with the same hint.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test tools: no Chromium; the report page test will skip (as root: apt-get install -y chromium)" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
echo "test tools: $(chromium --version)"
