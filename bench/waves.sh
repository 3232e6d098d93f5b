#!/usr/bin/env bash
# Sync waves benchmark: 300 objects synced by `rudder sync --wait` in one
# wave and in three waves of 100, alternately, on one test-bed apiserver;
# medians and their difference (what the waves cost). Argo CD's fixed pause
# alone is 2 s per wave. See integration-tests/src/bin/bench_waves.rs.
#
#   bench/waves.sh
#   OBJECTS=900 REPS=5 bench/waves.sh
#   RUDDER=/path/to/rudder bench/waves.sh
# Needs: the control plane (built by scripts/test.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cargo run --release -q -p integration-tests --bin bench-waves -- \
  --rudder "$RUDDER" --objects "${OBJECTS:-300}" --reps "${REPS:-7}"
