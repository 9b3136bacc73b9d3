#!/usr/bin/env bash
# Makes a Docker engine answer and makes sure the workspace base image exists.
# Idempotent: does nothing when an engine already answers and the base image is present.
#   - no engine answers and we are root on Debian: install Debian's docker.io, start dockerd
#     in the background (log: /var/log/nexus-dockerd.log) and wait for it;
#   - the base image (NEXUS_BASE_IMAGE, default debian:bookworm-slim) is missing and cannot be
#     pulled: build it from Debian packages (debootstrap --variant=minbase + docker import).
# Env: NEXUS_BASE_IMAGE, NEXUS_DOCKERD_LOG, NEXUS_SKIP_BASE_IMAGE=1 (engine only).
set -euo pipefail

BASE_IMAGE="${NEXUS_BASE_IMAGE:-debian:bookworm-slim}"
DOCKERD_LOG="${NEXUS_DOCKERD_LOG:-/var/log/nexus-dockerd.log}"
SUITE="${NEXUS_DEBIAN_SUITE:-bookworm}"

log() { printf '[docker-up] %s\n' "$*" >&2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

is_root() { [ "$(id -u)" = 0 ]; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

start_engine() {
  if ! is_root || [ ! -f /etc/debian_version ]; then
    log "no Docker engine answers, and this is not root on Debian: start Docker yourself (https://docs.docker.com/engine/install/)"
    exit 1
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    log "installing Debian's docker.io"
    apt_install docker.io iptables ca-certificates
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: dockerd outlives this script and the test run that called it.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    engine_answers && return 0
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:"
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  exit 1
}

make_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  log "pulling $BASE_IMAGE"
  if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  if ! is_root || [ ! -f /etc/debian_version ]; then
    log "cannot pull $BASE_IMAGE and cannot build it here (needs root on Debian)"
    exit 1
  fi
  log "no registry: building $BASE_IMAGE from Debian packages (debootstrap $SUITE minbase)"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local mirror
  mirror="$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  mirror="${mirror:-http://deb.debian.org/debian}"
  local root
  root="$(mktemp -d /tmp/nexus-rootfs.XXXXXX)"
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >&2
  # The same apt source inside, so the workspace image's apt-get reaches the same mirror.
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
  elif [ -f /etc/apt/sources.list ]; then
    cp /etc/apt/sources.list "$root/etc/apt/sources.list"
  fi
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  log "made $BASE_IMAGE"
}

engine_answers || start_engine
[ "${NEXUS_SKIP_BASE_IMAGE:-0}" = 1 ] || make_base_image
log "engine ready: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
