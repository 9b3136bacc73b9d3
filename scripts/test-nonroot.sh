#!/usr/bin/env bash
# Runs the security suite and the unit tests as an unprivileged user (`bash scripts/test-nonroot.sh`): every
# test must hold for a non-root host user too (the daemon's checks of ownership, the container user,
# setuid files, NEXUS_HOME modes differ there). Run as root, it makes (once) a user without
# privileges, `nexus-test` (NEXUS_TEST_USER), gives it the Docker socket's group, and runs the tests
# as that user with a home of its own; run as another user, it runs them as that user.
# Extra arguments are the test paths (default: test/security test/unit).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir="$PWD"

BUN="$root_dir/node_modules/.bin/bun"
if [ ! -x "$BUN" ]; then
  echo "node_modules is missing: run 'npm install' first" >&2
  exit 1
fi
# The security suite's transport and gRPC tests run the compiled daemon.
[ -x dist/nexus ] || "$BUN" scripts/build.ts

if [ "$#" -gt 0 ]; then tests=("$@"); else tests=(test/security test/unit); fi
timeout_ms="${NEXUS_TEST_TIMEOUT_MS:-120000}"

if [ "$(id -u)" != 0 ]; then
  exec "$BUN" test --timeout "$timeout_ms" "${tests[@]}"
fi

user="${NEXUS_TEST_USER:-nexus-test}"
sock="${DOCKER_HOST:-unix:///var/run/docker.sock}"
sock="${sock#unix://}"
if [ ! -S "$sock" ]; then
  echo "test-nonroot: no Docker socket at $sock (DOCKER_HOST must be a unix socket here)" >&2
  exit 1
fi
group="$(stat -c %G "$sock")"
if [ "$group" = root ]; then
  echo "test-nonroot: $sock belongs to group root: an unprivileged user cannot reach the engine (give it a 'docker' group)" >&2
  exit 1
fi
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --user-group "$user"
fi
id -nG "$user" | tr ' ' '\n' | grep -qx "$group" || usermod -aG "$group" "$user"
user_home="$(getent passwd "$user" | cut -d: -f6)"

# The user reads the checkout (and node_modules, maybe a symlink elsewhere) but writes nothing there.
# A checkout it cannot reach (under /root, say) is copied to a folder it can read first.
readable() {
  local path
  for path in "$root_dir" "$(readlink -f node_modules)" "$(readlink -f "$BUN")" "$root_dir/dist/nexus"; do
    runuser -u "$user" -- test -r "$path" -a -x "$(dirname "$path")" || return 1
  done
}
if ! readable; then
  copy="$(mktemp -d /tmp/nexus-nonroot-XXXXXX)"
  trap 'rm -rf "$copy"' EXIT
  echo "test-nonroot: $user cannot read $root_dir: running from a copy in $copy"
  cp -a "$root_dir/." "$copy/"
  rm -rf "$copy/node_modules"
  cp -a "$(readlink -f node_modules)" "$copy/node_modules"
  chmod 755 "$copy"
  root_dir="$copy"
  BUN="$copy/node_modules/.bin/bun"
  if ! readable; then
    echo "test-nonroot: $user cannot read $copy either" >&2
    exit 1
  fi
fi

echo "test-nonroot: running ${tests[*]} as $user ($(id "$user"))"
# A clean environment: the user's own HOME and TMPDIR, no NEXUS_HOME or token of root's.
# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
runuser -u "$user" -- env -i \
  HOME="$user_home" USER="$user" LOGNAME="$user" PATH="$PATH" LANG="${LANG:-C.UTF-8}" TMPDIR=/tmp \
  ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
  ${NEXUS_FUZZ_RUNS:+NEXUS_FUZZ_RUNS="$NEXUS_FUZZ_RUNS"} ${NEXUS_FUZZ_SEED:+NEXUS_FUZZ_SEED="$NEXUS_FUZZ_SEED"} \
  ${NEXUS_LOAD_EXECS:+NEXUS_LOAD_EXECS="$NEXUS_LOAD_EXECS"} \
  bash -c 'cd "$1" && shift && exec "$@"' _ "$root_dir" "$BUN" test --timeout "$timeout_ms" "${tests[@]}"
