#!/usr/bin/env bash
# A private Docker engine for tests that must restart an engine, or need a second one: its own
# data-root, exec-root, pidfile, socket, config file, cgroup parent, containerd namespace and a bridge
# of its own made here beforehand. It never touches the machine's engine: no --bridge=none (dockerd
# then deletes docker0), no iptables rules, no ip_forward change, and stop removes only what it made.
#
#   private-dockerd.sh setup DIR        make DIR's layout and the bridge (prints DOCKER_HOST=...)
#   private-dockerd.sh run DIR          dockerd in the foreground (exec: the caller owns the pid)
#   private-dockerd.sh start [DIR]      setup + run in the background, wait until it answers
#                                       (prints export DOCKER_HOST=...: eval "$(… start DIR)")
#   private-dockerd.sh load DIR IMAGE…  copy images from the machine's engine (docker save | load)
#   private-dockerd.sh stop DIR         stop its dockerd and remove all it made (DIR included)
#
# When DIR/tcp.env exists (TCP_PORT=, TLS_CA=, TLS_CERT=, TLS_KEY=: written by the caller before
# `run`), dockerd also listens on tcp://127.0.0.1:TCP_PORT with --tlsverify (client certificates of
# that CA only); never on another address.
#
# Needs root (dockerd does). Containers reach nothing outside (no NAT); ports they publish on
# 127.0.0.1 work (userland proxy), and images come from the machine's engine with `load`.
# containerd: dockerd starts one of its own under DIR (socket DIR/exec/containerd/containerd.sock)
# unless a system containerd answers at /run/containerd/containerd.sock; then it shares that one, and
# the namespaces nexus-private-N / nexus-private-N-plugins keep its containers apart from the others'.
set -euo pipefail

die() { printf 'private-dockerd: %s\n' "$*" >&2; exit 1; }
log() { printf 'private-dockerd: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (dockerd runs as root only)"

cmd="${1:-}"
shift || true

abs_dir() {
  [ -n "${1:-}" ] || die "usage: $0 $cmd DIR"
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

host_of() { printf 'unix://%s/docker.sock' "$1"; }

# A bridge nxbr<N> with 10.213.<N>.1/24 where neither the name nor the subnet is in use. `ip link
# add` is atomic: two runs racing for one N see one of them fail, and that one tries the next N.
make_bridge() {
  local dir="$1" n
  for n in $(seq 1 250); do
    ip link show "nxbr$n" >/dev/null 2>&1 && continue
    # Any route (besides the default one) into or around the subnet means it is taken.
    if [ -n "$(ip -4 route show root "10.213.$n.0/24" 2>/dev/null)" ] \
      || ip -4 route show match "10.213.$n.1" 2>/dev/null | grep -qv '^default'; then
      continue
    fi
    ip link add name "nxbr$n" type bridge 2>/dev/null || continue
    printf 'N=%s\nBRIDGE=nxbr%s\nSUBNET=10.213.%s.0/24\n' "$n" "$n" "$n" >"$dir/bridge.env"
    ip addr add "10.213.$n.1/24" dev "nxbr$n"
    ip link set "nxbr$n" up
    return 0
  done
  die "no free bridge name nxbr1-250 / subnet 10.213.x.0/24"
}

setup() {
  local dir="$1"
  mkdir -p "$dir/data" "$dir/exec"
  [ -f "$dir/daemon.json" ] || printf '{}\n' >"$dir/daemon.json"
  [ -f "$dir/bridge.env" ] || make_bridge "$dir"
  printf 'DOCKER_HOST=%s\n' "$(host_of "$dir")"
}

run() {
  local dir="$1"
  [ -f "$dir/bridge.env" ] || die "$dir is not set up (run: $0 setup $dir)"
  # shellcheck source=/dev/null
  . "$dir/bridge.env"
  ip link show "$BRIDGE" >/dev/null 2>&1 || die "bridge $BRIDGE is gone"
  local tcp=()
  if [ -f "$dir/tcp.env" ]; then
    # shellcheck source=/dev/null
    . "$dir/tcp.env"
    [[ "$TCP_PORT" =~ ^[0-9]+$ ]] || die "$dir/tcp.env: TCP_PORT must be a port number"
    tcp=(-H "tcp://127.0.0.1:$TCP_PORT" --tlsverify --tlscacert "$TLS_CA" --tlscert "$TLS_CERT" --tlskey "$TLS_KEY")
  fi
  # An empty --config-file: the machine's /etc/docker/daemon.json (its bridge, data-root, ...) must
  # not apply here, nor clash with these flags. Never add --default-address-pool (flag or config):
  # with it, dockerd 20.10 deletes the link named docker0, the machine engine's bridge, when it
  # starts again over its own data-root (seen here; removeDefaultBridgeInterface in moby).
  exec dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" \
    -H "$(host_of "$dir")" \
    ${tcp[@]+"${tcp[@]}"} \
    --bridge "$BRIDGE" \
    --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --cgroup-parent "/nexus-private-$N" \
    --containerd-namespace "nexus-private-$N" \
    --containerd-plugins-namespace "nexus-private-$N-plugins" \
    >>"$dir/dockerd.log" 2>&1 </dev/null
}

answers() { timeout 10 docker -H "$(host_of "$1")" info >/dev/null 2>&1; }

start() {
  local dir="$1"
  setup "$dir" >/dev/null
  if answers "$dir"; then
    printf 'export DOCKER_HOST=%s\n' "$(host_of "$dir")"
    return 0
  fi
  # setsid: it outlives this script; `stop` finds it by its pidfile.
  setsid "$0" run "$dir" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    if answers "$dir"; then
      printf 'export DOCKER_HOST=%s\n' "$(host_of "$dir")"
      return 0
    fi
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; last lines of $dir/dockerd.log:"
  tail -n 30 "$dir/dockerd.log" >&2 || true
  stop "$dir"
  exit 1
}

load() {
  local dir="$1" image
  shift
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 || die "the machine's engine has no image $image"
  done
  # One stream: layers the images share are copied once.
  [ "$#" = 0 ] || docker save "$@" | docker -H "$(host_of "$dir")" load -q >/dev/null
}

# The pid in DIR's pidfile, only when that process is a dockerd started with DIR (a stale pidfile
# must never make us signal somebody else's process).
our_dockerd() {
  local dir="$1" pid
  pid="$(cat "$dir/docker.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "--data-root $dir/data " || return 1
  printf '%s' "$pid"
}

# Processes whose command line names DIR (containerd and its shims left by a killed dockerd). The
# pattern comes from a file, so grep's own command line does not name DIR.
pids_naming() {
  local dir="$1" pat
  pat="$(mktemp)"
  printf '%s/\n' "$dir" >"$pat"
  grep -slaF -f "$pat" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$" || true
  rm -f "$pat"
}

stop() {
  local dir="$1" pid n=""
  [ -d "$dir" ] || return 0
  if pid="$(our_dockerd "$dir")"; then
    # dockerd stops its containers and its containerd on SIGTERM (15 s shutdown timeout).
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -f "$dir/bridge.env" ]; then
    # shellcheck source=/dev/null
    . "$dir/bridge.env"
    n="$N"
  fi
  # After a killed dockerd: its containerd and shims, then the containers' own processes (all in our
  # cgroup parent), and the userland proxies holding ports for our subnet.
  for pid in $(pids_naming "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$n" ]; then
    local cg
    for cg in /sys/fs/cgroup/*/"nexus-private-$n" /sys/fs/cgroup/"nexus-private-$n"; do
      [ -d "$cg" ] || continue
      find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    for p in $(pgrep -x docker-proxy || true); do
      if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "-container-ip 10.213.$n\."; then kill -KILL "$p" 2>/dev/null || true; fi
    done
  fi
  # Mounts under DIR (overlay, shm, netns) a killed dockerd left, deepest first.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  [ -n "$n" ] && ip link del "nxbr$n" 2>/dev/null || true
  rm -rf "$dir"
}

case "$cmd" in
  setup) setup "$(abs_dir "${1:-}")" ;;
  run) run "$(abs_dir "${1:-}")" ;;
  start) start "$(abs_dir "${1:-$(mktemp -d /tmp/nxd.XXXXXX)}")" ;;
  load) d="$(abs_dir "${1:-}")"; shift; load "$d" "$@" ;;
  stop) [ -d "${1:-}" ] || exit 0; stop "$(abs_dir "$1")" ;;
  *) die "usage: $0 setup|run|start|load|stop DIR [IMAGE…]" ;;
esac
