#!/usr/bin/env bash
# A stand-in for another machine's Docker engine, reached over SSH, for tests and benches on a machine
# that has no second host: a private dockerd (private-dockerd.sh: its own data-root, exec-root,
# pidfile, socket and bridge) plus an sshd that reaches its socket, listening on 127.0.0.1 only.
# The sshd runs in a container on the machine's engine with --network host (so forwards to the
# private engine's ports, published on this loopback, work as on a real remote) and the private
# engine's folder mounted at the same path; logins as root with a key made here, its host key
# written to a known_hosts file here. Nothing else of the machine's engine is touched.
#
#   remote-engine.sh start DIR   start both; prints shell lines (REMOTE_ENGINE_HOST=ssh://root@127.0.0.1:PORT,
#                                REMOTE_ENGINE_IDENTITY, REMOTE_ENGINE_KNOWN_HOSTS, REMOTE_ENGINE_SOCKET,
#                                REMOTE_ENGINE_DOCKER_HOST) and a config.yaml snippet in DIR/engines.yaml
#   remote-engine.sh stop DIR    remove the sshd container and stop the private engine (DIR removed)
#
# Needs root (dockerd does) and an image with sshd on the machine's engine (REMOTE_ENGINE_SSHD_IMAGE,
# default nexus-workspace:latest: scripts/docker-up.sh or any workspace create makes it).
# REMOTE_ENGINE_SSHD_LOG_LEVEL (default INFO): sshd's LogLevel; its log is `docker logs $(cat DIR/sshd.name)`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
die() { printf 'remote-engine: %s\n' "$*" >&2; exit 1; }

cmd="${1:-}"
dir="${2:-}"
[ -n "$dir" ] || die "usage: $0 start|stop DIR"
image="${REMOTE_ENGINE_SSHD_IMAGE:-nexus-workspace:latest}"
log_level="${REMOTE_ENGINE_SSHD_LOG_LEVEL:-INFO}"
[[ "$log_level" =~ ^[A-Z0-9]+$ ]] || die "REMOTE_ENGINE_SSHD_LOG_LEVEL: expected an sshd LogLevel (INFO, DEBUG2, ...)"

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { printf '%s' "$p"; return 0; }
  done
  die "no free port"
}

start() {
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  docker image inspect "$image" >/dev/null 2>&1 || die "the machine's engine has no image $image (set REMOTE_ENGINE_SSHD_IMAGE)"
  "$here/private-dockerd.sh" start "$dir/engine" >/dev/null
  mkdir -p "$dir/ssh"
  chmod 700 "$dir/ssh"
  [ -f "$dir/ssh/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C remote-engine-host -f "$dir/ssh/host_key"
  [ -f "$dir/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C remote-engine-client -f "$dir/ssh/id_ed25519"
  cp "$dir/ssh/id_ed25519.pub" "$dir/ssh/authorized_keys"
  local port name
  port="$(free_port)"
  name="nexus-remote-sshd-$(basename "$dir" | tr -c 'a-zA-Z0-9_.-' '-')"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --label dev.nexus.test=remote-engine --network host \
    -v "$dir/engine:$dir/engine" -v "$dir/ssh:/etc/remote-ssh:ro" -v "$(command -v docker):/usr/local/bin/docker:ro" \
    --entrypoint /bin/sh "$image" -c "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f /dev/null -p $port \
      -o ListenAddress=127.0.0.1 -o HostKey=/etc/remote-ssh/host_key -o AuthorizedKeysFile=/etc/remote-ssh/authorized_keys \
      -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
      -o AllowTcpForwarding=yes -o AllowStreamLocalForwarding=yes -o StrictModes=no -o UsePAM=no -o MaxSessions=100 -o MaxStartups=100 \
      -o Subsystem='sftp internal-sftp' -o LogLevel=$log_level" >/dev/null
  printf '%s\n' "$name" >"$dir/sshd.name"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1-2 "$dir/ssh/host_key.pub")" >"$dir/ssh/known_hosts"
  for _ in $(seq 1 100); do
    if ssh -q -o BatchMode=yes -o UserKnownHostsFile="$dir/ssh/known_hosts" -o StrictHostKeyChecking=yes -i "$dir/ssh/id_ed25519" -p "$port" root@127.0.0.1 true 2>/dev/null; then
      cat >"$dir/engines.yaml" <<YAML
engines:
  remote:
    host: "ssh://root@127.0.0.1:$port"
    identity_file: $dir/ssh/id_ed25519
    known_hosts_file: $dir/ssh/known_hosts
    socket: $dir/engine/docker.sock
YAML
      printf 'REMOTE_ENGINE_HOST=ssh://root@127.0.0.1:%s\nREMOTE_ENGINE_PORT=%s\nREMOTE_ENGINE_IDENTITY=%s\nREMOTE_ENGINE_KNOWN_HOSTS=%s\nREMOTE_ENGINE_SOCKET=%s\nREMOTE_ENGINE_DOCKER_HOST=unix://%s\n' \
        "$port" "$port" "$dir/ssh/id_ed25519" "$dir/ssh/known_hosts" "$dir/engine/docker.sock" "$dir/engine/docker.sock"
      return 0
    fi
    sleep 0.2
  done
  docker logs "$name" >&2 || true
  stop
  die "sshd did not answer on 127.0.0.1:$port"
}

stop() {
  [ -d "$dir" ] || return 0
  dir="$(cd "$dir" && pwd -P)"
  if [ -f "$dir/sshd.name" ]; then
    local name
    name="$(cat "$dir/sshd.name")"
    # Only our own container: it carries our label.
    if [ "$(docker inspect -f '{{index .Config.Labels "dev.nexus.test"}}' "$name" 2>/dev/null)" = remote-engine ]; then docker rm -f "$name" >/dev/null 2>&1 || true; fi
  fi
  "$here/private-dockerd.sh" stop "$dir/engine" || true
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
