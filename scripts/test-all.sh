#!/usr/bin/env bash
# The one command that installs everything needed and runs the whole test suite, on a fresh
# Debian 12 machine as root (and on a developer machine). `.ci/run` calls exactly this.
#
#   bash scripts/test-all.sh
#
# Steps: system packages and the supervisord virtualenv (scripts/setup-system.sh), kresd 6.5.0
# in /opt/kr6 (scripts/install-kresd6.sh), then `cargo fmt --check`, `cargo clippy --all-targets
# -- -D warnings`, every Rust test (unit, doc, trybuild, snapshot, property, agreement and
# end-to-end tests, the status page's in a real chromium among them) on Debian's kresd 5.6, the
# benchmarks in smoke mode, every end-to-end suite once more on kresd 6.5.0, and the pytest suite
# of supervisord-ext. Fails when any step fails.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (stable 1.95 or later) with rustup, then run this again." >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        step "installing the $component component"
        rustup component add "$component"
    fi
done

step "system packages and the supervisord virtualenv"
bash scripts/setup-system.sh

step "kresd 6.5.0 (Knot Resolver 6) for the second pass of the end-to-end suites"
bash scripts/install-kresd6.sh
KRESD6="${KRES_KR6_PREFIX:-/opt/kr6}/sbin/kresd"

# Snapshot tests must not rewrite their reviewed snapshots in the test run.
export INSTA_UPDATE=no
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, doc, trybuild, snapshot, property and agreement tests; benches in smoke mode)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

# Every suite that starts real kresd, again with kresd 6 (the service, the manager's kres-cache-gc
# and the tests' own kresd all follow KRES_KRESD; rendering snapshots stay per major).
step "end-to-end suites on kresd 6.5.0 ($KRESD6)"
KRES_KRESD="$KRESD6" cargo test --locked -p kres-tests \
    --test kresd_local_data --test kresd_sections --test kresd_views_forward \
    --test kresd_network_logging --test kresd_options_cache --test kresd_examples \
    --test kresd_control --test no_injection --test hot_changes --test backend_supervisord
KRES_KRESD="$KRESD6" cargo test --locked -p kres-manager \
    --test daemon --test faults --test drain --test api --test api_auth \
    --test kresctl_service --test examples

step "supervisord-ext pytest suite"
bash scripts/test-python.sh

step "all tests passed"
