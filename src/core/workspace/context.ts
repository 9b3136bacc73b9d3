// What every part of the workspace service shares: its dependencies and the state one daemon keeps
// about its workspaces in memory. Built once by the façade (service.ts) and passed to each part.
import type { NexusConfig } from "../../config/schema.ts";
import { loadProjectConfig, type ProjectConfig } from "../../config/project.ts";
import { readContainerEnv, readProjectChoice } from "../devcontainer.ts";
import type { ContainerEngine, EngineDirectory } from "../../docker/container-engine.ts";
import type { KeyPair } from "../../ssh/keys.ts";
import type { SshPool } from "../../ssh/pool.ts";
import type { NexusPaths } from "../../store/paths.ts";
import type { WorkspaceStore } from "../../store/workspaces.ts";
import { errors, NexusError } from "../../kernel/errors.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import { KeyedMutex } from "../mutex.ts";
import type { PortAllocator } from "../ports.ts";
import { knownHostsLines, writeSshFiles, type SshConfigOptions } from "../ssh-files.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import { join } from "node:path";
import type { WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { ActivityTracker } from "./activity.ts";
import type { GitSync } from "../git-sync/service.ts";
import { HostKeys } from "../../store/host-keys.ts";
import { WorkspaceLocks } from "./lock.ts";
import type { HostUser } from "./spec.ts";
import type { CheckpointHooks } from "./checkpoint-hooks.ts";
import type { WorkspaceSecrets } from "./secrets.ts";

export interface WorkspaceServiceDeps {
  paths: NexusPaths;
  config: NexusConfig;
  store: WorkspaceStore;
  /** The local engine (docker.host). */
  docker: ContainerEngine;
  /** Every configured engine by name, `local` included; without it every workspace is on `docker`. */
  engines?: EngineDirectory;
  ssh: SshPool;
  ports: PortAllocator;
  events: EventBus;
  log: Logger;
  /** Distinguishes this NEXUS_HOME's resources on a shared engine. */
  instance: string;
  clientKey: KeyPair;
  /** The compiled nexus binary, when the daemon is one: ssh_config then connects through `nexus ssh-proxy`. */
  nexusBinary?: string;
  /** uid/gid the container user takes, so files in the worktree keep their owner on the host. */
  hostUser: HostUser;
}

/** Service ports that were not published at create are forwarded by the daemon (forwards.ts). */
export interface ServicePortForwarder {
  ensure(ref: string, containerPort: number): Promise<{ hostPort: number; url: string }>;
  /** The workspace's forwards now (status lists them beside the published ports). */
  forwardsOf(workspaceId: string): Array<{ id: string; containerPort: number; hostPort: number }>;
}

/** Where the daemon reaches a workspace's sshd on this machine (for a remote one: its forwarded port). */
export interface WorkspaceSshEndpoint {
  host: string;
  port: number;
  user: string;
  /** The daemon's client key (its public half is authorized inside). */
  identityFile: string;
  /** A known_hosts file pinning the workspace's host key. */
  knownHosts: string;
  /** The name the host key is listed under there. */
  hostKeyAlias: string;
}

/**
 * File sync of remote workspaces (src/sync/, wired by the daemon). A remote workspace cannot be made
 * without it: its /workspace is a volume on another machine, filled and kept in step by sync.
 */
export interface RemoteSync {
  /** SYNC_PROVIDER_NOT_FOUND (with how to install one) when no provider is on this machine. */
  check(): void;
  /** Starts keeping the worktree and the container's /workspace in step; resolves after the first full pass. */
  attach(r: WorkspaceRecord, endpoint: WorkspaceSshEndpoint, progress: ProgressSink): Promise<void>;
  /** The workspace stops: stop watching, keep the state. */
  suspend(r: WorkspaceRecord): Promise<void>;
  /** The workspace is destroyed: stop and forget. */
  detach(r: WorkspaceRecord): Promise<void>;
}

/** How long start and create wait for SSH to answer. */
export const READY_TIMEOUT_MS = 60_000;
/** How long start/create wait for services to become healthy, unless asked otherwise. */
export const DEFAULT_BRING_UP_SECONDS = 120;

/** The progress sink of callers that do not follow progress. */
export const noProgress: ProgressSink = () => {};

export class WorkspaceContext {
  readonly d: WorkspaceServiceDeps;
  /** Names being created right now: makes "check name, then claim it" atomic. */
  readonly creating = new Set<string>();
  readonly activity = new ActivityTracker();
  /** The workspaces' SSH host keys (the pinned public key kept in memory: every exec asks for it). */
  readonly hostKeys: HostKeys;
  /** One lifecycle operation at a time per workspace. */
  readonly locks = new WorkspaceLocks();
  /** git does not take concurrent worktree changes in one repository: one at a time per repository. */
  readonly repoLocks = new KeyedMutex();
  /** Containers (by workspace and container id) known to hold this build's supervisor. */
  readonly supervisorIn = new Set<string>();
  forwarder: ServicePortForwarder | undefined;
  /** Checkpoints (src/core/checkpoints/): create --from-checkpoint and destroy call into them. */
  checkpoints: CheckpointHooks | undefined;
  /** Engines (by name) that did not answer last time they were asked, and why: their workspaces are shown unreachable. */
  readonly unreachable = new Map<string, string>();
  /** Set while the daemon watches engine events: an engine that gets a workspace is watched from then on. */
  engineInUse: ((engine: string | undefined) => void) | undefined;
  /** File sync for remote workspaces; unset: none is available (remote create fails with SYNC_PROVIDER_NOT_FOUND). */
  remoteSync: RemoteSync | undefined;
  /** status.sync (src/core/sync/service.ts); unset, the bind mount's answer. */
  syncSummary: ((r: WorkspaceRecord) => { provider: string; status: string; lastSyncAt: string | null }) | undefined;
  /** The workspaces' own git dirs and the commits moving to and from the host; set by the façade (it needs the channel). */
  git!: GitSync;
  /** Secrets on each running container's tmpfs (secrets.ts); set by the channel, which they travel over. */
  secrets!: WorkspaceSecrets;

  constructor(deps: WorkspaceServiceDeps) {
    this.d = deps;
    this.hostKeys = new HostKeys(deps.paths);
  }

  /** The engine a workspace runs on (its record's `engine`; none: the local one). */
  engine(r: Pick<WorkspaceRecord, "engine">): ContainerEngine {
    return r.engine && this.d.engines ? this.d.engines.get(r.engine) : this.d.docker;
  }

  /** On another machine's engine: the worktree is not mounted but synced, and nothing of this host is mounted. */
  isRemote(r: Pick<WorkspaceRecord, "engine">): boolean {
    return this.d.engines?.isRemote(r.engine) ?? false;
  }

  /** The sync provider for a remote workspace, or SYNC_PROVIDER_NOT_FOUND (before anything is made). */
  requireRemoteSync(): RemoteSync {
    if (!this.remoteSync) {
      throw new NexusError("SYNC_PROVIDER_NOT_FOUND", "A workspace on a remote engine needs file sync, and this daemon has no sync provider wired in", {
        suggestion: "Create the workspace on the local engine (--engine local), or use a Nexus build with file sync (src/sync/) and unison or mutagen installed",
      });
    }
    this.remoteSync.check();
    return this.remoteSync;
  }

  /** The workspace's sshd as this machine reaches it (through the engine connection's listener when remote). */
  sshEndpoint(r: WorkspaceRecord): WorkspaceSshEndpoint {
    const host = this.d.docker.publishedHost;
    // A known_hosts of its own, pinning this workspace's key now (the shared one is rewritten only
    // once create is done, and sync runs before that).
    const key = this.hostKeys.publicKey(r.id);
    if (!key) throw new NexusError("INTERNAL_ERROR", `Workspace '${r.name}' has no host key yet`);
    const knownHosts = join(this.d.paths.workspaceDir(r.id), "sync_known_hosts");
    writeFileAtomic(knownHosts, knownHostsLines(r, key, host), 0o600);
    return {
      host,
      port: r.ports.ssh,
      user: this.d.config.ssh.connection.user,
      identityFile: this.d.paths.clientKey,
      knownHosts,
      hostKeyAlias: `[${host}]:${r.ports.ssh}`,
    };
  }

  /** A workspace by id or name. */
  resolve(ref: string): WorkspaceRecord {
    const r = this.d.store.get(ref) ?? this.d.store.findByName(ref);
    if (!r) throw errors.workspaceNotFound(ref);
    return r;
  }

  /** Runs `fn` with the workspace's lifecycle lock: operations on one workspace never interleave. */
  exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  /** `fn` under the lock of the workspace `ref` names, given its record as it is once the lock is held. */
  locked<T>(ref: string, fn: (r: WorkspaceRecord) => Promise<T>): Promise<T> {
    const id = this.resolve(ref).id;
    return this.locks.run(id, () => fn(this.resolve(id)));
  }

  /** `locked`, for an operation that may answer its caller before it is done (WorkspaceLocks.runAnswering). */
  lockedAnswering<T>(ref: string, fn: (r: WorkspaceRecord, answerEarly: (err: Error) => void) => Promise<T>): Promise<T> {
    const id = this.resolve(ref).id;
    return this.locks.runAnswering(id, (answerEarly) => fn(this.resolve(id), answerEarly));
  }

  setStatus(r: WorkspaceRecord, status: WorkspaceStatus, error: WorkspaceRecord["error"] = null): void {
    this.#applyStatus(r, status, error);
    this.d.store.save(r);
    this.publishStatus(r);
  }

  /** The workspace is destroyed: nothing kept in memory about it stays (per-workspace maps and sets). */
  forget(id: string): void {
    this.activity.forget(id);
    this.locks.forget(id);
    this.secrets.forget(id);
    this.git.forget(id);
    this.hostKeys.forget(id);
    for (const key of [...this.supervisorIn]) if (key.startsWith(`${id}:`)) this.supervisorIn.delete(key);
  }

  /**
   * setStatus for a status the engine itself tells again after a crash (running, paused, stopped):
   * published and kept in memory now, its file written right after (store.saveSoon), so the answer
   * does not wait for an fsync.
   */
  setStatusSoon(r: WorkspaceRecord, status: WorkspaceStatus): void {
    this.#applyStatus(r, status, null);
    void this.d.store.saveSoon(r);
    this.publishStatus(r);
  }

  #applyStatus(r: WorkspaceRecord, status: WorkspaceStatus, error: WorkspaceRecord["error"]): void {
    this.locks.changed(r.id);
    r.status = status;
    r.error = error;
    r.updatedAt = new Date().toISOString();
    const last = this.activity.lastActive(r.id);
    if (last && last > r.lastActiveAt) r.lastActiveAt = last;
  }

  publishStatus(r: WorkspaceRecord): void {
    this.d.events.publish({ type: "workspace.status", payload: { workspaceId: r.id, name: r.name, status: r.status } });
  }

  syncSshFiles(): void {
    writeSshFiles(this.d.store.list(), (r) => this.hostKeys.publicKey(r.id), this.d.config, this.d.paths, this.sshFileOptions());
  }

  /** How ~/.nexus/ssh_config reaches workspaces: at the engine's published host, through `nexus ssh-proxy` when the daemon is the binary. */
  sshFileOptions(): SshConfigOptions {
    return { host: this.d.docker.publishedHost, ...(this.d.nexusBinary ? { nexusBinary: this.d.nexusBinary } : {}) };
  }

  /**
   * The project's configuration: devcontainer.json (the copy create read), .nexus/workspace.yaml (and
   * lifecycle.json) in the mounted tree, then workspaces.<name> of the user config.
   */
  project(r: WorkspaceRecord): ProjectConfig {
    const dir = this.d.paths.workspaceDir(r.id);
    const choice = readProjectChoice(dir);
    const containerEnv = readContainerEnv(dir);
    return loadProjectConfig(r.mountPath, {
      userWorkspace: this.d.config.workspaces[r.name],
      userConfigFile: this.d.paths.config,
      userWorkspaceName: r.name,
      ...(choice.devcontainer ? { devcontainer: choice.devcontainer } : {}),
      // The devcontainer.json create read, never one written in the worktree since (core/devcontainer.ts).
      ...(choice.devcontainerCopy !== undefined ? { devcontainerCopy: choice.devcontainerCopy } : {}),
      ...(containerEnv ? { containerEnv } : {}),
    });
  }

  /** A project whose configuration does not parse still stops: its hooks are skipped, and the log says why. */
  projectOrNone(r: WorkspaceRecord): ProjectConfig | undefined {
    try {
      return this.project(r);
    } catch (err) {
      this.d.log.warn(`${r.name}: project configuration skipped: ${(err as Error).message}`);
      return undefined;
    }
  }

  forwardsAgent(r: WorkspaceRecord): boolean {
    return r.forwardAgent && this.d.config.ssh.connection.forward_agent;
  }
}
