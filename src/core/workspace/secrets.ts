// Secrets in a running workspace (config.yaml's `secrets:`): read on the host, written as one file on a
// tmpfs inside the container (/run/nexus/secrets/env, mode 0600, owned by the workspace user), which
// sshd's PAM session reads (pam_env, image-context.ts) for every login: exec, console, sessions, hooks
// and services all arrive over SSH. Never in the container's configuration (Env, labels), never in its
// filesystem layers: `docker inspect`, `docker commit` and a checkpoint's image do not hold them.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TarEntry } from "../../docker/tar.ts";
import { NexusError } from "../../kernel/errors.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import { hasSecrets, readSecrets } from "../../secrets/read.ts";
import type { SshTarget } from "../../ssh/pool.ts";
import { environmentFile } from "../environment-file.ts";
import type { WorkspaceContext } from "./context.ts";

export const SECRETS_DIR = "/run/nexus/secrets";
export const SECRETS_FILE = `${SECRETS_DIR}/env`;
/** secrets.ssh.mode mount/auto: the host's private keys, on the same tmpfs. */
export const SSH_KEYS_DIR = `${SECRETS_DIR}/ssh`;
const KEY_NAMES = ["id_ed25519", "id_ecdsa", "id_rsa"] as const;
/** ssh's own defaults (a config that names an IdentityFile drops them), then the mounted keys. */
const DEFAULT_IDENTITIES = ["id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"];

/** What was read on the host: variables, and private keys when secrets.ssh.mode mounts them. */
export interface SecretSet {
  env: Record<string, string>;
  sshKeys: Array<{ name: string; content: string }>;
}

/** ssh and git in the workspace try the mounted keys (paths only: the drop-in holds no secret). */
export function sshConfigDropIn(): TarEntry {
  const lines = ["# Written by Nexus (secrets.ssh.mode): the host's keys on the secrets tmpfs, after ssh's defaults.", "Host *"];
  for (const n of DEFAULT_IDENTITIES) lines.push(`  IdentityFile ~/.ssh/${n}`);
  for (const n of KEY_NAMES) lines.push(`  IdentityFile ${SSH_KEYS_DIR}/${n}`);
  return { name: "etc/ssh/ssh_config.d/nexus-secrets.conf", content: lines.join("\n") + "\n", mode: 0o644 };
}

/** The container's tmpfs for secrets: in memory only, the workspace user's alone. */
export function secretsTmpfs(uid: number, gid: number): Record<string, string> {
  return { [SECRETS_DIR]: `rw,nosuid,nodev,noexec,size=1m,mode=0700,uid=${uid},gid=${gid}` };
}

/**
 * The folder the tmpfs is mounted on, in the container's own layer, 0700 and the workspace user's.
 * Why: runc (1.1 at least) gives a tmpfs the mode of the folder beneath it when that folder exists,
 * whatever `mode=` says; at the first start it does not exist yet (runc makes it, 0755), so every later
 * start (nexus restart, docker restart, an engine restart) found the tmpfs 0755. With this folder in
 * place before the first start, the engine itself makes it 0700 at every start. Written with the
 * container's files at each start, so a container made before this is put right at its next one.
 */
export function secretsMountPoint(uid: number, gid: number): TarEntry {
  return { name: SECRETS_DIR.slice(1), type: "dir", mode: 0o700, uid, gid };
}

/** The file pam_env reads; a value with a line break cannot travel as an environment variable. */
export function secretsFileText(values: Record<string, string>): string {
  for (const [name, value] of Object.entries(values)) {
    if (/[\r\n]/.test(value)) {
      throw new NexusError("INVALID_ARGUMENT", `Secret ${name} holds a line break, which an environment variable in the workspace cannot carry`, {
        suggestion: "Keep the secret on one line (a multi-line value such as a key belongs in a file the workspace reads)",
        details: { secret: name },
      });
    }
  }
  return environmentFile(values);
}

/** Written over SSH as the workspace user, only onto the tmpfs (a container made before secrets has none: refused, not written to its disk). */
export function writeScript(dir: string, file: string): string {
  return (
    `grep -qs ' ${SECRETS_DIR} tmpfs ' /proc/mounts || { echo "no tmpfs at ${SECRETS_DIR}" >&2; exit 3; }; ` +
    // A container made before secretsMountPoint, started by the engine alone, has it 0755: put right before writing.
    `chmod 0700 ${SECRETS_DIR} && umask 077 && mkdir -p ${dir} && cat > ${dir}/.new && mv -f ${dir}/.new ${dir}/${file}`
  );
}

export class WorkspaceSecrets {
  readonly #c: WorkspaceContext;
  readonly #target: (r: WorkspaceRecord) => SshTarget;
  /** Containers (workspace id : container id) whose tmpfs holds the secrets of this daemon's run. */
  readonly #written = new Set<string>();
  readonly #pending = new Map<string, Promise<void>>();

  constructor(c: WorkspaceContext, target: (r: WorkspaceRecord) => SshTarget) {
    this.#c = c;
    this.#target = target;
  }

  get configured(): boolean {
    return hasSecrets(this.#c.d.config.secrets) || this.#c.d.config.secrets.ssh.mode !== "agent";
  }

  /** Reads every secret on the host now; an unreadable one is an error naming it. Undefined when none is configured. */
  async read(): Promise<SecretSet | undefined> {
    if (!this.configured) return undefined;
    const { secrets } = this.#c.d.config;
    const env = await readSecrets(secrets, { home: this.#c.d.hostUser.home });
    secretsFileText(env); // a line break is refused before anything starts
    const sshKeys: SecretSet["sshKeys"] = [];
    if (secrets.ssh.mode !== "agent") {
      for (const name of KEY_NAMES) {
        const content = await readFile(join(this.#c.d.hostUser.home, ".ssh", name), "utf8").catch(() => undefined);
        if (content) sshKeys.push({ name, content });
      }
      if (secrets.ssh.mode === "mount" && sshKeys.length === 0) {
        throw new NexusError("INVALID_ARGUMENT", `secrets.ssh.mode is mount, but ${join(this.#c.d.hostUser.home, ".ssh")} holds none of ${KEY_NAMES.join(", ")} (readable by this user)`, {
          suggestion: "Create a key (ssh-keygen -t ed25519), or set secrets.ssh.mode to agent",
          details: { secret: "secrets.ssh.mode" },
        });
      }
    }
    return { env, sshKeys };
  }

  /**
   * Writes the secrets into the running container, then renews the daemon's connections so new
   * logins see them. `agent`: whether the caller's agent is forwarded (auto mounts keys only without one).
   */
  async install(r: WorkspaceRecord, set?: SecretSet, agent = false): Promise<void> {
    if (!this.configured) return;
    const v = set ?? (await this.read())!;
    await this.#write(r, writeScript(SECRETS_DIR, "env"), secretsFileText(v.env));
    const mount = this.#c.d.config.secrets.ssh.mode === "mount" || (this.#c.d.config.secrets.ssh.mode === "auto" && !agent);
    if (mount) for (const k of v.sshKeys) await this.#write(r, writeScript(SSH_KEYS_DIR, k.name), k.content);
    // PAM reads the file when a connection logs in: connections opened before it was written are retired.
    this.#c.d.ssh.renew(r.id);
    this.#written.add(`${r.id}:${r.containerId}`);
  }

  /** One file onto the tmpfs, its content on stdin (never on a command line). */
  async #write(r: WorkspaceRecord, script: string, content: string): Promise<void> {
    const stderr: Buffer[] = [];
    const exit = await this.#c.d.ssh.exec(r.id, this.#target(r), script, { stdin: new TextEncoder().encode(content), onStderr: (b) => stderr.push(b) });
    if (exit.exitCode !== 0) {
      const why = Buffer.concat(stderr).toString().trim();
      throw new NexusError("CONTAINER_ERROR", `The secrets could not be written into workspace '${r.name}': ${why || `exit ${exit.exitCode}`}`, {
        suggestion: exit.exitCode === 3 ? `Its container was made before secrets were supported: re-create it (nexus destroy ${r.name} && nexus create ${r.name})` : "See 'nexus doctor'",
        details: { workspaceName: r.name },
      });
    }
  }

  /** Before a command, hook, service or session: the secrets are in this container (after a daemon or engine restart, read and written again). */
  async ensure(r: WorkspaceRecord): Promise<void> {
    if (!this.configured) return;
    const key = `${r.id}:${r.containerId}`;
    if (this.#written.has(key)) return;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.install(r).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    await p;
  }

  /** The container stopped or started without the daemon: its tmpfs is empty. */
  forget(workspaceId: string): void {
    for (const key of [...this.#written]) if (key.startsWith(`${workspaceId}:`)) this.#written.delete(key);
  }
}
