#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the demo-page test (tests/test_serve_demo.py).
#
#   scripts/chromium_local.sh install   # make sure both are there; prints their paths
#
# Installs Debian's `chromium` and `chromium-driver` with apt-get when either is missing (root
# only). Running it again is harmless: what is installed is found and printed again.
#
# Prints two lines, `chromium=PATH` and `chromedriver=PATH`. Exit codes: 0 done; 2 wrong usage;
# 3 cannot run here (the reason is on stderr, one line starting with "chromium_local: cannot run:").
set -euo pipefail

PROG=chromium_local

# cannot_run, usage, apt_install
source "$(dirname "$0")/lib/local_setup.sh"

find_browser() {
    command -v chromium || command -v chromium-browser || command -v google-chrome || true
}

find_driver() {
    command -v chromedriver || true
}

install() {
    if [[ -z "$(find_browser)" || -z "$(find_driver)" ]]; then
        apt_install chromium/chromedriver chromium chromium-driver
    fi
    local browser driver
    browser=$(find_browser)
    driver=$(find_driver)
    [[ -n "$browser" && -n "$driver" ]] || cannot_run "installed, but chromium or chromedriver is not on PATH"
    "$browser" --headless --no-sandbox --version >/dev/null 2>&1 || cannot_run "$browser does not start"
    echo "chromium=$browser"
    echo "chromedriver=$driver"
}

case "${1:-}" in
    install) install ;;
    *) usage 4,4 ;;
esac
