// How a user reaches a workspace from the host: SSH info and config, host-key rotation, the active
// workspace, and its URL.
import { fingerprint } from "../../ssh/keys.ts";
import { shellQuote } from "../../ssh/quote.ts";
import { clearActiveRef, readActiveRef, writeActiveRef } from "../../store/active-workspace.ts";
import { knownHostsLines, sshConfigBlock, sshConfigIncluded } from "../ssh-files.ts";
import type { SshInfo, WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";
import type { WorkspaceContext } from "./context.ts";
import type { WorkspaceLifecycle } from "./lifecycle.ts";
import { workspaceNames } from "./names.ts";

export class WorkspaceAccess {
  readonly #c: WorkspaceContext;
  readonly #lifecycle: WorkspaceLifecycle;

  constructor(c: WorkspaceContext, lifecycle: WorkspaceLifecycle) {
    this.#c = c;
    this.#lifecycle = lifecycle;
  }

  /** The spec's SSHInfo: where and how to connect, with the pinned host key's fingerprint. */
  sshInfo(ref: string): SshInfo {
    const c = this.#c;
    const r = c.resolve(ref);
    const user = c.d.config.ssh.connection.user;
    const forwardAgent = c.forwardsAgent(r);
    return {
      workspaceId: r.id,
      enabled: r.status === "running",
      host: "localhost",
      port: r.ports.ssh,
      user,
      forwardAgent,
      hostKeyFingerprint: r.hostKeyFingerprint,
      // Works as printed: the generated config pins the host key, names the key, forwards the agent
      // as the workspace says and resumes a paused workspace (a bare 'ssh -A nexus@localhost -p N'
      // fails host-key verification). Plain 'ssh nexus-<name>' once ~/.ssh/config includes it.
      connectionCommand: sshConfigIncluded(c.d.hostUser.home, c.d.paths.sshConfig)
        ? `ssh ${workspaceNames(r.name, r.id).sshAlias}`
        : `ssh -F ${shellQuote(c.d.paths.sshConfig)} ${workspaceNames(r.name, r.id).sshAlias}`,
      configured: sshConfigIncluded(c.d.hostUser.home, c.d.paths.sshConfig),
      rotationPending: r.hostKeyRotationPending === true,
    };
  }

  /** The `Host nexus-<name>` block for this workspace (with its pinned key when asked). */
  sshConfig(ref: string, opts: { includeHostKey?: boolean } = {}): { configContent: string; hostEntryName: string } {
    const c = this.#c;
    const r = c.resolve(ref);
    let configContent = sshConfigBlock({ ...r, forwardAgent: c.forwardsAgent(r) }, c.d.config, c.d.paths, c.sshFileOptions());
    const key = c.hostKeys.publicKey(r.id);
    if (opts.includeHostKey && key) configContent += `# pinned host key (in ${c.d.paths.knownHosts}):\n# ${knownHostsLines(r, key, c.d.docker.publishedHost).trim()}\n`;
    return { configContent, hostEntryName: workspaceNames(r.name, r.id).sshAlias };
  }

  /** Makes a new host key; it takes over (and is pinned, the old one unpinned) at the next start. */
  async rotateKeys(ref: string): Promise<{ workspaceId: string; status: string; message: string; nextFingerprint: string }> {
    const c = this.#c;
    return c.locked(ref, async (r) => {
      const pair = c.hostKeys.makeNext(r.id, workspaceNames(r.name, r.id).keyComment);
      r.hostKeyRotationPending = true;
      r.updatedAt = new Date().toISOString();
      c.d.store.save(r);
      return {
        workspaceId: r.id,
        status: "pending-restart",
        message: `A new host key is ready; it takes effect when the workspace restarts ('nexus restart ${r.name}')`,
        nextFingerprint: fingerprint(pair.publicKey),
      };
    });
  }

  /** Makes a workspace the active one (commands default to it) and resumes it when paused. */
  async switch(ref: string): Promise<{ workspaceId: string; name: string; status: WorkspaceStatus; previous: string | null; durationMs: number }> {
    const c = this.#c;
    const r = c.resolve(ref);
    const previous = this.active();
    const resumed = r.status === "paused" ? await this.#lifecycle.resume(r.id) : undefined;
    writeActiveRef(c.d.paths, r.id);
    return { workspaceId: r.id, name: r.name, status: c.resolve(r.id).status, previous: previous && previous.id !== r.id ? previous.name : null, durationMs: resumed?.durationMs ?? 0 };
  }

  /** The active workspace, if one is set and still exists. */
  active(): WorkspaceRecord | undefined {
    const d = this.#c.d;
    const ref = readActiveRef(d.paths);
    return ref ? (d.store.get(ref) ?? d.store.findByName(ref)) : undefined;
  }

  clearActive(): void {
    clearActiveRef(this.#c.d.paths);
  }
}
