#!/usr/bin/env bash
# The CLI-level end-to-end tests against the same source run under Deno — the CLI and the daemon it
# starts both `deno run` (test/helpers/nexus-deno) — instead of the compiled Bun binary (the Deno
# smoke test, test/deno, already runs in `npm test`). Separate from `npm test` because it takes
# minutes more (every CLI call loads the source under Deno); CI runs it after `npm test` (.ci/run).
# Arguments: other test files to run this way (default: the CLI story and the operation history).
set -uo pipefail
cd "$(dirname "$0")/.."

BUN=node_modules/.bin/bun
[ -x node_modules/.bin/deno ] || { echo "node_modules/.bin/deno is missing: run 'npm install' first" >&2; exit 1; }
bash scripts/docker-up.sh || exit 1
# The version-restart test uses the compiled binary as "a daemon of another version".
[ -x dist/nexus ] || "$BUN" scripts/build.ts || exit 1

files=(test/e2e/cli.test.ts test/e2e/trace.test.ts)
[ "$#" -gt 0 ] && files=("$@")
NEXUS_E2E_RUNTIME=deno "$BUN" test --timeout "${NEXUS_TEST_TIMEOUT_MS:-600000}" "${files[@]}"
