#!/usr/bin/env bash
# Install the Chromium browser used by the end-to-end JupyterLab test (tests/e2e).
#
# Idempotent: does nothing when /usr/bin/chromium already exists.  Otherwise
# installs Debian/Ubuntu's "chromium" package with apt-get (as root, or through
# sudo when available).  We deliberately do NOT use `playwright install`: it
# downloads browsers from a CDN, which is not reachable on closed networks,
# whereas the distribution package comes from the normal apt mirror.
#
# Usage:  bash scripts/install_browser.sh
# Override the browser path with CHROMIUM=/path/to/chromium (must match E2E_CHROMIUM).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM already present ($("$CHROMIUM" --version 2>/dev/null | head -n1 || echo 'version unknown')); nothing to do."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM not found and apt-get is unavailable on this system." >&2
    echo "install_browser: install Chromium with your package manager and/or set E2E_CHROMIUM=/path/to/chromium." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_browser: $CHROMIUM not found; need root or sudo to run: apt-get install -y chromium" >&2
    exit 1
fi

echo "install_browser: $CHROMIUM not found; running: ${SUDO:+$SUDO }apt-get update"
$SUDO apt-get update
echo "install_browser: running: ${SUDO:+$SUDO }apt-get install -y chromium"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null | head -n1 || echo "$CHROMIUM")."
else
    echo "install_browser: apt-get finished but $CHROMIUM is still missing (on Ubuntu the package may be a snap stub)." >&2
    exit 1
fi
