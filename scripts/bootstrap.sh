#!/usr/bin/env bash
# Create .venv with Python 3.11 and install wastewatch (editable) with its dev tools.
# On a fresh Debian bookworm as root this also installs Python's venv module.
# Safe to run again: an existing .venv is reused and pip only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing $*; run as root or install them: apt-get install -y $*" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3.11 python3.11-venv
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3.11-venv
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    rm -rf .venv
    "$PYTHON" -m venv .venv
fi
# A Thai font for the monthly report's plots (matplotlib); without it they fall back
# to English labels, so a non-root run only notes it.
if command -v apt-get >/dev/null 2>&1 && ! dpkg -s fonts-tlwg-loma-ttf >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt_install fonts-tlwg-loma-ttf
    else
        echo "bootstrap: no Thai font (fonts-tlwg-loma-ttf); report plots will use English labels" >&2
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "bootstrap: .venv ready ($(.venv/bin/python --version))"
