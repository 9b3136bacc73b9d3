// The workspace image's build context, held inside the binary so no file on disk is needed.
// Changing any of these changes the context hash, and the daemon rebuilds the image.

export const DOCKERFILE = `ARG BASE_IMAGE=debian:bookworm-slim
FROM \${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8
# No docs, man pages or translations (dpkg path-exclude), then one layer for all of apt: no
# recommended packages, no fsync per unpacked file while building (force-unsafe-io, this install
# only), no apt cache or lists left behind. unison + inotify-tools: file sync with a remote engine (src/sync/).
COPY nexus-nodoc /etc/dpkg/dpkg.cfg.d/nexus-nodoc
RUN apt-get update \\
 && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io \\
      openssh-server git sudo bash curl ca-certificates python3 procps less tmux locales rsync vim-tiny \\
      unison inotify-tools \\
 && sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen && locale-gen \\
 && printf 'LANG=en_US.UTF-8\\nLC_ALL=en_US.UTF-8\\n' > /etc/default/locale \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /etc/ssh/ssh_host_* \\
 && useradd --create-home --shell /bin/bash --uid 1000 --user-group nexus \\
 && printf 'nexus ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/nexus && chmod 0440 /etc/sudoers.d/nexus \\
 && mkdir -p /run/sshd /etc/nexus/ssh /workspace /home/nexus/.ssh && chown nexus:nexus /workspace /home/nexus/.ssh \\
 && chmod 0700 /home/nexus/.ssh \\
 && git config --system --add safe.directory '*' \\
 && sed -i -e 's/^session\\s\\+required\\s\\+pam_loginuid.so/session optional pam_loginuid.so/' \\
      -e '/pam_motd.so/d' -e '/pam_mail.so/d' /etc/pam.d/sshd \\
 && printf 'session optional pam_env.so readenv=1 envfile=/run/nexus/secrets/env\\n' >> /etc/pam.d/sshd
# The last line above: every SSH login reads the workspace's secrets from their tmpfs (core/workspace/secrets.ts).
# COPY keeps each file's mode from the context (IMAGE_CONTEXT_FILES below).
COPY sshd_config /etc/ssh/sshd_config
COPY nexus-init /usr/local/sbin/nexus-init
COPY nexus-agent.sh /etc/profile.d/nexus-agent.sh
# A small editor, so 'git commit' without -m opens one.
ENV EDITOR=vi VISUAL=vi
WORKDIR /workspace
EXPOSE 22
ENTRYPOINT ["/usr/local/sbin/nexus-init"]
`;

// What dpkg leaves out of the image: docs (but licences), man and info pages, translations.
export const DPKG_NODOC = `path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/groff/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
`;

// Public keys only, no root (nexus-init lets a uid-0 nexus in, key only), agent forwarding allowed, and many sessions per connection: the daemon
// multiplexes every exec over one pooled connection, and OpenSSH's default of 10 would fail the 11th.
export const SSHD_CONFIG = `Port 22
HostKey /etc/nexus/ssh/ssh_host_ed25519_key
AuthorizedKeysFile /etc/nexus/ssh/authorized_keys .ssh/authorized_keys
PermitRootLogin no
AllowUsers nexus
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM yes
AllowAgentForwarding yes
AllowTcpForwarding yes
StreamLocalBindUnlink yes
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxSessions 1000
MaxStartups 200:30:400
ClientAliveInterval 30
AcceptEnv LANG LC_* NEXUS_*
Subsystem sftp /usr/lib/openssh/sftp-server
`;

// Runs as root at every container start: gives the nexus user the host user's uid/gid (so files in
// the bind-mounted worktree keep their owner), then runs sshd in the foreground. Installs nothing.
// A root host makes nexus uid 0 (src/core/container-user.ts): sshd then lets it log in with a key only.
export const NEXUS_INIT = `#!/bin/sh
set -eu
uid="\${NEXUS_UID:-1000}"
gid="\${NEXUS_GID:-1000}"
if [ "$(id -g nexus)" != "$gid" ]; then groupmod --non-unique --gid "$gid" nexus; fi
if [ "$(id -u nexus)" != "$uid" ]; then usermod --non-unique --uid "$uid" --gid "$gid" nexus; fi
chown nexus:nexus /home/nexus
# A checkpoint restore leaves the paths the checkpoint had deleted (NUL-separated): applied once.
if [ -f /etc/nexus/restore-deletions ]; then
  xargs -0 -r rm -rf -- < /etc/nexus/restore-deletions || true
  rm -f /etc/nexus/restore-deletions
fi
if [ ! -s /etc/nexus/ssh/ssh_host_ed25519_key ]; then
  echo "nexus-init: no host key at /etc/nexus/ssh/ssh_host_ed25519_key (the daemon writes it before start)" >&2
  exit 1
fi
chmod 0600 /etc/nexus/ssh/ssh_host_ed25519_key
root_login=no
if [ "$uid" = 0 ]; then root_login=prohibit-password; fi
exec /usr/sbin/sshd -D -e -o PermitRootLogin="$root_login"
`;

// Login shells: ~/.ssh/agent.sock follows the newest forwarded agent, and SSH_AUTH_SOCK points at it,
// so editors and long-lived shells keep working after the connection that brought the agent ends.
export const AGENT_PROFILE = `if [ -n "\${SSH_AUTH_SOCK:-}" ] && [ -S "\$SSH_AUTH_SOCK" ] && [ "\$SSH_AUTH_SOCK" != "\$HOME/.ssh/agent.sock" ]; then
  mkdir -p "\$HOME/.ssh" && ln -sfn "\$SSH_AUTH_SOCK" "\$HOME/.ssh/agent.sock" && export SSH_AUTH_SOCK="\$HOME/.ssh/agent.sock"
fi
`;

export const IMAGE_CONTEXT_FILES: Readonly<Record<string, { content: string; mode: number }>> = {
  Dockerfile: { content: DOCKERFILE, mode: 0o644 },
  "nexus-nodoc": { content: DPKG_NODOC, mode: 0o644 },
  sshd_config: { content: SSHD_CONFIG, mode: 0o644 },
  "nexus-init": { content: NEXUS_INIT, mode: 0o755 },
  "nexus-agent.sh": { content: AGENT_PROFILE, mode: 0o644 },
};
