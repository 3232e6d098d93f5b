#!/usr/bin/env bash
# Render benchmark: `rudder render` against `kubectl kustomize`, side by side,
# in one run, on generated base/environment/region overlays of about 15, 400
# and 3,000 objects (bench/gen_overlay.py).
#
#   bench/render.sh                  # sizes 4, 100 and 750 apps, 5 repetitions
#   REPS=3 APPS="4 100" bench/render.sh
#   RUDDER=/path/to/rudder bench/render.sh   # skip the cargo build
#
# Each measurement is the whole process (start-up, reading files, rendering,
# writing YAML to a file), run REPS times; the median wall time is reported.
# Peak RSS comes from wait4(2) (bench/measure.py). When one kubectl run takes
# more than SLOW_S seconds (default 10), it is run SLOW_REPS times (default 3)
# only. Outputs are compared byte for byte (cmp) and, when they differ, as
# parsed documents (PyYAML, if importable).
# Needs: kubectl (kustomize v5.x), python3, cargo. Installs nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
reps="${REPS:-5}"
apps_list="${APPS:-4 100 750}"
kubectl="${KUBECTL:-kubectl}"

if [ -z "${RUDDER:-}" ]; then
  echo "building rudder (release)..." >&2
  (cd "$root" && cargo build --release -p rudder >&2)
  target_dir="${CARGO_TARGET_DIR:-$root/target}"
  RUDDER="$target_dir/release/rudder"
fi
[ -x "$RUDDER" ] || { echo "no rudder binary at $RUDDER" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/rudder-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

same_parsed() { # same_parsed A B -> prints yes/no/unknown
  python3 - "$1" "$2" <<'PY'
import sys
try:
    import yaml
except ImportError:
    print("unknown"); sys.exit()
try:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    a = [d for d in yaml.load_all(open(sys.argv[1], encoding="utf-8"), Loader=loader) if d is not None]
    b = [d for d in yaml.load_all(open(sys.argv[2], encoding="utf-8"), Loader=loader) if d is not None]
    print("yes" if a == b else "no")
except Exception as e:  # unparsable output
    print("no")
PY
}

field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

echo "kubectl: $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')" >&2
echo "rudder:  $RUDDER ($("$RUDDER" version 2>/dev/null || echo '?'))" >&2
echo "host:    $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $reps repetitions" >&2
echo
echo "| objects | kubectl kustomize (median) | rudder render (median) | speed-up | kubectl peak RSS | rudder peak RSS | RSS ratio | identical output |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for apps in $apps_list; do
  tree="$work/apps-$apps"
  python3 "$here/gen_overlay.py" "$apps" "$tree"
  dir="$tree/clusters/eu-west-1"
  k="$(python3 "$here/measure.py" "$reps" "$work/kubectl-$apps.yaml" -- "$kubectl" kustomize "$dir")"
  r="$(python3 "$here/measure.py" "$reps" "$work/rudder-$apps.yaml" -- "$RUDDER" render "$dir")"
  objects="$(grep -c '^kind:' "$work/kubectl-$apps.yaml" || true)"
  k_s="$(field median_s <<< "$k")"; r_s="$(field median_s <<< "$r")"
  k_m="$(field peak_rss_kib <<< "$k")"; r_m="$(field peak_rss_kib <<< "$r")"
  k_x="$(field exit <<< "$k")"; r_x="$(field exit <<< "$r")"
  if [ "$r_x" != 0 ]; then
    same="rudder failed (exit $r_x)"
  elif [ "$k_x" != 0 ]; then
    same="kubectl failed (exit $k_x)"
  elif cmp -s "$work/kubectl-$apps.yaml" "$work/rudder-$apps.yaml"; then
    same="byte-identical"
  else
    case "$(same_parsed "$work/kubectl-$apps.yaml" "$work/rudder-$apps.yaml")" in
      yes) same="same documents, text differs" ;;
      no) same="DIFFERENT" ;;
      *) same="text differs (PyYAML missing)" ;;
    esac
  fi
  python3 - "$objects" "$k_s" "$r_s" "$k_m" "$r_m" "$same" <<'PY'
import sys
objects, ks, rs, km, rm, same = sys.argv[1:]
ks, rs, km, rm = float(ks), float(rs), int(km), int(rm)
def t(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"
speed = f"{ks / rs:.0f}x" if rs > 0 else "-"
ratio = f"{rm / km:.2f}" if km > 0 else "-"
print(f"| {int(objects):,} | {t(ks)} | {t(rs)} | {speed} | {km / 1024:.0f} MiB | {rm / 1024:.1f} MiB | {ratio} | {same} |")
PY
  echo "  runs (s): kubectl $(field runs <<< "$k"), rudder $(field runs <<< "$r")" >&2
done
