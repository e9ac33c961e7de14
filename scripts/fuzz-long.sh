#!/usr/bin/env bash
# The long fuzzing run of issue 7 ("Hostile input"): every property of tests/tests/fuzz.rs with
# 1,000,000 cases each (the CI run has 10,000), in a release build, plus the explicit limit
# tests. Prints, per property, the cases, the time, the slowest case and the largest peak heap,
# then the outcome; the whole output is kept in target/fuzz-long.log.
#
#   bash scripts/fuzz-long.sh              # 1,000,000 cases per property, a fresh seed
#   bash scripts/fuzz-long.sh 200000       # fewer cases
#   KRES_FUZZ_SEED=123 bash scripts/fuzz-long.sh   # replay a run
#
# Each case must finish within KRES_FUZZ_DEADLINE_MS (default 1000). A failure prints the
# minimal failing input and the seed. Record the result in docs/reliability.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

cases="${1:-1000000}"
seed="${KRES_FUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}"
log="target/fuzz-long.log"
mkdir -p target

echo "fuzz-long: building the fuzz tests (release)"
nice cargo test --release --locked -p kres-tests --test fuzz --no-run

echo "fuzz-long: $cases cases per property, KRES_FUZZ_SEED=$seed, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
started=$(date +%s)
set +e
KRES_FUZZ_CASES="$cases" KRES_FUZZ_SEED="$seed" nice cargo test --release --locked -p kres-tests --test fuzz \
    -- --nocapture --test-threads=2 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))

echo
echo "fuzz-long: summary (KRES_FUZZ_SEED=$seed)"
grep -E '^fuzz [a-z]+: ' "$log" | grep -v 'a case took' || true
grep -E '^test result:' "$log" || true
if [ "$status" -eq 0 ]; then
    echo "fuzz-long: PASSED in ${elapsed} s ($cases cases per property); log: $log"
else
    echo "fuzz-long: FAILED (exit $status) after ${elapsed} s; see $log"
fi
exit "$status"
