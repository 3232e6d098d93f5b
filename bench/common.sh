# Shared by the benchmark scripts: the repository root, a release `rudder`
# (built unless RUDDER names one) and the control plane.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${RUDDER:-}" ]; then
  cargo build --release -p rudder >&2
  RUDDER="${CARGO_TARGET_DIR:-$root/target}/release/rudder"
fi
bash integration-tests/controlplane/build.sh >&2
