#!/usr/bin/env bash
# Regenerates the expected output of every conformance case from the oracle,
# `kubectl kustomize` (kustomize v5.5.0 on the reference machine).
#
#   render/conformance/regen.sh            # every case
#   render/conformance/regen.sh 012 fleet  # only cases whose name contains one of the words
#
# For each case directory under cases/:
#   * the rendered directory is the case itself, or the subdirectory named in
#     its `render-path` file;
#   * good case (no `expect-error`): `kubectl kustomize <dir>` must succeed;
#     its stdout is written to `expected.yaml`, after the `${NAME}` variable
#     substitution described below when the case has a `vars` file;
#   * bad case (`expect-error` present): no expected.yaml is written; kubectl's
#     own verdict (exit code and first error line) is recorded in
#     BAD_CASES.md, since some inputs kubectl accepts are errors for rudder
#     (helmCharts, remote bases, undefined variables, ...).
#
# Variable substitution: kustomize has no such feature, so this is the one
# place where the expected output is not the oracle's alone. After
# `kubectl kustomize`, the python block below replaces, in the output text,
#   ${NAME}            with the value given as NAME=VALUE in `vars`,
#   ${NAME:=default}   with that value, or `default` when NAME is not given,
# where NAME matches [A-Za-z_][A-Za-z0-9_]*. Anything else (`$NAME`, `$(NAME)`,
# a lone `$`) is left alone. A `${NAME}` with no value and no default is an
# error here, as it is for `rudder render`. It is an independent
# implementation: it does not share code with the renderer.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cases="$here/cases"
kubectl="${KUBECTL:-kubectl}"
bad_timeout="${BAD_TIMEOUT:-20}"

oracle_version="$("$kubectl" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')"
echo "oracle: $kubectl kustomize, kustomize ${oracle_version:-unknown}" >&2

substitute_py="$(cat <<'PY'
import re, sys
values = {}
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            sys.exit(f"vars: line without '=': {line!r}")
        values[name] = value
text = sys.stdin.read()
pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}")
def repl(m):
    name, default = m.group(1), m.group(2)
    if name in values:
        return values[name]
    if default is not None:
        return default
    sys.exit(f"undefined variable ${{{name}}} and no default")
sys.stdout.write(pattern.sub(repl, text))
PY
)"
# The first line of kubectl's error that says something, case paths made relative.
first_error_py=$(cat <<'PY'
import re, sys
prefix = sys.argv[1]
lines = [l.strip() for l in sys.stdin.read().splitlines()]
lines = [l for l in lines if l and not l.startswith("# Warning") and not l.startswith("Warning")]
out = ""
for l in lines:
    m = re.search(r'err="(.*)"?$', l)
    if m:
        out = m.group(1).rstrip('"')
        break
    if re.match(r"^E\d{4} ", l) or l in (">",):
        continue
    out = l
    break
out = out.replace(prefix, "").replace("|", "\\|").replace("`", "'")
print(out[:200])
PY
)
substitute() { # substitute VARS_FILE < text > text
  python3 -c "$substitute_py" "$1"
}

selected() { # selected NAME -> true when no filter words or one matches
  local name="$1"
  shift
  [ $# -eq 0 ] && return 0
  local w
  for w in "$@"; do
    case "$name" in *"$w"*) return 0 ;; esac
  done
  return 1
}

bad_report="$here/BAD_CASES.md"
bad_rows=""
good=0
bad=0
failed=0
for dir in "$cases"/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  target="$dir"
  if [ -f "$dir/render-path" ]; then
    target="$dir/$(tr -d '[:space:]' < "$dir/render-path")"
  fi
  if [ -f "$dir/expect-error" ]; then
    bad=$((bad + 1))
    selected "$name" "$@" || continue
    set +e
    err="$(timeout "$bad_timeout" "$kubectl" kustomize "$target" 2>&1 >/dev/null)"
    code=$?
    set -e
    if [ $code -eq 0 ]; then
      verdict="accepts (exit 0)"
    else
      first="$(printf '%s\n' "$err" | python3 -c "$first_error_py" "$cases/")"
      if [ $code -eq 124 ]; then
        verdict="gives up: no answer within ${bad_timeout}s"
      else
        verdict="fails (exit $code): \`$first\`"
      fi
    fi
    bad_rows+="| $name | $verdict |"$'\n'
    rm -f "$dir/expected.yaml"
    continue
  fi
  good=$((good + 1))
  selected "$name" "$@" || continue
  tmp="$(mktemp)"
  if ! "$kubectl" kustomize "$target" > "$tmp" 2> "$tmp.err"; then
    echo "FAIL $name: kubectl kustomize failed:" >&2
    sed 's/^/    /' "$tmp.err" >&2
    rm -f "$tmp" "$tmp.err"
    failed=$((failed + 1))
    continue
  fi
  if [ -f "$dir/vars" ]; then
    if ! substitute "$dir/vars" < "$tmp" > "$tmp.sub"; then
      echo "FAIL $name: variable substitution failed" >&2
      rm -f "$tmp" "$tmp.err" "$tmp.sub"
      failed=$((failed + 1))
      continue
    fi
    mv "$tmp.sub" "$tmp"
  fi
  mv "$tmp" "$dir/expected.yaml"
  rm -f "$tmp.err"
done

[ $# -eq 0 ] && {
  echo "# Bad-input cases and what the oracle does with them"
  echo
  echo "Generated by \`regen.sh\` (kustomize ${oracle_version:-unknown}); do not edit."
  echo "rudder must fail on every one of these; kubectl sometimes accepts the input"
  echo "(features rudder refuses on purpose, or rudder-only checks such as \`\${VAR}\`)."
  echo
  echo "| case | \`kubectl kustomize\` |"
  echo "| --- | --- |"
  printf '%s' "$bad_rows"
} > "$bad_report"  # only rewritten when every case was run

echo "cases: $good good, $bad bad; $failed good case(s) failed under the oracle" >&2
[ $failed -eq 0 ]
