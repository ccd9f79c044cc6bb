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

cannot_run() {
    echo "$PROG: cannot run: $*" >&2
    exit 3
}

find_browser() {
    command -v chromium || command -v chromium-browser || command -v google-chrome || true
}

find_driver() {
    command -v chromedriver || true
}

install() {
    if [[ -z "$(find_browser)" || -z "$(find_driver)" ]]; then
        command -v apt-get >/dev/null 2>&1 || cannot_run "no chromium/chromedriver and no apt-get to install them"
        [[ $(id -u) -eq 0 ]] || cannot_run "no chromium/chromedriver; install them as root: apt-get install chromium chromium-driver"
        echo "$PROG: installing chromium and chromium-driver with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 || cannot_run "apt-get update failed (no network?)"
        apt-get install -y -qq chromium chromium-driver >&2 || cannot_run "apt-get install chromium chromium-driver failed"
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
    *) sed -n '4p' "$0" | sed 's/^# //' >&2; exit 2 ;;
esac
