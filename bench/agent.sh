#!/usr/bin/env bash
# Agent benchmark: `rudder run` on one test-bed apiserver following a
# repository served by `git daemon`, managing the 1,001-object set: push to
# applied through the signed webhook (p50/p99, against a git pull + kubectl
# kustomize + kubectl apply --server-side pipeline), requests and renders
# during a minute of 1 s polls with no new commit, requests for another
# region's commit, steady RSS and idle CPU.
# See integration-tests/src/bin/bench_agent.rs.
#
#   bench/agent.sh                           # 250 apps, 20 pushes, 60 s idle
#   APPS=50 PUSHES=5 IDLE=10 bench/agent.sh  # a quick run
#   RUDDER=/path/to/rudder bench/agent.sh
# Needs: the control plane (built by scripts/test.sh), kubectl, git.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cargo run --release -q -p integration-tests --bin bench-agent -- \
  --rudder "$RUDDER" --apps "${APPS:-250}" --pushes "${PUSHES:-20}" \
  --peer-runs "${PEER_RUNS:-3}" --idle "${IDLE:-60}" --kubectl "${KUBECTL:-kubectl}"
