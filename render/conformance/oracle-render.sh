#!/usr/bin/env bash
# Stand-in for `rudder render DIR [--var NAME=VALUE]...` built from the oracle:
# `kubectl kustomize DIR`, then the `${NAME}` substitution of regen.sh. Used to
# check the suite and its harness themselves:
#   RUDDER_CONFORMANCE_BIN=$PWD/render/conformance/oracle-render.sh \
#     cargo test -p rudder --test render_conformance
# Every good case must match byte for byte; bad cases fail where kubectl's
# messages differ from ours or kubectl accepts the input.
set -euo pipefail
[ "${1:-}" = render ] || { echo "usage: $0 render DIR [--var NAME=VALUE]..." >&2; exit 2; }
dir="$2"
shift 2
vars="$(mktemp)"
trap 'rm -f "$vars" "$vars.out"' EXIT
while [ $# -gt 0 ]; do
  [ "$1" = --var ] || { echo "unexpected argument $1" >&2; exit 2; }
  printf '%s\n' "$2" >> "$vars"
  shift 2
done
kubectl kustomize "$dir" > "$vars.out"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(sed -n '/^substitute_py=/,/^)"$/p' "$here/regen.sh")"
python3 -c "$substitute_py" "$vars" < "$vars.out"
