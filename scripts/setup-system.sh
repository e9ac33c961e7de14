#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for developing and testing kres-manager.
#
# Idempotent: safe to run on every CI run and every session.
#   1. apt: knot-resolver (kresd 5.6, kres-cache-gc), knot (knotd, a test upstream),
#      knot-dnsutils (kdig), dnsperf, python3-venv, openssl (test certificates) -- `apt-get update` only when needed.
#   2. a virtualenv at ${KRES_VENV:-/opt/kres-manager/venv} with supervisor 4.3.x, pytest
#      and our supervisord-ext package (reinstalled every run, non-editable, so that edits
#      in the work tree always take effect).
#   3. a second virtualenv, for tests only, at ${KRES_TEST_VENV:-/opt/kres-manager/test-venv}
#      with schemathesis 4.32.x (the API robustness test, manager/tests/schemathesis.rs, runs
#      its `bin/schemathesis`); kept apart so that the supervisord venv stays small. pip runs
#      only when schemathesis is missing or not 4.32.x, so a run on a ready machine is fast.
#
# Environment:
#   KRES_VENV      where the virtualenv lives (default /opt/kres-manager/venv)
#   KRES_TEST_VENV where the test virtualenv lives (default /opt/kres-manager/test-venv)
#   KRES_PYTHON    the interpreter that creates the venv (default: Debian's /usr/bin/python3,
#                  else python3 on PATH); the service's unprivileged user must be able to run it
#   KRES_SKIP_APT  set to 1 to skip the apt step (e.g. on a machine that is not Debian)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KRES_VENV:-/opt/kres-manager/venv}"
TEST_VENV="${KRES_TEST_VENV:-/opt/kres-manager/test-venv}"
if [[ -z "${KRES_PYTHON:-}" && -x /usr/bin/python3 ]]; then
    PYTHON=/usr/bin/python3
else
    PYTHON="${KRES_PYTHON:-python3}"
fi
# The user the service runs as when started as root (supervisord runs as it, from the venv).
SERVICE_USER="${KRES_USER:-knot-resolver}"

# gdb: `kresctl debug` and its end-to-end test attach it to real workers.
APT_PACKAGES=(knot-resolver knot knot-dnsutils dnsperf python3-venv openssl gdb)
# setuptools/wheel: our package is built without build isolation (no network for that).
PY_REQUIREMENTS=("supervisor==4.3.*" "pytest" "setuptools>=61" "wheel")
# The test venv: schemathesis, pinned to the minor version the API test was written against
# (its CLI options and check names change between minor versions); verified with Python 3.11.
SCHEMATHESIS_SERIES="4.32"

log() { printf '[setup-system] %s\n' "$*"; }

# usable_by_service_user DIR: whether the service's user (when it exists) can run DIR's python
# (a venv made from an interpreter under /root cannot be).
usable_by_service_user() {
    if ! getent passwd "$SERVICE_USER" >/dev/null || ! command -v runuser >/dev/null; then
        return 0
    fi
    runuser -u "$SERVICE_USER" -- "$1/bin/python" -c 'pass' >/dev/null 2>&1
}

# ensure_venv DIR LABEL [shared]: a working virtualenv at DIR, re-created when missing or broken
# (e.g. its base interpreter vanished) or, with `shared`, when the service's user cannot run it.
ensure_venv() {
    local dir="$1" label="$2" shared="${3:-}"
    if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c 'import pip' >/dev/null 2>&1 \
        && { [[ "$shared" != shared ]] || usable_by_service_user "$dir"; }; then
        log "$label exists: $dir"
    else
        log "creating $label: $dir"
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        "$PYTHON" -m venv "$dir"
    fi
}

# ---------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------
apt_step() {
    if [[ "${KRES_SKIP_APT:-0}" == "1" ]]; then
        log "KRES_SKIP_APT=1: skipping apt"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: this script targets Debian 12; skipping apt"
        return 0
    fi

    local missing=() pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        if [[ "$status" != "installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt packages already installed: ${APT_PACKAGES[*]}"
        return 0
    fi
    log "apt packages missing: ${missing[*]}"

    if [[ "$(id -u)" -ne 0 ]]; then
        log "ERROR: installing apt packages needs root (run as root, or KRES_SKIP_APT=1)"
        return 1
    fi

    export DEBIAN_FRONTEND=noninteractive
    # Update the package lists only when apt does not know a candidate for some package
    # (fresh machine, empty or stale lists).
    local need_update=0 candidate
    for pkg in "${missing[@]}"; do
        candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
            need_update=1
            break
        fi
    done
    if [[ $need_update -eq 1 ]]; then
        log "running: apt-get update"
        apt-get update
    else
        log "apt package lists already know every missing package: no apt-get update"
    fi

    log "running: apt-get install -y --no-install-recommends ${missing[*]}"
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        # Lists may be stale (a package version no longer on the mirror): refresh once, retry.
        log "install failed; running apt-get update and retrying once"
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

# ---------------------------------------------------------------------------------------
# 2. Python virtualenv
# ---------------------------------------------------------------------------------------
venv_step() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        log "ERROR: $PYTHON not found on PATH"
        return 1
    fi
    local pyver
    pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    log "interpreter: $(command -v "$PYTHON") (Python $pyver)"

    ensure_venv "$VENV" "virtualenv" shared

    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)

    # Third-party requirements: only touch the network when something is missing.
    if "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as m
v = m.version("supervisor")
assert v.startswith("4.3."), v
m.version("pytest")
m.version("wheel")
assert int(m.version("setuptools").split(".")[0]) >= 61
EOF
    then
        log "supervisor $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("supervisor"))'), pytest, setuptools, wheel already installed"
    else
        log "running: pip install ${PY_REQUIREMENTS[*]}"
        "${pip[@]}" install --quiet "${PY_REQUIREMENTS[@]}"
    fi

    # Our own package: always reinstall (non-editable) so work-tree edits take effect.
    # Build in a temporary copy so no build/ or *.egg-info litter lands in the work tree.
    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp'" EXIT
    cp -r "$REPO_ROOT/supervisord-ext" "$tmp/supervisord-ext"
    rm -rf "$tmp/supervisord-ext/build" "$tmp/supervisord-ext"/src/*.egg-info
    log "running: pip install --no-deps --force-reinstall --no-build-isolation ./supervisord-ext"
    "${pip[@]}" install --quiet --no-deps --force-reinstall --no-build-isolation \
        "$tmp/supervisord-ext"

    "$VENV/bin/python" -c 'import kres_supervisord_ext, kres_supervisord_ext.core, supervisor.options as o; print("[setup-system] import check ok: kres_supervisord_ext", kres_supervisord_ext.__version__, "with supervisor", o.VERSION)'
}

# ---------------------------------------------------------------------------------------
# 3. The test virtualenv (schemathesis)
# ---------------------------------------------------------------------------------------
test_venv_step() {
    ensure_venv "$TEST_VENV" "test virtualenv"
    local installed
    installed="$("$TEST_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
    if [[ "$installed" == "$SCHEMATHESIS_SERIES".* && -x "$TEST_VENV/bin/schemathesis" ]]; then
        log "schemathesis $installed already installed"
    else
        log "running: pip install schemathesis==$SCHEMATHESIS_SERIES.* (installed: ${installed:-none})"
        "$TEST_VENV/bin/python" -m pip --disable-pip-version-check --no-input install --quiet \
            "schemathesis==$SCHEMATHESIS_SERIES.*"
    fi
    log "schemathesis check: $("$TEST_VENV/bin/schemathesis" --version)"
}

main() {
    log "repo: $REPO_ROOT"
    apt_step
    venv_step
    test_venv_step
    bash "$REPO_ROOT/scripts/setup-browser.sh"
    log "done: venv at $VENV (supervisord: $VENV/bin/supervisord), test venv at $TEST_VENV (schemathesis)"
}

main "$@"
