#!/usr/bin/env bash
# Run the pytest suite of supervisord-ext with the virtualenv made by scripts/setup-system.sh.
# Fails when a test fails and when no test was collected (pytest exit status 5).
# Extra arguments go to pytest (e.g. -k notify, -x).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KRES_VENV:-/opt/kres-manager/venv}"
PY="$VENV/bin/python"

if [[ ! -x "$PY" ]]; then
    echo "[test-python] no virtualenv at $VENV: run scripts/setup-system.sh first" >&2
    exit 1
fi

cd "$REPO_ROOT/supervisord-ext"
export PYTHONDONTWRITEBYTECODE=1
status=0
"$PY" -m pytest -q -p no:cacheprovider "$@" tests || status=$?
if [[ $status -eq 5 ]]; then
    echo "[test-python] FAILED: no tests were collected" >&2
    exit 1
fi
exit "$status"
