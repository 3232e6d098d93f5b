#!/usr/bin/env bash
# Custom health rules benchmark: 1,000 custom resources judged by a CEL
# rule (reconciler/src/health_rules.rs) and, side by side, by kstatus's
# built-in rules; median of REPS runs each (reconciler/examples/
# health_rules_bench.rs). The issue's goal: under 10 ms for 1,000.
#
#   bench/health.sh
#   COUNT=5000 REPS=11 bench/health.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo run --quiet --release -p rudder-reconciler --example health_rules_bench
