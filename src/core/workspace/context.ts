// What every part of the workspace service shares: its dependencies and the state one daemon keeps
// about its workspaces in memory. Built once by the façade (service.ts) and passed to each part.
import type { NexusConfig } from "../../config/schema.ts";
import { loadProjectConfig, type ProjectConfig } from "../../config/project.ts";
import { readContainerEnv, readProjectChoice } from "../devcontainer.ts";
import type { ContainerEngine } from "../../docker/container-engine.ts";
import type { KeyPair } from "../../ssh/keys.ts";
import type { SshPool } from "../../ssh/pool.ts";
import type { NexusPaths } from "../../store/paths.ts";
import type { WorkspaceStore } from "../../store/workspaces.ts";
import { errors } from "../../kernel/errors.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import { KeyedMutex } from "../mutex.ts";
import type { PortAllocator } from "../ports.ts";
import { writeSshFiles, type SshConfigOptions } from "../ssh-files.ts";
import type { WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { ActivityTracker } from "./activity.ts";
import type { GitSync } from "./git-sync.ts";
import { hostPublicKey } from "./host-keys.ts";
import { WorkspaceLocks } from "./lock.ts";
import type { HostUser } from "./spec.ts";
import type { CheckpointHooks } from "./checkpoint-hooks.ts";

export interface WorkspaceServiceDeps {
  paths: NexusPaths;
  config: NexusConfig;
  store: WorkspaceStore;
  docker: ContainerEngine;
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
  /** One lifecycle operation at a time per workspace. */
  readonly locks = new WorkspaceLocks();
  /** git does not take concurrent worktree changes in one repository: one at a time per repository. */
  readonly repoLocks = new KeyedMutex();
  /** Containers (by workspace and container id) known to hold this build's supervisor. */
  readonly supervisorIn = new Set<string>();
  forwarder: ServicePortForwarder | undefined;
  /** Checkpoints (src/core/checkpoints/): create --from-checkpoint and destroy call into them. */
  checkpoints: CheckpointHooks | undefined;
  /** The workspaces' own git dirs and the commits moving to and from the host; set by the façade (it needs the channel). */
  git!: GitSync;

  constructor(deps: WorkspaceServiceDeps) {
    this.d = deps;
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

  setStatus(r: WorkspaceRecord, status: WorkspaceStatus, error: WorkspaceRecord["error"] = null): void {
    this.locks.changed(r.id);
    r.status = status;
    r.error = error;
    r.updatedAt = new Date().toISOString();
    const last = this.activity.lastActive(r.id);
    if (last && last > r.lastActiveAt) r.lastActiveAt = last;
    this.d.store.save(r);
    this.publishStatus(r);
  }

  publishStatus(r: WorkspaceRecord): void {
    this.d.events.publish({ type: "workspace.status", payload: { workspaceId: r.id, name: r.name, status: r.status } });
  }

  syncSshFiles(): void {
    writeSshFiles(this.d.store.list(), (r) => hostPublicKey(this.d.paths, r), this.d.config, this.d.paths, this.sshFileOptions());
  }

  /** How ~/.nexus/ssh_config reaches workspaces: at the engine's published host, through `nexus ssh-proxy` when the daemon is the binary. */
  sshFileOptions(): SshConfigOptions {
    return { host: this.d.docker.publishedHost, ...(this.d.nexusBinary ? { nexusBinary: this.d.nexusBinary } : {}) };
  }

  /**
   * The project's configuration: devcontainer.json (the one chosen at create), .nexus/workspace.yaml (and
   * lifecycle.json) in the mounted tree, then workspaces.<name> of the user config.
   */
  project(r: WorkspaceRecord): ProjectConfig {
    const dir = this.d.paths.workspaceDir(r.id);
    const chosen = readProjectChoice(dir).devcontainer;
    const containerEnv = readContainerEnv(dir);
    return loadProjectConfig(r.mountPath, {
      userWorkspace: this.d.config.workspaces[r.name],
      userConfigFile: this.d.paths.config,
      userWorkspaceName: r.name,
      ...(chosen ? { devcontainer: chosen } : {}),
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
