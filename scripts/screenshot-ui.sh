#!/usr/bin/env bash
# Regenerates docs/status-page.png, the screenshot of the status page that the README shows:
# the browser test (manager/tests/ui_browser.rs) starts the real service, runs its cases, and
# then photographs the page under a dnsperf load (manager/tests/ui/screenshot.mjs).
#
#   bash scripts/screenshot-ui.sh [PHONE-DARK.png]
#
# With an argument, also writes the page on a phone-sized screen in the dark theme there (to
# look at; not kept). Needs what scripts/setup-system.sh installs (it runs setup-browser.sh:
# chromium, node, playwright-core).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

export KRES_UI_SCREENSHOT="$REPO_ROOT/docs/status-page.png"
if [ "$#" -gt 0 ]; then
    export KRES_UI_SCREENSHOT_PHONE="$(realpath -m "$1")"
fi
cargo test --locked -p kres-manager --test ui_browser -- --nocapture
echo "==> $KRES_UI_SCREENSHOT"
