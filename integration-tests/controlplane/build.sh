#!/usr/bin/env bash
# Builds the test bed's control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd, kwok) from Go modules through the module proxy, and
# caches the binaries plus Go's module and build caches outside the
# repository, in a directory keyed by the pinned versions.
#
# Prints the directory holding the binaries on its last line of stdout.
# A second run with the binaries present does nothing (no network, no compiling).
# Concurrent runs are serialised by a lock file, so they never corrupt the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root=${RUDDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rudder}
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
dest="$cache_root/controlplane/$key"
bin="$dest/bin"
mkdir -p "$dest"

binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok kwok-stages.yaml)
all_present() {
  for b in "${binaries[@]}"; do [ -s "$bin/$b" ] || return 1; done
  [ -f "$dest/complete" ]
}

if all_present; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is required to build the test bed's control plane (kube-apiserver, etcd, kwok) from Go modules, and 'go' is not on PATH; install Go 1.24 or newer (https://go.dev/doc/install), then run the tests again" >&2
  exit 3
fi

exec 9>"$dest/lock"
if ! flock -n 9; then
  echo "waiting for another build of the control plane in $dest ..." >&2
  flock 9
fi
if all_present; then echo "$bin"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOMODCACHE="$cache_root/go/mod" GOCACHE="$cache_root/go/build"
work="$dest/work"
mkdir -p "$bin" "$work"
log() { echo "[controlplane $(date +%H:%M:%S)] $*" >&2; }

k8s_minor=${KUBERNETES_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
k8s_patch=${KUBERNETES_VERSION##*.}
staging_version="v0.${k8s_minor}.${k8s_patch}"

build_kubernetes() {
  local mod="$work/kubernetes"
  mkdir -p "$mod"
  cd "$mod"
  [ -f go.mod ] || go mod init rudder.local/controlplane-kubernetes >/dev/null 2>&1
  go mod edit -go=1.24
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
    csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
    pod-security-admission sample-apiserver)
  for m in "${staging[@]}"; do go mod edit -replace "k8s.io/$m=k8s.io/$m@$staging_version"; done
  log "resolving k8s.io/kubernetes $KUBERNETES_VERSION"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
         "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
         "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION" >&2
  local v="k8s.io/component-base/version"
  local ldflags="-s -w -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$k8s_minor -X $v.gitTreeState=clean"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    if [ ! -s "$bin/$c" ]; then
      log "building $c (minutes on a cold cache)"
      go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
      mv "$bin/$c.tmp" "$bin/$c"
    fi
  done
}

build_etcd() {
  [ -s "$bin/etcd" ] && return 0
  local mod="$work/etcd"
  mkdir -p "$mod"
  cd "$mod"
  [ -f go.mod ] || go mod init rudder.local/controlplane-etcd >/dev/null 2>&1
  log "building etcd $ETCD_VERSION"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  mv "$bin/etcd.tmp" "$bin/etcd"
}

build_kwok() {
  if [ ! -s "$bin/kwok" ]; then
    log "building kwok $KWOK_VERSION"
    GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
    mv "$work/gobin/kwok" "$bin/kwok"
  fi
  if [ ! -s "$bin/kwok-stages.yaml" ]; then
    # kwok's "fast" stages (node ready, pod running, pod deleted) are plain YAML
    # files in its module; concatenate them instead of needing kubectl here.
    local stages="$GOMODCACHE/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
    : >"$bin/kwok-stages.yaml.tmp"
    local f
    # The same three parts as kwok's own kustomize/stage/fast overlay.
    for f in "$stages"/node/fast/*.yaml "$stages"/node/heartbeat-with-lease/*.yaml "$stages"/pod/fast/*.yaml; do
      [ "$(basename "$f")" = kustomization.yaml ] && continue
      printf -- '---\n' >>"$bin/kwok-stages.yaml.tmp"
      cat "$f" >>"$bin/kwok-stages.yaml.tmp"
    done
    mv "$bin/kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
  fi
}

start=$(date +%s)
build_etcd
build_kwok
build_kubernetes
touch "$dest/complete"
log "control plane ready in $bin after $(( $(date +%s) - start )) s"
echo "$bin"
