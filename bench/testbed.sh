#!/usr/bin/env bash
# Measures the test bed: warm start time of N clusters (until `testbed up`
# prints its NAME REGION KUBECONFIG lines) and resident memory per component.
# Usage: bench/testbed.sh [CLUSTERS]   (default 3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-3}
cargo build -q -p integration-tests --bin testbed
bin=${CARGO_TARGET_DIR:-target}/debug/testbed
dir=$(mktemp -d /tmp/rudder-testbed-bench.XXXXXX)
trap '"$bin" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
out="$dir/up.out"
: >"$out"
start=$(date +%s.%N)
"$bin" up --clusters "$n" --dir "$dir" >"$out" 2>"$dir/up.err" &
while [ "$(wc -l <"$out")" -lt "$n" ]; do
  sleep 0.05
  kill -0 $! 2>/dev/null || { cat "$dir/up.err" >&2; exit 1; }
done
ready=$(date +%s.%N)
cat "$out"
printf 'warm start of %s clusters: %.1f s\n' "$n" "$(echo "$ready - $start" | bc)"
sleep 5  # let controllers settle before reading memory
printf '%-26s %8s\n' component "RSS MiB (all clusters)"
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  kib=$(ps -eo rss=,args= | awk -v c="$c" -v d="$dir" '$2 ~ "/"c"$" && index($0, d) {s+=$1} END {print s+0}')
  printf '%-26s %8.0f\n' "$c" "$(echo "$kib / 1024" | bc -l)"
done
total=$(ps -eo rss=,args= | awk -v d="$dir" 'index($0, d) && $2 !~ /bash$/ {s+=$1} END {print s+0}')
printf 'total RSS of %s clusters: %.0f MiB (%.0f MiB per cluster)\n' "$n" "$(echo "$total / 1024" | bc -l)" "$(echo "$total / 1024 / $n" | bc -l)"
