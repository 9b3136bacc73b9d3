// Every key of config.yaml, what it does, and whether this build honours it. The one table the daemon's
// start-up notice, `nexus doctor`, `nexus config validate` and the README's configuration reference
// (scripts/config-reference.ts, checked by test/unit/config-keys.test.ts) are made from.
//
// Landing a key: set its `honoured` to true (one line), then `bun scripts/config-reference.ts` rewrites
// the README's table.

/** true, or why the key is parsed but does nothing on this backend. */
export type Honoured = true | string;

export interface ConfigKeyDoc {
  /** Dotted path; `<name>` stands for a key the user chooses (a workspace, a secret). */
  key: string;
  does: string;
  honoured: Honoured;
}

// The sync manager (src/sync/) honours them for a workspace on a remote engine; a local workspace's
// worktree is bind-mounted (provider bind), live without sync, so there they change nothing.
const REMOTE = " (for a workspace on a remote engine; a local one is bind-mounted, nothing to sync)";
const SYNC_MUTAGEN = "passed to mutagen only (unison ignores it), for a workspace on a remote engine";

export const CONFIG_KEYS: readonly ConfigKeyDoc[] = [
  { key: "daemon.port", does: "also listen on TCP (REST + WS on this port, gRPC on port+1), token required; off unless set", honoured: true },
  { key: "daemon.host", does: "the address the TCP listener binds (default 127.0.0.1)", honoured: true },
  { key: "daemon.allow_privileged_ports", does: "forwards may take host ports below 1024 (extension; default false)", honoured: true },
  { key: "docker.host", does: "the engine to use (as DOCKER_HOST; default: DOCKER_HOST, then the local socket) (extension)", honoured: true },
  { key: "engines.<name>.host", does: "another Docker engine by name: unix:///path (this machine), tcp://host:port (with tls), ssh://user@host:port (one pooled SSH connection; remote) (extension)", honoured: true },
  { key: "engines.<name>.identity_file", does: "ssh://: the private key to log in with (default: the ssh-agent's keys) (extension)", honoured: true },
  { key: "engines.<name>.known_hosts_file", does: "ssh://: where the engine host's key must be listed (default ~/.ssh/known_hosts); never accepted blindly (extension)", honoured: true },
  { key: "engines.<name>.socket", does: "ssh://: the engine's socket on that host (default /var/run/docker.sock) (extension)", honoured: true },
  { key: "engines.<name>.tls.ca", does: "tcp://: CA certificate file (PEM) (extension)", honoured: true },
  { key: "engines.<name>.tls.cert", does: "tcp://: client certificate file (PEM) (extension)", honoured: true },
  { key: "engines.<name>.tls.key", does: "tcp://: client key file (PEM) (extension)", honoured: true },
  { key: "defaults.engine", does: "the engine new workspaces run on: `local` (docker.host, default) or a name under engines (extension)", honoured: true },
  { key: "defaults.backend", does: "the backend of new workspaces; only `docker` is accepted", honoured: true },
  { key: "defaults.idle_timeout", does: "a workspace with no activity for this long is paused (or stopped); 0 never", honoured: true },
  { key: "defaults.idle_action", does: "what idleness does: `pause` (default) or `stop` (extension)", honoured: true },
  { key: "defaults.resources", does: "CPU and memory of new workspaces: small, medium (default), large, xlarge or {cpu, memory}", honoured: true },
  { key: "defaults.image", does: "the base image new workspaces are built on (Nexus adds its layer: sshd, the user)", honoured: true },
  { key: "defaults.trash_retention", does: "how long a destroyed worktree's leftovers stay in ~/.nexus/trash (extension; default 7d)", honoured: true },
  { key: "defaults.trust_host_commands", does: "devcontainer.json's initializeCommand of a cloned repository runs without --trust (extension)", honoured: true },
  { key: "workspaces.<name>.path", does: "the repository `nexus create <name>` uses when no path is given", honoured: true },
  { key: "workspaces.<name>.backend", does: "the workspace's backend; only `docker`", honoured: true },
  { key: "workspaces.<name>.image", does: "the workspace's base image (as .nexus/workspace.yaml's image; this file wins)", honoured: true },
  { key: "workspaces.<name>.dockerfile", does: "a Dockerfile (relative to the repository) the base image is built from", honoured: true },
  { key: "workspaces.<name>.ports", does: "container ports published at create", honoured: true },
  { key: "workspaces.<name>.env", does: "environment of every command, shell, hook and service in the workspace", honoured: true },
  { key: "workspaces.<name>.resources", does: "CPU and memory (preset or {cpu, memory})", honoured: true },
  { key: "workspaces.<name>.hooks", does: "lifecycle hooks, as in .nexus/workspace.yaml", honoured: true },
  { key: "workspaces.<name>.services", does: "services the supervisor runs, as in .nexus/workspace.yaml", honoured: true },
  { key: "workspaces.<name>.sudo", does: "sudo inside the workspace (lifts no-new-privileges) (extension)", honoured: true },
  { key: "secrets.ssh.mode", does: "how SSH credentials reach workspaces: `agent` (forward the caller's agent), `mount` (the host's private keys on the secrets tmpfs), `auto` (agent when the caller has one, else mount)", honoured: true },
  { key: "secrets.env_files", does: "dotenv files on the host whose variables every workspace gets as secrets (never in the container's configuration)", honoured: true },
  { key: "secrets.named.<name>.source", does: "where the secret <name> comes from: `file`, `keychain` or `command`", honoured: true },
  { key: "secrets.named.<name>.path", does: "source file: the file on the host holding the value (one trailing newline dropped)", honoured: true },
  { key: "secrets.named.<name>.service", does: "source keychain: the item's service (macOS `security`, Linux `secret-tool`)", honoured: true },
  { key: "secrets.named.<name>.account", does: "source keychain: the item's account", honoured: true },
  { key: "secrets.named.<name>.command", does: "source command: a shell command run on the host, as you, whose output is the value (`pass show npm`, `op read …`)", honoured: true },
  { key: "sync.provider", does: "the file sync engine: auto (mutagen if installed, else unison), mutagen or unison" + REMOTE, honoured: true },
  { key: "sync.mode", does: "sync direction and safety (two-way-safe, …)" + REMOTE, honoured: true },
  { key: "sync.exclude", does: "paths left out of sync" + REMOTE, honoured: true },
  { key: "sync.conflict.strategy", does: "who wins a conflict: host-wins, workspace-wins, newer-wins or manual (the other version is kept)" + REMOTE, honoured: true },
  { key: "sync.watch.mode", does: "how changes are noticed: auto (file events) or poll" + REMOTE, honoured: true },
  { key: "sync.watch.pollingInterval", does: "how often changes are polled for" + REMOTE, honoured: true },
  { key: "sync.performance.maxEntryCount", does: "the largest number of files a sync session takes", honoured: SYNC_MUTAGEN },
  { key: "sync.performance.maxStagingSize", does: "the largest staging area of a sync session", honoured: SYNC_MUTAGEN },
  { key: "sync.deployment", does: "where the sync agent runs (hybrid, …)", honoured: SYNC_MUTAGEN },
  { key: "telemetry.enabled", does: "with telemetry.endpoint: also POST the operation history (`nexus trace`) there, in batches, without names, paths or commands; default off", honoured: true },
  { key: "telemetry.endpoint", does: "the http(s) URL the operation history is POSTed to when telemetry.enabled is true", honoured: true },
  { key: "ssh.injection.enabled", does: "put your public keys in each workspace's authorized_keys", honoured: true },
  { key: "ssh.injection.sources", does: "public key files to put there (missing ones are skipped)", honoured: true },
  { key: "ssh.injection.include_agent_keys", does: "also the public keys of the caller's ssh-agent", honoured: true },
  { key: "ssh.port_range.start", does: "first host port for workspaces' SSH and published ports", honoured: true },
  { key: "ssh.port_range.end", does: "last host port of that range", honoured: true },
  { key: "ssh.connection.user", does: "the login user; must be `nexus` (the image's one login user)", honoured: true },
  { key: "ssh.connection.forward_agent", does: "forward the caller's ssh-agent into workspaces (exec, ssh, sessions)", honoured: true },
  { key: "ssh.connection.server_alive_interval", does: "ServerAliveInterval in ~/.nexus/ssh_config", honoured: true },
  { key: "ssh.connection.strict_host_key_checking", does: "StrictHostKeyChecking in ~/.nexus/ssh_config", honoured: true },
  { key: "ssh.connection.user_known_hosts_file", does: "an extra known_hosts file ~/.nexus/ssh_config reads", honoured: true },
  { key: "ssh.client_options", does: "extra ssh options, first in each Host block of ~/.nexus/ssh_config", honoured: true },
  { key: "ide.default", does: "the IDE `nexus open` starts: vscode (default), vscode-insiders, cursor, windsurf, zed or jetbrains (Gateway)", honoured: true },
  { key: "ide.extensions", does: "extensions recommended in every workspace (~/.vscode/extensions.json in the container's home, written at create and start)", honoured: true },
];

/** The table's entry for a dotted key as written in a file (`workspaces.web.image` → `workspaces.<name>.image`). */
export function keyDoc(key: string): ConfigKeyDoc | undefined {
  const parts = key.split(".");
  return CONFIG_KEYS.find((d) => {
    const pattern = d.key.split(".");
    return pattern.length === parts.length && pattern.every((p, i) => p === "<name>" || p === parts[i]);
  });
}

export interface NotHonouredKey {
  key: string;
  why: string;
}

/** Keys set in a configuration (as parsed, before defaults) that this build parses but does not honour, each once. */
export function notHonouredKeys(raw: unknown): NotHonouredKey[] {
  const out: NotHonouredKey[] = [];
  const seen = new Set<string>();
  const walk = (value: unknown, path: string[]) => {
    if (path.length > 0) {
      const doc = keyDoc(path.join("."));
      if (doc) {
        if (doc.honoured !== true && !seen.has(doc.key)) {
          seen.add(doc.key);
          out.push({ key: path.join("."), why: doc.honoured });
        }
        return;
      }
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, child] of Object.entries(value)) walk(child, [...path, k]);
    }
  };
  walk(raw, []);
  return out;
}

/** The README's configuration reference: one row per key (scripts/config-reference.ts writes it between its markers). */
export function configReferenceMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = CONFIG_KEYS.map((k) => `| \`${k.key}\` | ${cell(k.does)} | ${k.honoured === true ? "yes" : `no: ${cell(k.honoured)}`} |`);
  return ["| key | what it does | honoured |", "|---|---|---|", ...rows].join("\n");
}

export const REFERENCE_START = "<!-- config-reference:start (generated from src/config/keys.ts by scripts/config-reference.ts) -->";
export const REFERENCE_END = "<!-- config-reference:end -->";

/** `readme` with its reference block replaced by the table's current text. */
export function withConfigReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`README has no ${REFERENCE_START} … ${REFERENCE_END} block`);
  return `${readme.slice(0, start + REFERENCE_START.length)}\n${configReferenceMarkdown()}\n${readme.slice(end)}`;
}
