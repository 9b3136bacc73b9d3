#!/usr/bin/env bash
# The unit suite under `deno test` (bun:test mapped onto Deno.test by test/deno/bun-test-shim.ts,
# through the import map of test/deno/deno.json), then the CLI-level end-to-end tests against the
# same source run under Deno — the CLI and the daemon it
# starts both `deno run` (test/helpers/nexus-deno) — instead of the compiled Bun binary (the Deno
# smoke test, test/deno, already runs in `npm test`). Separate from `npm test` because it takes
# minutes more (every CLI call loads the source under Deno); CI runs it after `npm test` (.ci/run).
# Arguments: other e2e test files to run this way (default: the CLI story, the operation history and
# the transport attacks);
# NEXUS_DENO_UNIT=0 skips the unit suite.
set -uo pipefail
cd "$(dirname "$0")/.."

BUN=node_modules/.bin/bun
[ -x node_modules/.bin/deno ] || { echo "node_modules/.bin/deno is missing: run 'npm install' first" >&2; exit 1; }
bash scripts/docker-up.sh || exit 1
# Every unit file runs (none needs Bun itself; README, "Deno").
unit_status=0
if [ "${NEXUS_DENO_UNIT:-1}" != 0 ]; then
  node_modules/.bin/deno test -A --no-check --config test/deno/deno.json --preload test/preload.ts test/unit || unit_status=$?
fi

# The version-restart test uses the compiled binary as "a daemon of another version".
[ -x dist/nexus ] || "$BUN" scripts/build.ts || exit 1

# transport.test.ts: the security suite's transport attacks (Origin, half-sent body and headers, encoded paths) on a Deno daemon.
files=(test/e2e/cli.test.ts test/e2e/trace.test.ts test/security/transport.test.ts)
[ "$#" -gt 0 ] && files=("$@")
NEXUS_E2E_RUNTIME=deno "$BUN" test --timeout "${NEXUS_TEST_TIMEOUT_MS:-600000}" "${files[@]}" || exit $?
exit "$unit_status"
