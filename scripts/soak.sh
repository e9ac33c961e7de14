#!/usr/bin/env bash
# The soak: the real service (kres-manager -c, supervisord, kresd workers) under a steady DNS
# load with one change through the management API every second, for SECONDS (default 60);
# prints the report (a table and one JSON line) and exits 1 when a bound is broken. What it
# changes, measures and asserts: tests/src/soak.rs. CI runs the same for 60 s as a test
# (tests/tests/soak.rs, KRES_SOAK_SECS).
#
#   bash scripts/soak.sh 1800                       # 30 minutes
#   bash scripts/soak.sh 600 --json /tmp/soak.json  # more options: kres-soak --help
#
# Builds kres-manager and kres-soak with the release profile (the manager measured is the one
# that is deployed) in $CARGO_TARGET_DIR (default: the workspace's target/). A long run is best
# given its own target dir (CARGO_TARGET_DIR=/tmp/soak-target) so that other builds do not
# replace the binaries it runs. Needs what scripts/setup-system.sh installs (kresd, supervisord
# in its virtualenv).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

duration="${1:-60}"
if [ "$#" -gt 0 ]; then shift; fi
case "$duration" in
    '' | *[!0-9]*) echo "usage: bash scripts/soak.sh [SECONDS] [kres-soak options]" >&2; exit 2 ;;
esac

target="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
echo "==> cargo build --release -p kres-manager -p kres-tests --bin kres-soak (target: $target)" >&2
cargo build --release --locked -p kres-manager --bin kres-manager -p kres-tests --bin kres-soak >&2
code="${KRES_SOAK_CODE:-$(git describe --always --dirty 2>/dev/null || echo unknown)}"
echo "==> kres-soak --duration $duration (code $code)" >&2
exec "$target/release/kres-soak" --duration "$duration" --exe "$target/release/kres-manager" --code "$code" "$@"
