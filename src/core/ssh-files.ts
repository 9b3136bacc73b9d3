import { readFileSync } from "node:fs";
import type { NexusConfig } from "../config/schema.ts";
import type { NexusPaths } from "../store/paths.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { shellLine } from "../ssh/quote.ts";
import type { WorkspaceRecord } from "./types.ts";
import { sshAlias } from "./workspace/names.ts";

/** The workspace's `Host` alias (names.ts derives every workspace name). */
export function hostAlias(name: string): string {
  return sshAlias(name);
}

/**
 * known_hosts lines for a workspace: its alias and its published address (`host`, from the engine),
 * all pinned to its own host key.
 */
export function knownHostsLines(r: Pick<WorkspaceRecord, "name" | "ports">, hostPublicKey: string, host: string): string {
  const key = hostPublicKey.split(/\s+/).slice(0, 2).join(" ");
  return `${hostAlias(r.name)},[${host}]:${r.ports.ssh},[localhost]:${r.ports.ssh} ${key}\n`;
}

/** Whether ~/.ssh/config includes the daemon's ssh_config (`nexus ssh-config install`). */
export function sshConfigIncluded(home: string, sshConfigPath: string): boolean {
  try {
    return includeLineIn(readFileSync(`${home}/.ssh/config`, "utf8"), sshConfigPath, home);
  } catch {
    return false;
  }
}

export function includeLineIn(text: string, sshConfigPath: string, home: string): boolean {
  return text.split("\n").some((l) => {
    const m = /^\s*Include\s+"?([^"]+?)"?\s*$/i.exec(l);
    return !!m && expandHome(m[1]!, home) === sshConfigPath;
  });
}

export function expandHome(path: string, home: string): string {
  return path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
}

/** ssh.connection.user_known_hosts_file's default: the daemon's own known_hosts (in NEXUS_HOME). */
const DEFAULT_USER_KNOWN_HOSTS_FILE = "~/.nexus/known_hosts";

/** One `Host nexus-<name>` block of the generated ssh_config. */
export interface SshConfigOptions {
  /** Where the engine publishes the workspace's SSH port (ContainerEngine.publishedHost). */
  host: string;
  identityFile?: string;
  /** The nexus binary: ssh connects through `nexus ssh-proxy`, which resumes a paused workspace first. */
  nexusBinary?: string;
}

/** ProxyCommand text: run by the user's shell, after ssh's own %-expansion (so % is doubled). */
export function proxyCommand(nexusBinary: string, paths: NexusPaths, r: Pick<WorkspaceRecord, "name" | "ports">): string {
  const words = ["env", `NEXUS_HOME=${paths.home}`, nexusBinary, "ssh-proxy", r.name, String(r.ports.ssh)];
  return shellLine(words).replace(/%/g, "%%");
}

export function sshConfigBlock(r: Pick<WorkspaceRecord, "name" | "ports" | "forwardAgent">, config: NexusConfig, paths: NexusPaths, opts: SshConfigOptions): string {
  const c = config.ssh.connection;
  // The daemon's pins come first (ssh writes keys it accepts to the first file); a user_known_hosts_file of one's own is read too.
  const knownHosts = [paths.knownHosts, ...(c.user_known_hosts_file === DEFAULT_USER_KNOWN_HOSTS_FILE || c.user_known_hosts_file === paths.knownHosts ? [] : [c.user_known_hosts_file])];
  const lines = [
    `Host ${hostAlias(r.name)}`,
    // ssh takes the first value it reads for an option: the user's client_options go first, so they win.
    ...config.ssh.client_options.map((o) => `  ${o.replace("=", " ")}`),
    `  HostName ${opts.host}`,
    `  Port ${r.ports.ssh}`,
    `  User ${c.user}`,
    `  ForwardAgent ${r.forwardAgent && c.forward_agent ? "yes" : "no"}`,
    `  HostKeyAlias ${hostAlias(r.name)}`,
    `  StrictHostKeyChecking ${c.strict_host_key_checking}`,
    `  UserKnownHostsFile ${knownHosts.map((f) => `"${f}"`).join(" ")}`,
    `  ServerAliveInterval ${c.server_alive_interval}`,
    `  IdentityFile "${opts.identityFile ?? paths.clientKey}"`,
    ...(opts.nexusBinary ? [`  ProxyCommand ${proxyCommand(opts.nexusBinary, paths, r)}`] : []),
  ];
  return lines.join("\n") + "\n";
}

/** Rewrites ~/.nexus/known_hosts and ~/.nexus/ssh_config from the records: the daemon keeps them current. */
export function writeSshFiles(records: readonly WorkspaceRecord[], hostKeys: (r: WorkspaceRecord) => string | undefined, config: NexusConfig, paths: NexusPaths, opts: SshConfigOptions): void {
  let known = "";
  let cfg = "# Written by the nexus daemon; changes are overwritten. Include it from ~/.ssh/config.\n\n";
  for (const r of records) {
    const key = hostKeys(r);
    if (!key || r.status === "destroying" || r.status === "destroyed") continue;
    known += knownHostsLines(r, key, opts.host);
    cfg += sshConfigBlock(r, config, paths, opts) + "\n";
  }
  writeFileAtomic(paths.knownHosts, known, 0o600);
  writeFileAtomic(paths.sshConfig, cfg, 0o600);
}
