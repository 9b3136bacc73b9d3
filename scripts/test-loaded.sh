#!/usr/bin/env bash
# The tests on a loaded machine: a CPU hog on every core (stress-ng when installed, otherwise one
# busy shell loop per core), then the given test files run twice in a row under it. What it proves:
# the tests wait on conditions with deadlines, not on fixed sleeps a slow machine outlasts, and their
# timeouts are generous where real containers are involved. The hog is killed on any exit.
# Arguments: test files or folders (default: test/integration test/e2e).
# Environment: NEXUS_LOADED_RUNS (default 2), NEXUS_TEST_TIMEOUT_MS (per test, default 600000),
# NEXUS_LOADED_LOGS (folder for the runs' logs; default a new temporary one, kept).
set -uo pipefail
cd "$(dirname "$0")/.."

BUN=node_modules/.bin/bun
[ -x "$BUN" ] || { echo "node_modules is missing: run 'npm install' first" >&2; exit 1; }
bash scripts/docker-up.sh || exit 1
# The e2e tests run the compiled binary.
"$BUN" scripts/build.ts || exit 1

files=(test/integration test/e2e)
[ "$#" -gt 0 ] && files=("$@")
runs="${NEXUS_LOADED_RUNS:-2}"
logs="${NEXUS_LOADED_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/nexus-loaded-XXXXXX")}"
mkdir -p "$logs"

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null; done
  hogs=()
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cores="$(nproc)"
if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu "$cores" --timeout 0 --quiet &
  hogs+=($!)
  hog="stress-ng --cpu $cores"
else
  for _ in $(seq "$cores"); do
    # A subshell spinning on ':' (a builtin): one busy process per core, no children to leave behind.
    ( while :; do :; done ) &
    hogs+=($!)
  done
  hog="$cores busy shell loops"
fi
echo "CPU hog: $hog; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

summary=()
failed_any=0
for run in $(seq "$runs"); do
  log="$logs/run-$run.log"
  start=$(date +%s)
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  "$BUN" test --timeout "${NEXUS_TEST_TIMEOUT_MS:-600000}" "${files[@]}" >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  pass="$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n 1 | tr -dc '0-9')"
  fail="$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n 1 | tr -dc '0-9')"
  line="run $run: ${pass:-0} passed, ${fail:-0} failed, exit $status, ${secs} s (load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$line"
  grep -E '^\(fail\)' "$log" | sed 's/^/  /'
  summary+=("$line")
  if [ "$status" -ne 0 ] || [ "${pass:-0}" -eq 0 ]; then failed_any=1; fi
done

echo "--- under $hog, $(printf '%s ' "${files[@]}")"
printf '%s\n' "${summary[@]}"
echo "logs: $logs"
exit "$failed_any"
