#!/usr/bin/env bash
# Sync benchmark: `rudder sync` against `kubectl apply --server-side` and raw
# parallel server-side apply, side by side in one run on one test-bed
# apiserver, with requests counted from the audit log and from
# apiserver_request_total; then `rudder sync --watch` healing 100 deletions
# and 100 edits. See integration-tests/src/bin/bench_sync.rs.
#
#   bench/sync.sh                     # 250 apps (1,001 objects), 100 tries
#   APPS=50 TRIES=20 bench/sync.sh    # a quick run
#   RUDDER=/path/to/rudder bench/sync.sh
# Needs: the control plane (built by scripts/test.sh), kubectl, python3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cargo run --release -q -p integration-tests --bin bench-sync -- \
  --rudder "$RUDDER" --apps "${APPS:-250}" --tries "${TRIES:-100}" --kubectl "${KUBECTL:-kubectl}"
