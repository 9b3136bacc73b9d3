// The workspace's container on the engine: made from the pure spec, given its files, started, and
// waited on until SSH answers.
import { EDITOR_ENV, gitIdentityFiles } from "../git-identity.ts";
import { readFileSync } from "node:fs";
import type { KeyPair } from "../../ssh/keys.ts";
import { agentPublicKeys } from "../../ssh/agent.ts";
import { callersAgentSocket } from "../caller.ts";
import { NexusError } from "../../kernel/errors.ts";
import { expandHome } from "../ssh-files.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import type { WorkspaceChannel } from "./channel.ts";
import { READY_TIMEOUT_MS, type WorkspaceContext } from "./context.ts";
import { secretsMountPoint, sshConfigDropIn } from "./secrets.ts";
import { containerSpec, workspaceFiles, workspaceLabels } from "./spec.ts";
import type { ProjectConfig } from "../../config/project.ts";
import { applyContainerOptions } from "../devcontainer.ts";
import { extensionsFiles } from "../ide/extensions.ts";
import { containerUser } from "../container-user.ts";
import type { TarEntry } from "../../docker/tar.ts";

export class WorkspaceContainer {
  readonly #c: WorkspaceContext;
  readonly #channel: WorkspaceChannel;

  constructor(c: WorkspaceContext, channel: WorkspaceChannel) {
    this.#c = c;
    this.#channel = channel;
  }

  labels(r: WorkspaceRecord): Record<string, string> {
    return workspaceLabels(r, this.#c.d.instance);
  }

  /**
   * Creates the container from the record (and devcontainer.json's container options); answers its id.
   * `as`: another name and image (a move to new ports makes the new container beside the old one, from its image).
   */
  create(r: WorkspaceRecord, ncpu: number, project?: ProjectConfig, as?: { name: string; image: string }): Promise<string> {
    const remote = this.#c.isRemote(r);
    const spec = containerSpec(r, this.labels(r), ncpu, this.#c.d.hostUser, remote ? [] : this.#c.git.mounts(r), remote);
    applyContainerOptions(spec, project, r.mountPath);
    if (as) Object.assign(spec, as);
    return this.#c.engine(r).createContainer(spec);
  }

  /** Host key, authorized keys and the workspace env reach the container as files, never as env vars or labels. */
  async installFiles(record: WorkspaceRecord, hostKey: KeyPair, agentSocket?: string, projectEnv: Record<string, string> = {}): Promise<void> {
    await this.#c.engine(record).putFiles(record.containerId!, "/", await this.files(record, hostKey, agentSocket, projectEnv));
    this.filesInstalled(record);
  }

  /** What installFiles writes, rooted at `/` (a checkpoint restore copies them in with the checkpoint's files, in one copy). */
  async files(record: WorkspaceRecord, hostKey: KeyPair, agentSocket?: string, projectEnv: Record<string, string> = {}): Promise<TarEntry[]> {
    const d = this.#c.d;
    const inj = d.config.ssh.injection;
    // The caller's own agent only, never the engine's or a system socket (caller.ts).
    const agent = agentSocket ? callersAgentSocket(agentSocket, d.docker.address) : undefined;
    const agentKeys = inj.enabled && inj.include_agent_keys && agent ? await agentPublicKeys(agent) : [];
    return [
      ...workspaceFiles(hostKey, [d.clientKey.publicKey, ...this.#injectedKeys(), ...agentKeys], { ...EDITOR_ENV, ...projectEnv, ...record.env }),
      ...(await gitIdentityFiles(record.repository?.path ?? record.mountPath)),
      ...extensionsFiles(d.config.ide.extensions, containerUser(d.hostUser)),
      // The secrets tmpfs's mount point, its owner as the tmpfs's: every start mounts it 0700 (secrets.ts).
      secretsMountPoint(d.hostUser.uid, d.hostUser.gid),
      // secrets.ssh.mode mount/auto: ssh tries the keys on the secrets tmpfs (the drop-in holds paths only).
      ...(d.config.secrets.ssh.mode !== "agent" ? [sshConfigDropIn()] : []),
    ];
  }

  /** The container of `record` holds its files (installFiles, or a restore's copy). */
  filesInstalled(record: WorkspaceRecord): void {
    this.#c.supervisorIn.add(`${record.id}:${record.containerId}`);
  }

  /** Public keys from ssh.injection.sources that exist on this machine. */
  #injectedKeys(): string[] {
    const d = this.#c.d;
    const inj = d.config.ssh.injection;
    if (!inj.enabled) return [];
    const keys: string[] = [];
    for (const src of inj.sources) {
      const file = expandHome(src, d.hostUser.home);
      try {
        keys.push(...readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => /^(ssh-|ecdsa-|sk-)/.test(l)));
      } catch {
        // A source that does not exist is skipped: the defaults list keys a user may not have.
      }
    }
    return keys;
  }

  /** Starts the container and waits until SSH answers; a container that exits first is reported with its log tail. */
  async startAndWait(record: WorkspaceRecord, mark?: (phase: string) => void): Promise<void> {
    const d = this.#c.d;
    await this.#c.engine(record).start(record.containerId!);
    mark?.("engine-start");
    try {
      await d.ssh.waitReady(record.id, this.#channel.target(record), READY_TIMEOUT_MS);
    } catch (err) {
      const info = await this.#c.engine(record).inspect(record.containerId!);
      const logs = await this.#c.engine(record).logsTail(record.containerId!, 20);
      const exited = info && !info.running;
      throw new NexusError("WORKSPACE_START_FAILED", exited ? `The container exited (code ${info.exitCode}) before SSH answered` : (err as Error).message, {
        suggestion: "See the container log in the details; 'nexus doctor' checks the setup",
        details: { containerLog: logs.trim().split("\n").slice(-20) },
      });
    }
    mark?.("ssh-ready");
  }
}
