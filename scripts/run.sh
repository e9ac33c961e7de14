#!/usr/bin/env bash
# The one command that installs everything needed and starts the manager on the bundled
# quick-start config (examples/quickstart.yaml), in the foreground. Ctrl-C stops it.
#
#   bash scripts/run.sh [extra kres-manager arguments]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (stable 1.95 or later) with rustup, then run this again." >&2
    exit 1
fi
bash scripts/setup-system.sh
cargo build --release --locked -p kres-manager
exec target/release/kres-manager -c examples/quickstart.yaml "$@"
