// The files that let unison, inotifywait and mutagen reach a container's sshd as the daemon does:
// the workspace's key, its pinned host key (never accepted blindly), one multiplexed connection.
import { chmodSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SyncEndpoint } from "./types.ts";

/** The Host alias a session's ssh_config names. */
export const SSH_ALIAS = "nexus-sync";

/** A unix socket path must stay under ~104 bytes: control sockets go to a short folder. */
export function controlPath(sessionDir: string): string {
  const short = join(sessionDir, "cm");
  if (short.length <= 80) return short;
  return join(tmpdir(), `nexus-sync-${createHash("sha256").update(sessionDir).digest("hex").slice(0, 16)}`);
}

const q = (s: string) => `"${s.replace(/(["\\])/g, "\\$1")}"`;

export function sshConfigText(endpoint: SyncEndpoint, sessionDir: string): string {
  return [
    `Host ${SSH_ALIAS}`,
    `  HostName ${endpoint.host}`,
    `  Port ${endpoint.port}`,
    `  User ${endpoint.user}`,
    `  IdentityFile ${q(endpoint.identityFile)}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${q(endpoint.knownHosts)}`,
    ...(endpoint.hostKeyAlias ? [`  HostKeyAlias ${endpoint.hostKeyAlias}`] : []),
    "  StrictHostKeyChecking yes",
    "  BatchMode yes",
    "  ForwardAgent no",
    "  ForwardX11 no",
    "  ServerAliveInterval 15",
    "  ServerAliveCountMax 3",
    // One connection for every pass and the watcher: a new ssh handshake per pass would cost most of the lag.
    "  ControlMaster auto",
    `  ControlPath ${q(controlPath(sessionDir))}`,
    "  ControlPersist 60",
    "  LogLevel ERROR",
    "",
  ].join("\n");
}

/** The ssh command of a session: the system's ssh reading only this session's config (-F). */
export function sshWrapperText(configPath: string): string {
  return `#!/bin/sh\nexec ssh -F '${configPath.replace(/'/g, `'\\''`)}' "$@"\n`;
}

/** Writes ssh_config and the `ssh` wrapper into the session's folder; returns the wrapper's path. */
export function writeSshFiles(sessionDir: string, endpoint: SyncEndpoint): { config: string; ssh: string } {
  const config = join(sessionDir, "ssh_config");
  const ssh = join(sessionDir, "ssh");
  writeFileSync(config, sshConfigText(endpoint, sessionDir), { mode: 0o600 });
  writeFileSync(ssh, sshWrapperText(config), { mode: 0o700 });
  chmodSync(ssh, 0o700);
  return { config, ssh };
}
