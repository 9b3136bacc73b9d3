#!/usr/bin/env bash
# The whole test suite in one command (`npm test`): makes a Docker engine answer and the base image
# exist (scripts/docker-up.sh), builds dist/nexus, typechecks, then runs every test (unit,
# integration against the real engine, e2e with the compiled binary, and the Deno smoke test).
# Extra arguments go to `bun test` (e.g. `npm test -- test/unit`).
set -uo pipefail
cd "$(dirname "$0")/.."

BUN=node_modules/.bin/bun
if [ ! -x "$BUN" ]; then
  echo "node_modules is missing: run 'npm install' first" >&2
  exit 1
fi

bash scripts/docker-up.sh || exit 1
# Test tools a fresh machine may lack (shellcheck: the install.sh lint; unison: the file sync
# provider, the same 2.52 as the workspace image); installed the same way as the engine, only as
# root on Debian (otherwise the sync tests say what is missing).
for tool in shellcheck unison; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null 2>&1 \
      || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null 2>&1; } \
      || echo "could not install $tool" >&2
  fi
done
"$BUN" scripts/build.ts || exit 1
node_modules/.bin/tsc --noEmit || { echo "typecheck failed" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Tests against real containers take seconds, and many times that on a loaded 2-core machine: bun's
# 5 s default would fail them there. A test that really hangs still fails, after this long.
"$BUN" test --timeout "${NEXUS_TEST_TIMEOUT_MS:-120000}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
pass="$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n 1 | tr -dc '0-9')"
fail="$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n 1 | tr -dc '0-9')"
echo "tests: ${pass:-0} passed, ${fail:-0} failed"
if [ "$status" -eq 0 ] && [ "${pass:-0}" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
