#!/usr/bin/env bash
# The one command that installs everything needed and starts the manager on the bundled
# quick-start config (examples/quickstart.yaml), in the foreground. Ctrl-C stops it.
#
#   bash scripts/run.sh [extra kres-manager arguments]
#
# As root, the service runs as the knot-resolver user, which must be able to run kres-manager
# and read the config (a checkout under /root is out of its reach): the binaries are installed
# in /usr/local/bin and the config, when not there yet, in /etc/kres-manager/quickstart.yaml
# (edit that one; later runs keep it). As another user, everything runs from the checkout.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (stable 1.95 or later) with rustup, then run this again." >&2
    exit 1
fi
bash scripts/setup-system.sh
cargo build --release --locked -p kres-manager
if [[ "$(id -u)" != 0 ]]; then
    exec target/release/kres-manager -c examples/quickstart.yaml "$@"
fi
install -m 0755 target/release/kres-manager target/release/kresctl /usr/local/bin/
config=/etc/kres-manager/quickstart.yaml
if [[ -e "$config" ]]; then
    echo "[run] keeping $config (remove it to get examples/quickstart.yaml again)"
else
    install -D -m 0644 examples/quickstart.yaml "$config"
    echo "[run] installed $config"
fi
exec /usr/local/bin/kres-manager -c "$config" "$@"
