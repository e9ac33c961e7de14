#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for the status page's browser tests
# (manager/tests/ui_browser.rs) and its screenshot (scripts/screenshot-ui.sh).
#
# Idempotent, and quick when everything is there (no network then):
#   1. apt: chromium (Debian's build; Playwright drives it at /usr/bin/chromium, it never
#      downloads a browser of its own) -- `apt-get update` only when apt knows no candidate.
#   2. Node.js and npm: the machine's own (Node 20 or later); Debian's nodejs and npm only when
#      there is no node at all.
#   3. npm: playwright-core at the version of manager/tests/ui/package-lock.json (`npm ci`,
#      only when node_modules does not already hold exactly that version).
#
# Environment:
#   KRES_SKIP_APT  set to 1 to skip the apt steps (e.g. on a machine that is not Debian)
# Called by scripts/setup-system.sh; can also be run alone.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UI_TESTS="$REPO_ROOT/manager/tests/ui"
CHROMIUM=/usr/bin/chromium

log() { printf '[setup-browser] %s\n' "$*"; }

# apt_install PACKAGE...: installs the packages that are missing (update the lists only when
# needed; retry once after an update, for stale lists).
apt_install() {
    local missing=() pkg candidate need_update=0
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != installed ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt packages already installed: $*"
        return 0
    fi
    if [[ "${KRES_SKIP_APT:-0}" == "1" ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "ERROR: missing ${missing[*]} and apt is skipped or absent: install them by hand"
        return 1
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "ERROR: installing ${missing[*]} needs root (run as root, or install them by hand)"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    for pkg in "${missing[@]}"; do
        candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
            need_update=1
        fi
    done
    if [[ $need_update -eq 1 ]]; then
        log "running: apt-get update"
        apt-get update
    fi
    log "running: apt-get install -y --no-install-recommends ${missing[*]}"
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        log "install failed; running apt-get update and retrying once"
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

browser_step() {
    # fonts-dejavu-core: text in the headless screenshots (chromium only recommends fonts).
    apt_install chromium fonts-dejavu-core
    log "browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM does not run")"
}

node_step() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        log "node $(node --version), npm $(npm --version) already installed"
    else
        apt_install nodejs npm
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [[ "$major" -lt 18 ]]; then
        log "ERROR: node $(node --version) is too old for the browser tests (node:test needs 18 or later)"
        return 1
    fi
}

playwright_step() {
    local wanted installed
    wanted="$(node -p "require('$UI_TESTS/package-lock.json').packages['node_modules/playwright-core'].version")"
    installed="$(node -p "require('$UI_TESTS/node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
    if [[ "$installed" == "$wanted" ]]; then
        log "playwright-core $installed already installed in $UI_TESTS/node_modules"
    else
        log "running: npm ci in $UI_TESTS (playwright-core $wanted; installed: ${installed:-none})"
        # Playwright must not fetch a browser of its own: Debian's chromium is used.
        (cd "$UI_TESTS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    fi
}

main() {
    browser_step
    node_step
    playwright_step
    log "done: $CHROMIUM, node $(node --version), playwright-core in $UI_TESTS/node_modules"
}

main "$@"
