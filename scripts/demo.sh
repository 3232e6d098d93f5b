#!/usr/bin/env bash
# The live multi-region demo: three local Kubernetes control planes
# (us-east-1, eu-west-1, ap-southeast-1) on 127.0.0.1, examples/fleet served
# from a real Git repository by `git daemon`, and one `rudder run` per
# region. Prints each region's status page, the fleet view and what to try
# next once every region is Synced and Healthy, then runs until Ctrl-C and
# leaves nothing behind.
#
#   scripts/demo.sh                  # until Ctrl-C
#   scripts/demo.sh --until-synced   # exit 0 once the fleet has converged
#
# The first run builds the control plane from Go modules and rudder in
# release mode (cached afterwards) and says how long each took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in cargo go git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: '$tool' is required by the demo (Rust, Go and Git; see README.md)" >&2
    exit 3
  fi
done

start=$(date +%s)
echo "==> control plane (built from Go modules on first use: several minutes on 2 cores, then cached)" >&2
bash integration-tests/controlplane/build.sh >/dev/null
echo "    ready after $(( $(date +%s) - start )) s" >&2

start=$(date +%s)
echo "==> rudder and the demo (cargo build --release)" >&2
cargo build --release --quiet -p rudder -p integration-tests --bin rudder --bin demo
echo "    built after $(( $(date +%s) - start )) s" >&2

target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/demo" --rudder "$target/release/rudder" "$@"
