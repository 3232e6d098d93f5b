#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for N seconds each, one after
# the other, on one core.
#
#   ./run.sh            # all targets, 60 s each
#   ./run.sh 600        # all targets, 10 minutes each
#   ./run.sh 300 json6902 strategic_merge
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds are (re)generated into corpus/ by make_seeds.py (needs python3 with
# PyYAML); findings land in artifacts/<target>/, logs in artifacts/logs/.
# Exits non-zero if any target found a crash, leak, timeout or OOM.
set -uo pipefail

cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
shift || true
ALL_TARGETS=(yaml_parse strategic_merge json6902 render_kustomization patch_options)
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then TARGETS=("${ALL_TARGETS[@]}"); fi

# Safe Rust: AddressSanitizer buys little and halves the speed, so build
# without it, but keep debug assertions (integer overflow checks) on.
FUZZ_FLAGS=(--sanitizer none --debug-assertions)
# libFuzzer: one process, one input at a time (= one core), bounded memory,
# any input slower than 10 s reported as a hang.
LIBFUZZER_FLAGS=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10
    -max_len=8192 -dict=yaml.dict -print_final_stats=1)

if command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
    python3 make_seeds.py >/dev/null
else
    echo "python3 with PyYAML not found: fuzzing from the existing corpus only" >&2
    for t in "${TARGETS[@]}"; do mkdir -p "corpus/$t"; done
fi

cargo +nightly fuzz build "${FUZZ_FLAGS[@]}" || exit 2

mkdir -p artifacts/logs
status=0
for t in "${TARGETS[@]}"; do
    echo "== $t: ${SECONDS_EACH}s"
    mkdir -p "artifacts/$t"
    if cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$t" "corpus/$t" -- \
        "${LIBFUZZER_FLAGS[@]}" >"artifacts/logs/$t.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs' \
            "artifacts/logs/$t.log" | sed 's/^/   /'
    else
        status=1
        echo "   FAILED: see artifacts/logs/$t.log and artifacts/$t/" >&2
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "artifacts/logs/$t.log" | head -5 | sed 's/^/   /' >&2
    fi
done
exit $status
