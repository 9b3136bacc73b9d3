import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { ContainerCreateOptions } from "dockerode";
import type { NexusConfig } from "../config/schema.ts";
import { RESOURCE_PRESETS } from "../config/schema.ts";
import { parseSize } from "../config/units.ts";
import { DEFAULT_BASE_IMAGE, DEFAULT_WORKSPACE_IMAGE, type DockerEngine } from "../docker/engine.ts";
import { LABELS } from "../docker/labels.ts";
import type { TarEntry } from "../docker/tar.ts";
import * as git from "../git/git.ts";
import { buildCommandLine } from "../ssh/quote.ts";
import { fingerprint, generateEd25519, type KeyPair } from "../ssh/keys.ts";
import type { SshPool, SshTarget, ExecExit } from "../ssh/pool.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import type { NexusPaths } from "../store/paths.ts";
import type { WorkspaceStore } from "../store/workspaces.ts";
import { errors, NexusError } from "./errors.ts";
import type { EventBus } from "./events.ts";
import type { CreateWorkspaceInput, ExecInput, ListWorkspacesInput, UpdateWorkspaceInput } from "./inputs.ts";
import type { Logger } from "./log.ts";
import { KeyedMutex } from "./mutex.ts";
import { collectOutput, TailBuffer } from "./output-cap.ts";
import type { PortAllocator } from "./ports.ts";
import { expandHome, hostAlias, knownHostsLines, sshConfigBlock, sshConfigIncluded, SSH_HOST, writeSshFiles } from "./ssh-files.ts";
import { agentPublicKeys } from "../ssh/agent.ts";
import { HOOK_NAMES, loadProjectConfig, type HookName, type ProjectConfig, type ServiceDefinition } from "../config/project.ts";
import { hookCommandLine, hookFailed, runHookSteps, type HookResult } from "./hooks.ts";
import { describeProbe, isReady, serviceLogs, serviceStates, sinceTimestamp, startService, startServices, stopService, stopServices, waitReady, type LogEntry, type SupervisorState, type WorkspaceShell } from "./services.ts";
import { SUPERVISOR_PATH, SUPERVISOR_PY } from "./supervisor.ts";
import { listeningOn, parseProcNetTcp } from "./listeners.ts";
import {
  toView,
  type PortMapping,
  type ProgressSink,
  type IdleView,
  type ResourceLimits,
  type ResumeResult,
  type BringUpOptions,
  type ServiceHealthView,
  type ServiceView,
  type StartResult,
  type SshInfo,
  type WorkspaceRecord,
  type WorkspaceStatus,
  type WorkspaceStatusView,
  type WorkspaceView,
} from "./types.ts";

export interface WorkspaceServiceDeps {
  paths: NexusPaths;
  config: NexusConfig;
  store: WorkspaceStore;
  docker: DockerEngine;
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
  hostUser: { uid: number; gid: number; home: string };
}

const WORKSPACE_DIR = "/workspace";
const READY_TIMEOUT_MS = 60_000;
/** How long start/create wait for services to become healthy, unless asked otherwise. */
const DEFAULT_BRING_UP_SECONDS = 120;

/** Service ports that were not published at create are forwarded by the daemon (forwards.ts). */
export interface ServicePortForwarder {
  ensure(ref: string, containerPort: number): Promise<{ hostPort: number; url: string }>;
  /** The workspace's forwards now (status lists them beside the published ports). */
  forwardsOf(workspaceId: string): Array<{ id: string; containerPort: number; hostPort: number }>;
}
const noProgress: ProgressSink = () => {};

/** Workspace operations: the only place with behaviour. Every transport calls these. */
export class WorkspaceService {
  readonly #d: WorkspaceServiceDeps;
  /** Names being created right now: makes "check name, then claim it" atomic. */
  readonly #creating = new Set<string>();
  /** lastActiveAt kept in memory on the exec hot path; written with the next record save. */
  readonly #lastActive = new Map<string, string>();
  /** Commands running now, per workspace: a workspace with one is never idle. */
  readonly #running = new Map<string, number>();
  /** One lifecycle operation at a time per workspace (start, stop, pause, destroy, ...). */
  readonly #locks = new KeyedMutex();
  /** git does not take concurrent worktree changes in one repository: one at a time per repository. */
  readonly #repoLocks = new KeyedMutex();
  /** Status changes per workspace so far: background work tells whether the workspace moved on meanwhile. */
  readonly #statusChanges = new Map<string, number>();
  #forwarder: ServicePortForwarder | undefined;

  constructor(deps: WorkspaceServiceDeps) {
    this.#d = deps;
  }

  // ---- lookups ---------------------------------------------------------------------------------

  /** A workspace by id or name. */
  resolve(ref: string): WorkspaceRecord {
    const r = this.#d.store.get(ref) ?? this.#d.store.findByName(ref);
    if (!r) throw errors.workspaceNotFound(ref);
    return r;
  }

  get(ref: string): WorkspaceView {
    return toView(this.#withActivity(this.resolve(ref)));
  }

  list(filter: ListWorkspacesInput = {}): WorkspaceView[] {
    let records = this.#d.store.list();
    if (filter.status) records = records.filter((r) => r.status === filter.status);
    if (filter.backend) records = records.filter((r) => r.backend === filter.backend);
    if (filter.label_selector) {
      throw new NexusError("UNIMPLEMENTED", "Workspace labels are not supported yet, so label_selector cannot filter", {
        suggestion: "Filter with 'status' or 'backend'",
      });
    }
    return records.map((r) => toView(this.#withActivity(r)));
  }

  async status(ref: string): Promise<WorkspaceStatusView> {
    const r = this.#withActivity(this.resolve(ref));
    const project = this.#projectOrNone(r);
    const states = r.status === "running" && project?.services.length ? await this.#serviceShell(r).then(serviceStates).catch(() => new Map<string, SupervisorState>()) : new Map<string, SupervisorState>();
    const services = await Promise.all((project?.services ?? []).map((def) => this.#serviceHealth(r, def, states.get(def.name))));
    const portStatus = (p: PortMapping) => {
      const svc = project?.services.find((sv) => sv.port === p.containerPort);
      if (svc) return states.get(svc.name)?.status ?? "stopped";
      return r.status === "running" ? "published" : "stopped";
    };
    const view: WorkspaceStatusView = {
      workspaceId: r.id,
      name: r.name,
      status: r.status,
      backend: r.backend,
      containerId: r.containerId,
      ports: {
        ssh: r.ports.ssh,
        services: [
          ...r.ports.services.map((p) => ({ ...p, status: portStatus(p) })),
          // Forwards added at run time (their host port is the daemon's listener).
          ...(this.#forwarder?.forwardsOf(r.id) ?? []).map((f) => ({ name: project?.services.find((sv) => sv.port === f.containerPort)?.name ?? f.id, containerPort: f.containerPort, hostPort: f.hostPort, status: "forwarded" })),
        ],
      },
      // A local engine bind-mounts the worktree: nothing to sync, and we say so.
      sync: { provider: "bind", status: "live", lastSyncAt: null },
      createdAt: r.createdAt,
      lastActiveAt: r.lastActiveAt,
      branch: r.branch,
      worktreePath: r.mountPath,
      resources: r.resources,
      idle: await this.#idleView(r),
      services,
    };
    if (r.error) view.error = r.error;
    return view;
  }

  // ---- create ----------------------------------------------------------------------------------

  async create(input: CreateWorkspaceInput, progress: ProgressSink = noProgress, opts: BringUpOptions = {}): Promise<StartResult> {
    const d = this.#d;
    const started = Date.now();
    const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Date.now() - started });

    if (d.store.findByName(input.name) || this.#creating.has(input.name)) {
      throw new NexusError("WORKSPACE_ALREADY_EXISTS", `Workspace '${input.name}' already exists`, {
        suggestion: `Pick another name, or remove it with 'nexus destroy ${input.name}'`,
        details: { workspaceName: input.name },
      });
    }
    this.#creating.add(input.name);
    const undo: Array<{ what: string; run: () => Promise<void> | void }> = [];
    let record: WorkspaceRecord | undefined;
    let project: ProjectConfig | undefined;
    try {
      const resources = resolveResources(input.resources ?? d.config.workspaces[input.name]?.resources ?? d.config.defaults.resources);
      const id = `ws-${randomBytes(6).toString("hex")}`;
      const now = new Date().toISOString();

      // Repository and worktree plan (validated before anything is made).
      // Bad input is reported as such even without an engine; the engine is checked before anything is made.
      step("repository", "Resolving the repository");
      const engine = input.repo ? await d.docker.ping() : undefined;
      const source = await this.#planSource(input, id, undo);
      const { ncpu } = engine ?? (await d.docker.ping());

      const containerPorts = input.ports ?? [];
      const hostPorts = await d.ports.allocate(1 + containerPorts.length);
      undo.push({ what: "release ports", run: () => d.ports.release(record ? recordPorts(record) : hostPorts) });

      const shortId = id.slice(3, 9);
      record = {
        id,
        name: input.name,
        displayName: input.displayName ?? input.name,
        status: "pending",
        backend: "docker",
        repository: source.repository,
        worktree: source.worktree,
        mountPath: source.mountPath,
        branch: source.branch,
        image: "",
        containerName: `nexus-${input.name}-${shortId}`,
        containerId: null,
        homeVolume: `nexus-${input.name}-${shortId}-home`,
        ports: portMappings(hostPorts, containerPorts),
        resources,
        env: { ...d.config.workspaces[input.name]?.env, ...input.env },
        forwardAgent: input.forwardAgent ?? d.config.ssh.connection.forward_agent,
        hostKeyFingerprint: "",
        error: null,
        createdAt: now,
        updatedAt: now,
        lastActiveAt: now,
      };
      // The record exists before anything else is made, so a daemon killed part way knows what to clean up.
      d.store.save(record);
      undo.push({ what: "remove record", run: () => d.store.remove(id) });

      if (source.makeWorktree) {
        step("worktree", `Creating worktree ${source.mountPath} on branch ${source.branch}`);
        await this.#makeWorktree(record, source.makeWorktree, undo);
      }

      // The project's .nexus/workspace.yaml (in the new worktree) adds ports, resources, image, hooks, services.
      project = this.#project(record);
      if (project.files.length > 0) step("config", `Project configuration: ${project.files.join(", ")}`);
      await this.#applyProject(record, project, input);
      d.store.save(record);

      step("keys", "Generating SSH host key");
      const hostKey = this.#makeHostKey(record);
      record.hostKeyFingerprint = fingerprint(hostKey.publicKey);

      const labels = this.#labels(record);
      let base = input.image ?? project.image ?? d.config.defaults.image;
      if (!input.image && project.dockerfile) {
        step("image", `Building the project's image from ${project.dockerfile}`);
        base = await d.docker.buildProjectImage(project.dockerfile, (e) => step(e.phase, e.message));
      }
      record.image = await d.docker.ensureWorkspaceImage(base === DEFAULT_WORKSPACE_IMAGE ? DEFAULT_BASE_IMAGE : base, (e) => step(e.phase, e.message));
      d.store.save(record);

      step("container", `Creating container ${record.containerName}`);
      await d.docker.createVolume(record.homeVolume, labels);
      undo.push({ what: "remove volume", run: () => d.docker.removeVolume(record!.homeVolume) });
      undo.push({ what: "remove container", run: async () => void (record!.containerId && (await d.docker.removeContainer(record!.containerId))) });
      for (let attempt = 1; ; attempt++) {
        record.containerId = await d.docker.createContainer(this.#containerSpec(record, labels, ncpu));
        d.store.save(record);
        await this.#installFiles(record, hostKey, input.agentSocket, project.env);
        step("start", "Starting container");
        try {
          await this.#startAndWait(record);
          break;
        } catch (err) {
          if (!(err instanceof NexusError && err.code === "PORT_CONFLICT") || attempt >= 3) throw err;
          // Another process took a port between allocation and start: new ports, new container (spec §3.6 recovery).
          const taken = recordPorts(record);
          const fresh = await d.ports.allocate(taken.length);
          d.ports.release(taken);
          step("start", `A port was taken meanwhile; retrying with new ports (ssh ${fresh[0]})`);
          await d.docker.removeContainer(record.containerId);
          record.ports = {
            ssh: fresh[0]!,
            services: record.ports.services.map((p, i) => ({ ...p, hostPort: fresh[i + 1]! })),
          };
        }
      }

      record.status = "running";
      record.updatedAt = new Date().toISOString();
      d.store.save(record);
      this.#syncSshFiles();
      this.#publishStatus(record);
    } catch (err) {
      await this.#rollback(undo, input.name);
      this.#creating.delete(input.name);
      throw err;
    }
    // The workspace exists from here: a failing hook leaves it in `error` (nothing is rolled back,
    // no work is lost), and `nexus start` tries again.
    const made = record;
    try {
      const services = await this.#exclusive(made.id, () => this.#bringUpOrFail(made, project!, opts, step));
      step("ready", `Workspace ${made.name} is ready`);
      d.log.info(`created ${made.name} (${made.id}) in ${Date.now() - started} ms`);
      return { ...toView(made), services, durationMs: Date.now() - started };
    } finally {
      this.#creating.delete(input.name);
    }
  }

  /** The project's configuration: .nexus/workspace.yaml (and lifecycle.json) in the mounted tree, then workspaces.<name> of the user config. */
  #project(r: WorkspaceRecord): ProjectConfig {
    return loadProjectConfig(r.mountPath, { userWorkspace: this.#d.config.workspaces[r.name], userConfigFile: this.#d.paths.config, userWorkspaceName: r.name });
  }

  /** A project whose configuration does not parse still stops: its hooks are skipped, and the log says why. */
  #projectOrNone(r: WorkspaceRecord): ProjectConfig | undefined {
    try {
      return this.#project(r);
    } catch (err) {
      this.#d.log.warn(`${r.name}: project configuration skipped: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Ports (published at create, named after the service using them) and resources from the project. */
  async #applyProject(record: WorkspaceRecord, project: ProjectConfig, input: CreateWorkspaceInput): Promise<void> {
    const published = new Set(record.ports.services.map((p) => p.containerPort));
    const extra = [...new Set([...project.ports, ...project.services.flatMap((s) => (s.port !== undefined ? [s.port] : []))])].filter((p) => p !== 22 && !published.has(p));
    if (extra.length > 0) {
      const more = await this.#d.ports.allocate(extra.length);
      record.ports.services.push(...extra.map((containerPort, i): PortMapping => ({ name: `port-${containerPort}`, containerPort, hostPort: more[i]! })));
    }
    for (const p of record.ports.services) {
      const svc = project.services.find((s) => s.port === p.containerPort);
      if (svc) p.name = svc.name;
    }
    if (input.resources === undefined && project.resources !== undefined) record.resources = resolveResources(project.resources);
  }

  async #planSource(input: CreateWorkspaceInput, id: string, undo: Array<{ what: string; run: () => Promise<void> | void }>) {
    const d = this.#d;
    let repoDir = input.path ?? d.config.workspaces[input.name]?.path;
    let cloned = false;
    let url: string | undefined;
    if (input.repo) {
      url = input.repo;
      repoDir = join(d.paths.home, "repos", `${input.name}-${id.slice(3, 9)}`);
      mkdirSync(join(d.paths.home, "repos"), { recursive: true, mode: 0o700 });
      await git.clone(input.repo, repoDir);
      cloned = true;
      const dir = repoDir;
      undo.push({ what: "remove clone", run: () => rmSync(dir, { recursive: true, force: true }) });
    }
    if (!repoDir) {
      throw errors.invalidArgument("No repository given", "Run 'nexus create' inside a git repository, or pass --repo <url> (REST: 'path' or 'repo')");
    }
    if (!existsSync(repoDir)) {
      throw errors.invalidArgument(`Repository path '${repoDir}' does not exist`, "Pass an existing directory", { path: repoDir });
    }
    if (input.noWorktree) {
      const info = await git.repoInfo(repoDir).catch(() => undefined);
      return {
        repository: info ? { path: info.path, gitCommonDir: info.commonDir, cloned, ...(url ? { url } : {}) } : null,
        worktree: null,
        mountPath: info?.path ?? repoDir,
        branch: info?.head ?? "",
        makeWorktree: undefined,
      };
    }
    const info = await git.repoInfo(repoDir);
    const branch = input.branch ?? `nexus/${input.name}`;
    const path = join(info.path, ".worktree", input.name);
    if (existsSync(path)) {
      throw errors.invalidArgument(`Worktree path ${path} already exists`, `Remove it ('git worktree remove ${path}') or pick another name`, { path });
    }
    const exists = await git.branchExists(info.path, branch);
    let base: string | undefined;
    if (!exists) {
      // A branch only the remote has (a fresh clone holds just its default branch) is taken from there, as `git checkout` does.
      const wanted = input.fromBranch ?? (await git.remoteBranch(info.path, branch)) ?? info.head;
      base = wanted && ((await git.hasCommit(info.path, wanted)) ? wanted : await git.remoteBranch(info.path, wanted));
      if (!base) {
        throw errors.invalidArgument(
          wanted ? `Base '${wanted}' is not a commit or branch of ${info.path}` : `The repository ${info.path} has no commits yet`,
          wanted ? "Pass an existing branch with --from-branch" : "Make a first commit, then create the workspace",
          { repository: info.path, ...(wanted ? { base: wanted } : {}) },
        );
      }
    } else if (input.fromBranch) {
      throw errors.invalidArgument(`Branch '${branch}' already exists, so --from-branch does not apply`, "Leave out --from-branch to use the existing branch, or pick a new --branch");
    }
    return {
      repository: { path: info.path, gitCommonDir: info.commonDir, cloned, ...(url ? { url } : {}) },
      worktree: { path, branch, branchCreated: !exists },
      mountPath: path,
      branch,
      makeWorktree: { repo: info.path, commonDir: info.commonDir, base },
    };
  }

  async #makeWorktree(record: WorkspaceRecord, plan: { repo: string; commonDir: string; base: string | undefined }, undo: Array<{ what: string; run: () => Promise<void> | void }>) {
    const wt = record.worktree!;
    await this.#repoLocks.run(plan.repo, async () => {
      git.excludeWorktreeDir(plan.commonDir);
      await git.addWorktree(plan.repo, wt.path, wt.branch, plan.base !== undefined ? { createFrom: plan.base } : {});
    });
    undo.push({
      what: "remove worktree",
      run: () =>
        this.#repoLocks.run(plan.repo, async () => {
          await git.removeWorktree(plan.repo, wt.path);
          if (wt.branchCreated) await git.deleteBranch(plan.repo, wt.branch);
        }),
    });
  }

  #makeHostKey(record: WorkspaceRecord): KeyPair {
    const dir = join(this.#d.paths.workspaceDir(record.id), "ssh");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = generateEd25519(`nexus-${record.name}`);
    writeFileAtomic(join(dir, "ssh_host_ed25519_key"), pair.privateKey, 0o600);
    writeFileAtomic(join(dir, "ssh_host_ed25519_key.pub"), pair.publicKey + "\n", 0o644);
    return pair;
  }

  #hostKey(record: WorkspaceRecord): KeyPair {
    const dir = join(this.#d.paths.workspaceDir(record.id), "ssh");
    return {
      privateKey: readFileSync(join(dir, "ssh_host_ed25519_key"), "utf8"),
      publicKey: readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim(),
    };
  }

  #hostPublicKey(record: WorkspaceRecord): string | undefined {
    const file = join(this.#d.paths.workspaceDir(record.id), "ssh", "ssh_host_ed25519_key.pub");
    return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
  }

  #labels(record: WorkspaceRecord): Record<string, string> {
    return {
      [LABELS.managed]: "true",
      [LABELS.instance]: this.#d.instance,
      [LABELS.workspaceId]: record.id,
      [LABELS.workspaceName]: record.name,
    };
  }

  #containerSpec(record: WorkspaceRecord, labels: Record<string, string>, ncpu: number): ContainerCreateOptions {
    const exposed: Record<string, object> = { "22/tcp": {} };
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {
      "22/tcp": [{ HostIp: SSH_HOST, HostPort: String(record.ports.ssh) }],
    };
    for (const p of record.ports.services) {
      exposed[`${p.containerPort}/tcp`] = {};
      bindings[`${p.containerPort}/tcp`] = [{ HostIp: SSH_HOST, HostPort: String(p.hostPort) }];
    }
    const mounts: NonNullable<ContainerCreateOptions["HostConfig"]>["Mounts"] = [
      { Type: "bind", Source: record.mountPath, Target: WORKSPACE_DIR },
      { Type: "volume", Source: record.homeVolume, Target: "/home/nexus" },
    ];
    // The worktree's .git file points at the repository's git dir by absolute path: mount it there.
    if (record.repository && !record.repository.gitCommonDir.startsWith(record.mountPath + "/")) {
      mounts.push({ Type: "bind", Source: record.repository.gitCommonDir, Target: record.repository.gitCommonDir });
    }
    const { uid, gid } = this.#d.hostUser;
    return {
      name: record.containerName,
      Image: record.image,
      Hostname: record.name,
      Labels: labels,
      Env: [`NEXUS_UID=${uid}`, `NEXUS_GID=${gid}`, `NEXUS_WORKSPACE=${record.name}`],
      ExposedPorts: exposed,
      HostConfig: {
        PortBindings: bindings,
        Mounts: mounts,
        RestartPolicy: { Name: "unless-stopped" },
        Init: true,
        NanoCpus: Math.round(Math.min(record.resources.cpu, ncpu) * 1e9),
        Memory: record.resources.memoryBytes,
      },
    };
  }

  /** Host key, authorized keys and the workspace env reach the container as files, never as env vars or labels. */
  async #installFiles(record: WorkspaceRecord, hostKey: KeyPair, agentSocket?: string, projectEnv: Record<string, string> = {}): Promise<void> {
    const d = this.#d;
    const inj = d.config.ssh.injection;
    const agentKeys = inj.enabled && inj.include_agent_keys && agentSocket ? await agentPublicKeys(agentSocket) : [];
    const authorized = [...new Set([d.clientKey.publicKey, ...this.#injectedKeys(), ...agentKeys])].join("\n") + "\n";
    const environment = Object.entries({ ...projectEnv, ...record.env }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n") + "\n";
    await d.docker.putFiles(record.containerId!, "/", [
      { name: "etc/nexus", type: "dir", mode: 0o755 },
      { name: "etc/nexus/ssh", type: "dir", mode: 0o755 },
      { name: "etc/nexus/ssh/ssh_host_ed25519_key", content: hostKey.privateKey, mode: 0o600 },
      { name: "etc/nexus/ssh/ssh_host_ed25519_key.pub", content: hostKey.publicKey + "\n", mode: 0o644 },
      { name: "etc/nexus/ssh/authorized_keys", content: authorized, mode: 0o644 },
      { name: "etc/environment", content: environment, mode: 0o644 },
      // The service supervisor comes with the binary, so a new Nexus needs no new image.
      ...supervisorFiles(),
    ]);
    this.#supervisorIn.add(`${record.id}:${record.containerId}`);
  }

  /** Public keys from ssh.injection.sources that exist on this machine. */
  #injectedKeys(): string[] {
    const inj = this.#d.config.ssh.injection;
    if (!inj.enabled) return [];
    const keys: string[] = [];
    for (const src of inj.sources) {
      const file = expandHome(src, this.#d.hostUser.home);
      try {
        keys.push(...readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => /^(ssh-|ecdsa-|sk-)/.test(l)));
      } catch {
        // A source that does not exist is skipped: the defaults list keys a user may not have.
      }
    }
    return keys;
  }

  async #startAndWait(record: WorkspaceRecord): Promise<void> {
    const d = this.#d;
    await d.docker.start(record.containerId!);
    try {
      await d.ssh.waitReady(record.id, this.#target(record), READY_TIMEOUT_MS);
    } catch (err) {
      const info = await d.docker.inspect(record.containerId!);
      const logs = await d.docker.logsTail(record.containerId!, 20);
      const exited = info && !info.State.Running;
      throw new NexusError("WORKSPACE_START_FAILED", exited ? `The container exited (code ${info.State.ExitCode}) before SSH answered` : (err as Error).message, {
        suggestion: "See the container log in the details; 'nexus doctor' checks the setup",
        details: { containerLog: logs.trim().split("\n").slice(-20) },
      });
    }
  }

  async #rollback(undo: Array<{ what: string; run: () => Promise<void> | void }>, name: string): Promise<void> {
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (err) {
        this.#d.log.warn(`rollback of ${name}: could not ${u.what}: ${(err as Error).message}`);
      }
    }
  }

  // ---- exec ------------------------------------------------------------------------------------

  async exec(ref: string, input: ExecInput, streams: { onStdout?: (b: Buffer) => void; onStderr?: (b: Buffer) => void; signal?: AbortSignal } = {}): Promise<ExecExit> {
    const r = this.resolve(ref);
    this.#requireRunning(r, "run commands in it");
    let line = buildCommandLine([input.command, ...input.args], { cwd: input.cwd ?? WORKSPACE_DIR, ...(input.env ? { env: input.env } : {}) });
    const agentSocket = this.#forwardsAgent(r) && input.agentSocket && existsSync(input.agentSocket) ? input.agentSocket : undefined;
    // ~/.ssh/agent.sock follows the newest forwarded agent: editors and long-lived shells keep the path they saw first.
    if (agentSocket) line = `{ [ -S "$SSH_AUTH_SOCK" ] && mkdir -p "$HOME/.ssh" && ln -sfn "$SSH_AUTH_SOCK" "$HOME/.ssh/agent.sock"; } 2>/dev/null; ${line}`;
    this.#touch(r);
    const timeout = input.timeout ? AbortSignal.timeout(input.timeout * 1000) : undefined;
    const signal = timeout && streams.signal ? AbortSignal.any([timeout, streams.signal]) : (timeout ?? streams.signal);
    this.#running.set(r.id, (this.#running.get(r.id) ?? 0) + 1);
    try {
      return await this.#d.ssh.exec(r.id, this.#target(r), line, { ...streams, ...(signal ? { signal } : {}), ...(agentSocket ? { agentSocket } : {}) });
    } catch (err) {
      if (timeout?.aborted) {
        throw new NexusError("INVALID_STATE", `The command ran longer than its timeout of ${input.timeout} s and was killed`, {
          suggestion: "Raise the timeout, or run it detached",
          details: { timeoutSeconds: input.timeout },
        });
      }
      throw err;
    } finally {
      this.#running.set(r.id, (this.#running.get(r.id) ?? 1) - 1);
      this.#touch(r);
    }
  }

  /** Collects an exec's output: for callers that want one JSON answer rather than a stream. */
  async execCollect(ref: string, input: ExecInput): Promise<{ exitCode: number; signal?: string; stdout: string; stderr: string }> {
    // Bounded (output-cap.ts): past the cap the command is stopped and the caller told to stream.
    return collectOutput((streams) => this.exec(ref, input, streams));
  }

  #requireRunning(r: WorkspaceRecord, doing: string): void {
    if (r.status === "running") return;
    const hint: Partial<Record<WorkspaceStatus, string>> = {
      stopped: `Start it with 'nexus start ${r.name}'`,
      paused: `Resume it with 'nexus resume ${r.name}'`,
      pending: "Wait until it is created",
      error: `See 'nexus status ${r.name}'; 'nexus start ${r.name}' tries again`,
    };
    throw errors.invalidState(r.name, r.status, `running to ${doing}`, hint[r.status] ?? `See 'nexus status ${r.name}'`);
  }

  #target(r: WorkspaceRecord): SshTarget {
    const hostPublicKey = this.#hostPublicKey(r);
    if (!hostPublicKey) {
      throw new NexusError("CONTAINER_ERROR", `Workspace '${r.name}' has no host key on record`, {
        suggestion: `Destroy and re-create it ('nexus destroy ${r.name} --force')`,
      });
    }
    return { host: SSH_HOST, port: r.ports.ssh, username: this.#d.config.ssh.connection.user, hostPublicKey };
  }

  #touch(r: WorkspaceRecord): void {
    this.#lastActive.set(r.id, new Date().toISOString());
  }

  #withActivity(r: WorkspaceRecord): WorkspaceRecord {
    const last = this.#lastActive.get(r.id);
    return last && last > r.lastActiveAt ? { ...r, lastActiveAt: last } : r;
  }

  // ---- hooks and services ----------------------------------------------------------------------

  /** Runs a read-only shell line in a running workspace without counting it as activity (status probes). */
  async inspect(ref: string, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = this.resolve(ref);
    this.#requireRunning(r, "look inside it");
    return this.#shell(r).run(script);
  }

  /** Lets service ports that were not published at create be reached through a daemon forward. */
  setPortForwarder(forwarder: ServicePortForwarder): void {
    this.#forwarder = forwarder;
  }

  /** A shell in the workspace over the daemon's pooled connection; it does not count as activity. */
  #shell(r: WorkspaceRecord): WorkspaceShell {
    return {
      run: async (script, opts = {}) => {
        // A hook may print without end: only the tail of each stream stays in memory.
        const out = new TailBuffer();
        const err = new TailBuffer();
        const exit = await this.#d.ssh.exec(r.id, this.#target(r), script, {
          onStdout: opts.onStdout ?? out.push,
          onStderr: err.push,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        return { exitCode: exit.exitCode, stdout: out.toString(), stderr: err.toString() };
      },
    };
  }

  /** Containers (by workspace and container id) known to hold this build's supervisor. */
  readonly #supervisorIn = new Set<string>();

  /**
   * A shell for service work, once the container holds this build's supervisor: start and create
   * copy it in; a container that was started by an older daemon gets it here, on first use.
   */
  async #serviceShell(r: WorkspaceRecord): Promise<WorkspaceShell> {
    const key = `${r.id}:${r.containerId}`;
    if (!this.#supervisorIn.has(key) && r.containerId) {
      await this.#d.docker.putFiles(r.containerId, "/", supervisorFiles());
      this.#supervisorIn.add(key);
    }
    return this.#shell(r);
  }

  #hookLog(r: WorkspaceRecord, hook: HookName): string {
    return join(this.#d.paths.workspaceDir(r.id), "logs", "hooks", `${hook}.log`);
  }

  /** Runs a hook's steps: in the workspace over SSH, or (post-stop) in a one-off container with the same image and mounts. */
  async #runHook(r: WorkspaceRecord, project: ProjectConfig, hook: HookName, timeoutSeconds?: number): Promise<HookResult> {
    const steps = (project.hooks[hook] ?? []).map((st) => (timeoutSeconds ? { ...st, timeoutSeconds } : st));
    const env = { ...project.env, ...r.env };
    const run =
      hook === "post-stop"
        ? async (step: (typeof steps)[number], signal: AbortSignal) => {
            const res = await this.#d.docker.runOneOff(this.#oneOffSpec(r, hookCommandLine(hook, step, r.name), env), step.timeoutSeconds * 1000);
            if (res.timedOut && !signal.aborted) return { exitCode: 124, output: res.output };
            return { exitCode: res.exitCode, output: res.output };
          }
        : async (step: (typeof steps)[number], signal: AbortSignal) => {
            const res = await this.#shell(r).run(hookCommandLine(hook, step, r.name), { signal });
            return { exitCode: res.exitCode, output: res.stdout + res.stderr };
          };
    const result = await runHookSteps(hook, steps, run, this.#hookLog(r, hook));
    this.#d.log.info(`${r.name}: ${hook} hook exited ${result.exitCode} in ${result.durationMs} ms`);
    return result;
  }

  /** The one-off container of a post-stop hook: the workspace's image and mounts, as the workspace user. */
  #oneOffSpec(r: WorkspaceRecord, commandLine: string, env: Record<string, string>): ContainerCreateOptions {
    const main = this.#containerSpec(r, this.#labels(r), 1);
    const { uid, gid } = this.#d.hostUser;
    return {
      name: `${r.containerName}-hook-${randomBytes(3).toString("hex")}`,
      Image: r.image,
      Labels: { ...this.#labels(r), [LABELS.role]: "hook" },
      User: `${uid}:${gid}`,
      Entrypoint: ["/bin/bash", "-c"],
      Cmd: [commandLine],
      WorkingDir: WORKSPACE_DIR,
      Env: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), "HOME=/home/nexus", "USER=nexus"],
      HostConfig: { Mounts: main.HostConfig!.Mounts!, NetworkMode: "bridge", Memory: r.resources.memoryBytes },
    };
  }

  async #runHookOrFail(r: WorkspaceRecord, project: ProjectConfig, hook: HookName, step: (phase: string, message: string) => void): Promise<void> {
    if (!project.hooks[hook]?.length) return;
    step("hooks", `Running the ${hook} hook`);
    const result = await this.#runHook(r, project, hook);
    if (result.exitCode !== 0) throw hookFailed(r.name, result);
  }

  /**
   * After SSH answers: pre-start hook, services in dependency order, wait until they are healthy
   * (blocking, up to the timeout), post-start hook. Non-blocking returns once services are started
   * and finishes the rest in the background.
   */
  async #bringUp(r: WorkspaceRecord, project: ProjectConfig, opts: BringUpOptions, step: (phase: string, message: string) => void): Promise<ServiceHealthView[]> {
    const deadline = Date.now() + (opts.timeoutSeconds ?? DEFAULT_BRING_UP_SECONDS) * 1000;
    if (!opts.skipHooks) await this.#runHookOrFail(r, project, "pre-start", step);
    const services = opts.skipServices ? [] : project.services;
    const sh = (await this.#serviceShell(r));
    let notStarted = new Map<string, string>();
    if (services.length > 0) notStarted = await startServices(sh, services, { deadline, onProgress: (m) => step("services", m) });
    const finish = async () => {
      const names = services.filter((sv) => !notStarted.has(sv.name)).map((sv) => sv.name);
      if (names.length > 0) step("services", `Waiting until ${names.join(", ")} ${names.length === 1 ? "is" : "are"} healthy`);
      const states = names.length > 0 ? await waitReady(sh, names, deadline) : new Map<string, SupervisorState>();
      if (!opts.skipHooks) await this.#runHookOrFail(r, project, "post-start", step);
      return Promise.all(project.services.map((def) => this.#serviceHealth(r, def, states.get(def.name), notStarted.get(def.name) ?? (opts.skipServices ? "not started (skip services)" : undefined))));
    };
    if (opts.blocking === false) {
      // Finished outside the workspace's lock: a pause, stop or restart meanwhile is what cut it short,
      // and must not be turned into an error afterwards (a paused workspace would show `error`).
      const changes = this.#statusChanges.get(r.id) ?? 0;
      void finish().catch((err: unknown) => {
        if (this.#d.store.get(r.id)?.status === "running" && (this.#statusChanges.get(r.id) ?? 0) === changes) this.#bringUpFailed(r.id, err);
        else this.#d.log.warn(`${r.name}: the rest of its start was cut short by a status change: ${(err as Error).message}`);
      });
      return Promise.all(project.services.map((def) => this.#serviceHealth(r, def, undefined, notStarted.get(def.name) ?? (opts.skipServices ? "not started (skip services)" : "starting"))));
    }
    return finish();
  }

  /** bring-up whose failure leaves the workspace in `error` with the cause (a hook's log tail in its details). */
  async #bringUpOrFail(r: WorkspaceRecord, project: ProjectConfig, opts: BringUpOptions, step: (phase: string, message: string) => void): Promise<ServiceHealthView[]> {
    try {
      return await this.#bringUp(r, project, opts, step);
    } catch (err) {
      this.#bringUpFailed(r.id, err);
      throw err;
    }
  }

  #bringUpFailed(id: string, err: unknown): void {
    const r = this.#d.store.get(id);
    if (!r) return;
    const e = err instanceof NexusError ? err : new NexusError("WORKSPACE_START_FAILED", (err as Error).message);
    this.#d.log.warn(`${r.name}: start failed: ${e.message}`);
    this.#setStatus(r, "error", { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) });
  }

  /** The spec's ServiceHealth of one service, with its URL (published port, or a daemon forward). */
  async #serviceHealth(r: WorkspaceRecord, def: ServiceDefinition, state: SupervisorState | undefined, note?: string): Promise<ServiceHealthView> {
    const where = await this.#serviceUrl(r, def);
    return {
      name: def.name,
      status: state?.status ?? (note === "starting" ? "starting" : "stopped"),
      port: where?.hostPort ?? null,
      url: where?.url ?? null,
      ...(note && note !== "starting" ? { message: note } : state?.message ? { message: state.message } : {}),
    };
  }

  async #serviceUrl(r: WorkspaceRecord, def: ServiceDefinition): Promise<{ hostPort: number; url: string } | undefined> {
    if (def.port === undefined) return undefined;
    const published = r.ports.services.find((p) => p.containerPort === def.port);
    if (published) return { hostPort: published.hostPort, url: `http://localhost:${published.hostPort}` };
    if (!this.#forwarder || r.status !== "running") return undefined;
    try {
      return await this.#forwarder.ensure(r.id, def.port);
    } catch (err) {
      this.#d.log.warn(`${r.name}: could not forward port ${def.port} of service ${def.name}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Stops services (reverse order) after the pre-stop hook; failures are logged: a stop always stops. */
  async #bringDown(r: WorkspaceRecord, project: ProjectConfig | undefined): Promise<void> {
    if (!project || (!project.hooks["pre-stop"]?.length && project.services.length === 0)) return;
    if (project.hooks["pre-stop"]?.length) {
      const res = await this.#runHook(r, project, "pre-stop").catch((err: Error) => this.#d.log.warn(`${r.name}: pre-stop hook: ${err.message}`));
      if (res && res.exitCode !== 0) this.#d.log.warn(`${r.name}: pre-stop hook exited ${res.exitCode} (see ${res.logFile}); stopping anyway`);
    }
    await stopServices((await this.#serviceShell(r)), project.services).catch((err: Error) => this.#d.log.warn(`${r.name}: stopping services: ${err.message}`));
  }

  async #postStop(r: WorkspaceRecord, project: ProjectConfig | undefined): Promise<void> {
    if (!project?.hooks["post-stop"]?.length) return;
    const res = await this.#runHook(r, project, "post-stop").catch((err: Error) => this.#d.log.warn(`${r.name}: post-stop hook: ${err.message}`));
    if (res && res.exitCode !== 0) this.#d.log.warn(`${r.name}: post-stop hook exited ${res.exitCode} (see ${res.logFile})`);
  }

  /** `POST /hooks/{hook}`: runs one hook now and answers its exit code and output tail. */
  async runHook(ref: string, hook: string, opts: { timeoutSeconds?: number } = {}): Promise<HookResult & { workspaceId: string }> {
    const r = this.resolve(ref);
    if (!(HOOK_NAMES as readonly string[]).includes(hook)) {
      throw errors.invalidArgument(`Unknown hook '${hook}'`, `Use one of ${HOOK_NAMES.join(", ")}`, { hook });
    }
    const name = hook as HookName;
    const project = this.#project(r);
    if (!project.hooks[name]?.length) {
      throw new NexusError("NOT_FOUND", `Workspace '${r.name}' has no ${name} hook`, {
        suggestion: `Define hooks.${name} in .nexus/workspace.yaml`,
        details: { workspaceName: r.name, hook: name, files: project.files },
      });
    }
    if (name !== "post-stop") this.#requireRunning(r, `run its ${name} hook`);
    return { workspaceId: r.id, ...(await this.#runHook(r, project, name, opts.timeoutSeconds)) };
  }

  #serviceDefinition(r: WorkspaceRecord, project: ProjectConfig, name: string): ServiceDefinition {
    const def = project.services.find((sv) => sv.name === name);
    if (!def) {
      throw new NexusError("NOT_FOUND", `Workspace '${r.name}' has no service '${name}'`, {
        suggestion: `Run 'nexus services ${r.name}' to see its services`,
        details: { workspaceName: r.name, service: name, services: project.services.map((sv) => sv.name) },
      });
    }
    return def;
  }

  /** `GET /services`: every service of the project with its state, ports and URL. */
  async listServices(ref: string): Promise<{ workspaceId: string; services: ServiceView[] }> {
    const r = this.resolve(ref);
    const project = this.#project(r);
    const states = r.status === "running" && project.services.length > 0 ? await serviceStates((await this.#serviceShell(r))) : new Map<string, SupervisorState>();
    // A server bound to 127.0.0.1 inside passes its (inside) health check, yet its published port shows nothing: say so.
    const publishedUp = project.services.some((def) => r.ports.services.some((p) => p.containerPort === def.port) && isReady(states.get(def.name)));
    const listeners = publishedUp ? await this.#shell(r).run("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null").then((o) => parseProcNetTcp(o.stdout), () => undefined) : undefined;
    const services = await Promise.all(
      project.services.map(async (def): Promise<ServiceView> => {
        const st = states.get(def.name);
        const where = await this.#serviceUrl(r, def);
        const published = def.port !== undefined && r.ports.services.some((p) => p.containerPort === def.port);
        const loopbackOnly = published && listeners !== undefined && listeningOn(listeners, def.port!).loopbackOnly;
        return {
          ...(loopbackOnly
            ? { hint: `${def.name} listens on 127.0.0.1 only inside the workspace, so its published port ${where?.hostPort} shows nothing: bind it to 0.0.0.0 (e.g. --host 0.0.0.0), or forward the port ('nexus proxy ${r.name} ${def.port}')` }
            : {}),
          name: def.name,
          status: st?.status ?? "stopped",
          containerPort: def.port ?? null,
          hostPort: where?.hostPort ?? null,
          url: where?.url ?? null,
          healthCheck: describeProbe(def.health),
          dependsOn: def.dependsOn,
          pid: st?.pid ?? null,
          restarts: st?.restarts ?? 0,
          lastExitCode: st?.lastExitCode ?? null,
          startedAt: st?.startedAt ?? null,
          message: st?.message ?? (r.status === "running" ? "not started" : `the workspace is ${r.status}`),
          lastProbe: st?.probe ?? null,
        };
      }),
    );
    return { workspaceId: r.id, services };
  }

  /** A service's log: the last `tail` lines, then new ones while `follow` (until the signal aborts). */
  async serviceLogs(ref: string, service: string, opts: { tail: number; follow: boolean; since?: string; signal?: AbortSignal }, onEntry: (e: LogEntry) => void): Promise<void> {
    const r = this.resolve(ref);
    this.#serviceDefinition(r, this.#project(r), service);
    // `since`: a timestamp, or a duration back from now (10m); entries older than it are left out.
    const since = opts.since !== undefined ? sinceTimestamp(opts.since) : undefined;
    this.#requireRunning(r, "read its service logs");
    await serviceLogs(await this.#serviceShell(r), service, opts, since ? (e) => void (e.timestamp >= since && onEntry(e)) : onEntry);
  }

  /** Stops and starts one service with its current definition; answers once it is ready (or after the timeout). */
  async restartService(ref: string, service: string, opts: { timeoutSeconds?: number } = {}): Promise<ServiceHealthView & { workspaceId: string; durationMs: number }> {
    const started = Date.now();
    const r = this.resolve(ref);
    const def = this.#serviceDefinition(r, this.#project(r), service);
    this.#requireRunning(r, "restart a service");
    const sh = (await this.#serviceShell(r));
    await stopService(sh, def.name);
    await startService(sh, def);
    const states = await waitReady(sh, [def.name], Date.now() + (opts.timeoutSeconds ?? 60) * 1000);
    return { workspaceId: r.id, ...(await this.#serviceHealth(r, def, states.get(def.name))), durationMs: Date.now() - started };
  }

  /** Healthy: running, every service ready, and the health-check hook (if any) exits 0. */
  async health(ref: string): Promise<{ workspaceId: string; healthy: boolean; status: WorkspaceStatus; services: ServiceHealthView[]; healthCheck: { exitCode: number; output: string } | null }> {
    const r = this.resolve(ref);
    if (r.status !== "running") return { workspaceId: r.id, healthy: false, status: r.status, services: [], healthCheck: null };
    const project = this.#project(r);
    const states = project.services.length > 0 ? await serviceStates((await this.#serviceShell(r))) : new Map<string, SupervisorState>();
    const services = await Promise.all(project.services.map((def) => this.#serviceHealth(r, def, states.get(def.name))));
    let healthCheck: { exitCode: number; output: string } | null = null;
    if (project.hooks["health-check"]?.length) {
      const res = await this.#runHook(r, project, "health-check");
      healthCheck = { exitCode: res.exitCode, output: res.output };
    }
    const healthy = project.services.every((def) => isReady(states.get(def.name))) && (healthCheck === null || healthCheck.exitCode === 0);
    return { workspaceId: r.id, healthy, status: r.status, services, healthCheck };
  }

  /** After the container came back without us (engine restart, daemon restart): its services are started again (no hooks). */
  async #restoreServices(id: string): Promise<void> {
    // Under the workspace's lock: a stop or restart that comes meanwhile waits, and is not undone.
    await this.#exclusive(id, () => this.#restoreServicesNow(id)).catch((err: Error) => this.#d.log.warn(`restoring services: ${err.message}`));
  }

  async #restoreServicesNow(id: string): Promise<void> {
    const r = this.#d.store.get(id);
    if (!r || r.status !== "running") return;
    const project = this.#projectOrNone(r);
    if (!project?.services.length) return;
    try {
      await this.#d.ssh.waitReady(r.id, this.#target(r), READY_TIMEOUT_MS);
      const notStarted = await startServices((await this.#serviceShell(r)), project.services, { deadline: Date.now() + DEFAULT_BRING_UP_SECONDS * 1000 });
      for (const [name, why] of notStarted) this.#d.log.warn(`${r.name}: service ${name} ${why}`);
    } catch (err) {
      this.#d.log.warn(`${r.name}: restoring services: ${(err as Error).message}`);
    }
  }

  // ---- destroy ---------------------------------------------------------------------------------

  async destroy(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const r0 = this.resolve(ref);
    return this.#exclusive(r0.id, () => this.#destroy(r0.id, opts));
  }

  async #destroy(id: string, opts: { force?: boolean }): Promise<void> {
    const d = this.#d;
    const r = this.resolve(id);
    if (r.status === "pending" || this.#creating.has(r.name)) {
      throw errors.invalidState(r.name, "being created", "created first", "Wait for the create to finish, then destroy it");
    }
    if (!opts.force && r.worktree && existsSync(r.worktree.path)) {
      const wip = await git.workInProgress(r.worktree.path, r.worktree.branch);
      if (wip.uncommitted.length > 0 || wip.unpushedCommits > 0) {
        const what = [
          wip.uncommitted.length > 0 ? `${wip.uncommitted.length} uncommitted change(s)` : "",
          wip.unpushedCommits > 0 ? `${wip.unpushedCommits} commit(s) on no other branch or remote` : "",
        ].filter(Boolean).join(" and ");
        throw new NexusError("INVALID_STATE", `Workspace '${r.name}' has ${what} in ${r.worktree.path}`, {
          suggestion: `Commit and push (or merge) them first, or run 'nexus destroy ${r.name} --force' to discard them (the branch ${r.worktree.branch} is kept)`,
          details: { workspaceName: r.name, uncommitted: wip.uncommitted.slice(0, 20), unpushedCommits: wip.unpushedCommits },
        });
      }
    }
    // A clone Nexus made for this workspace (-r) goes too, unless it holds commits that are nowhere
    // else (on any of its branches, not only the workspace's): then the clone is what keeps them, and it stays.
    if (r.repository?.cloned && r.worktree) {
      const where = existsSync(r.worktree.path) ? r.worktree.path : r.repository.path;
      const unpushed = existsSync(where) ? await git.localOnlyCommits(where).catch(() => undefined) : 0;
      r.removeCloneOnDestroy = unpushed === 0;
      if (!r.removeCloneOnDestroy) d.log.info(`${r.name}: keeping the clone ${r.repository.path}: it has commits that are nowhere else`);
    }
    r.status = "destroying";
    r.updatedAt = new Date().toISOString();
    d.store.save(r);
    this.#publishStatus(r);
    await this.finishDestroy(r);
  }

  /** Removes everything of a workspace marked destroying; also used by reconcile after a crash. */
  async finishDestroy(r: WorkspaceRecord): Promise<void> {
    const d = this.#d;
    d.ssh.drop(r.id);
    if (r.containerId) await d.docker.removeContainer(r.containerId);
    for (const c of await d.docker.listContainers({ [LABELS.instance]: d.instance, [LABELS.workspaceId]: r.id })) {
      await d.docker.removeContainer(c.Id);
    }
    await d.docker.removeVolume(r.homeVolume);
    if (r.worktree && r.repository && existsSync(r.repository.path)) {
      const { path: repo } = r.repository;
      const wt = r.worktree.path;
      await this.#repoLocks.run(repo, () => git.removeWorktree(repo, wt));
    }
    if (r.removeCloneOnDestroy && r.repository?.cloned && r.repository.path.startsWith(join(d.paths.home, "repos") + "/")) {
      rmSync(r.repository.path, { recursive: true, force: true });
    }
    d.ports.release([r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)]);
    d.store.remove(r.id);
    this.#lastActive.delete(r.id);
    this.#clearActiveIf(r);
    this.#syncSshFiles();
    this.#publishStatus({ ...r, status: "destroyed" });
    d.log.info(`destroyed ${r.name} (${r.id})`);
  }

  #clearActiveIf(r: WorkspaceRecord): void {
    const file = this.#d.paths.activeWorkspace;
    if (existsSync(file) && [r.id, r.name].includes(readFileSync(file, "utf8").trim())) {
      writeFileAtomic(file, "");
    }
  }


  // ---- lifecycle -------------------------------------------------------------------------------

  /** Runs `fn` with the workspace's lifecycle lock: operations on one workspace never interleave. */
  #exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(id, fn);
  }

  #setStatus(r: WorkspaceRecord, status: WorkspaceStatus, error: WorkspaceRecord["error"] = null): void {
    this.#statusChanges.set(r.id, (this.#statusChanges.get(r.id) ?? 0) + 1);
    r.status = status;
    r.error = error;
    r.updatedAt = new Date().toISOString();
    const last = this.#lastActive.get(r.id);
    if (last && last > r.lastActiveAt) r.lastActiveAt = last;
    this.#d.store.save(r);
    this.#publishStatus(r);
  }

  /** Starts a stopped workspace (or one in error), re-creating its container if it is gone; authorized keys are refreshed. */
  async start(ref: string, opts: { agentSocket?: string } & BringUpOptions = {}, progress: ProgressSink = noProgress): Promise<StartResult> {
    const id = this.resolve(ref).id;
    const started = Date.now();
    const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Date.now() - started });
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      if (r.status === "running") {
        // The record may lag behind the engine (a container stopped behind our back): look.
        const live = r.containerId ? await this.#d.docker.inspect(r.containerId) : undefined;
        if (live?.State.Running && !live.State.Paused) {
          const project = this.#projectOrNone(r);
          const states = project?.services.length ? await this.#serviceShell(r).then(serviceStates).catch(() => new Map<string, SupervisorState>()) : new Map<string, SupervisorState>();
          const services = await Promise.all((project?.services ?? []).map((def) => this.#serviceHealth(r, def, states.get(def.name))));
          return { ...toView(r), services, durationMs: Date.now() - started };
        }
        r.status = live?.State.Paused ? "paused" : "stopped";
      }
      if (r.status === "paused") throw errors.invalidState(r.name, r.status, "stopped to start", `Resume it with 'nexus resume ${r.name}'`);
      if (r.status !== "stopped" && r.status !== "error") throw errors.invalidState(r.name, r.status, "stopped to start", `See 'nexus status ${r.name}'`);
      const d = this.#d;
      // A project configuration that does not parse stops the start before anything changes.
      const project = this.#project(r);
      try {
        const info = r.containerId ? await d.docker.inspect(r.containerId) : undefined;
        if (!info) {
          // The container is gone (removed by hand, engine reset) or was never made (a create cut
          // short whose worktree held edits): make what is missing from the record.
          const engine = await d.docker.ping();
          if (!this.#hostPublicKey(r)) r.hostKeyFingerprint = fingerprint(this.#makeHostKey(r).publicKey);
          if (!r.image) r.image = await d.docker.ensureWorkspaceImage(DEFAULT_BASE_IMAGE, () => {});
          if (!(await d.docker.volumeExists(r.homeVolume))) await d.docker.createVolume(r.homeVolume, this.#labels(r));
          r.containerId = await d.docker.createContainer(this.#containerSpec(r, this.#labels(r), engine.ncpu));
          d.store.save(r);
        } else if (info.State.Paused) {
          await d.docker.unpause(r.containerId!);
        }
        if (r.hostKeyRotationPending) this.#applyRotatedKey(r);
        await this.#installFiles(r, this.#hostKey(r), opts.agentSocket, project.env);
        step("start", "Starting container");
        await this.#startAndWait(r);
        this.#touch(r);
        this.#setStatus(r, "running");
        this.#syncSshFiles();
        const services = await this.#bringUp(r, project, opts, step);
        return { ...toView(r), services, durationMs: Date.now() - started };
      } catch (err) {
        const e = err instanceof NexusError ? err : new NexusError("WORKSPACE_START_FAILED", (err as Error).message);
        this.#setStatus(r, "error", { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) });
        throw e;
      }
    });
  }

  /** Stops the container (SIGTERM, then SIGKILL after `timeoutSeconds`); processes end, files stay. */
  async stop(ref: string, opts: { timeoutSeconds?: number; onlyIf?: () => Promise<boolean> } = {}): Promise<WorkspaceView> {
    const id = this.resolve(ref).id;
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      if (r.status === "stopped") return toView(r);
      if (opts.onlyIf && !(await opts.onlyIf())) return toView(r);
      if (r.status !== "running" && r.status !== "paused" && r.status !== "error") {
        throw errors.invalidState(r.name, r.status, "running or paused to stop", `See 'nexus status ${r.name}'`);
      }
      const d = this.#d;
      const live = r.containerId ? await d.docker.inspect(r.containerId) : undefined;
      const project = live ? this.#projectOrNone(r) : undefined;
      if (live && r.containerId) {
        if (live.State.Paused) await d.docker.unpause(r.containerId);
        // pre-stop hook, then services in reverse order, while SSH still answers.
        if (live.State.Running) await this.#bringDown(r, project);
        d.ssh.drop(r.id);
        await d.docker.stop(r.containerId, opts.timeoutSeconds ?? 30);
      }
      d.ssh.drop(r.id);
      this.#setStatus(r, "stopped");
      if (live) await this.#postStop(r, project);
      return toView(r);
    });
  }

  async restart(ref: string, opts: { timeoutSeconds?: number; agentSocket?: string } & BringUpOptions = {}): Promise<StartResult> {
    await this.stop(ref, opts);
    return this.start(ref, opts);
  }

  /** Freezes every process of the workspace (cgroup freezer): memory and processes are kept, resume is near-instant. */
  async pause(ref: string, opts: { onlyIf?: () => Promise<boolean> } = {}): Promise<WorkspaceView> {
    const id = this.resolve(ref).id;
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      if (r.status === "paused") return toView(r);
      if (opts.onlyIf && !(await opts.onlyIf())) return toView(r);
      this.#requireRunning(r, "pause it");
      await this.#d.docker.pause(r.containerId!);
      this.#setStatus(r, "paused");
      return toView(r);
    });
  }

  /** Thaws a paused workspace; reports how long it took. A running one resumes in 0 ms. */
  async resume(ref: string, opts: { blocking?: boolean; timeoutSeconds?: number } = {}): Promise<ResumeResult> {
    const id = this.resolve(ref).id;
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      const started = performance.now();
      if (r.status === "paused") {
        await this.#d.docker.unpause(r.containerId!);
        this.#touch(r);
        this.#setStatus(r, "running");
      } else if (r.status !== "running") {
        throw errors.invalidState(r.name, r.status, "paused to resume", r.status === "stopped" ? `Start it with 'nexus start ${r.name}'` : `See 'nexus status ${r.name}'`);
      }
      const durationMs = Math.round(performance.now() - started);
      // Services were frozen with everything else; with blocking (the default) the answer waits until they answer again.
      const project = this.#projectOrNone(r);
      if (!project?.services.length) return { workspaceId: r.id, status: r.status, durationMs, services: [] };
      const sh = (await this.#serviceShell(r));
      const names = project.services.map((sv) => sv.name);
      const states = await (opts.blocking === false ? serviceStates(sh) : waitReady(sh, names, Date.now() + (opts.timeoutSeconds ?? DEFAULT_BRING_UP_SECONDS) * 1000)).catch(() => new Map<string, SupervisorState>());
      const services = await Promise.all(project.services.map((def) => this.#serviceHealth(r, def, states.get(def.name))));
      return { workspaceId: r.id, status: r.status, durationMs, services };
    });
  }

  /** Makes a workspace the active one (commands default to it) and resumes it when paused. */
  async switch(ref: string): Promise<{ workspaceId: string; name: string; status: WorkspaceStatus; previous: string | null; durationMs: number }> {
    const r = this.resolve(ref);
    const previous = this.active();
    const resumed = r.status === "paused" ? await this.resume(r.id) : undefined;
    writeFileAtomic(this.#d.paths.activeWorkspace, r.id + "\n");
    return { workspaceId: r.id, name: r.name, status: this.resolve(r.id).status, previous: previous && previous.id !== r.id ? previous.name : null, durationMs: resumed?.durationMs ?? 0 };
  }

  /** The active workspace, if one is set and still exists. */
  active(): WorkspaceRecord | undefined {
    const file = this.#d.paths.activeWorkspace;
    const ref = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    return ref ? (this.#d.store.get(ref) ?? this.#d.store.findByName(ref)) : undefined;
  }

  clearActive(): void {
    writeFileAtomic(this.#d.paths.activeWorkspace, "");
  }

  /** The URL of the workspace's first published web port. */
  url(ref: string): { workspaceId: string; url: string; containerPort: number; hostPort: number } {
    const r = this.resolve(ref);
    const port = r.ports.services[0];
    if (!port) {
      throw new NexusError("INVALID_STATE", `Workspace '${r.name}' publishes no port`, {
        suggestion: `Create it with a port ('nexus create ${r.name} -p 3000')`,
        details: { workspaceName: r.name },
      });
    }
    return { workspaceId: r.id, url: `http://localhost:${port.hostPort}`, containerPort: port.containerPort, hostPort: port.hostPort };
  }

  /** PATCH: resources apply live (docker update); idleTimeout and displayName are recorded. */
  async update(ref: string, input: UpdateWorkspaceInput): Promise<WorkspaceView> {
    const id = this.resolve(ref).id;
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      const d = this.#d;
      if (input.resources !== undefined) {
        const limits = resolveResources(input.resources);
        if (r.containerId && (await d.docker.inspect(r.containerId))) {
          const engine = await d.docker.ping();
          if (r.status === "running" || r.status === "paused") {
            const used = await d.docker.memoryUsage(r.containerId);
            if (limits.memoryBytes < used) {
              throw new NexusError("INVALID_ARGUMENT", `Workspace '${r.name}' uses ${formatBytes(used)} of memory now; a limit of ${formatBytes(limits.memoryBytes)} is below that`, {
                suggestion: "Pick a larger size, or stop what uses the memory first",
                details: { usedBytes: used, requestedBytes: limits.memoryBytes },
              });
            }
          }
          await d.docker.updateResources(r.containerId, { nanoCpus: Math.round(Math.min(limits.cpu, engine.ncpu) * 1e9), memoryBytes: limits.memoryBytes });
        }
        r.resources = limits;
      }
      if (input.idleTimeout !== undefined) r.idleTimeoutSeconds = input.idleTimeout;
      if (input.displayName !== undefined) r.displayName = input.displayName;
      if (input.forwardAgent !== undefined && input.forwardAgent !== r.forwardAgent) {
        r.forwardAgent = input.forwardAgent;
        // Connections that forward the agent must not outlive the switch.
        d.ssh.drop(r.id);
        this.#syncSshFiles();
      }
      r.updatedAt = new Date().toISOString();
      d.store.save(r);
      return toView(this.#withActivity(r));
    });
  }

  // ---- SSH access ------------------------------------------------------------------------------

  #forwardsAgent(r: WorkspaceRecord): boolean {
    return r.forwardAgent && this.#d.config.ssh.connection.forward_agent;
  }

  /** The spec's SSHInfo: where and how to connect, with the pinned host key's fingerprint. */
  sshInfo(ref: string): SshInfo {
    const r = this.resolve(ref);
    const user = this.#d.config.ssh.connection.user;
    const forwardAgent = this.#forwardsAgent(r);
    return {
      workspaceId: r.id,
      enabled: r.status === "running",
      host: "localhost",
      port: r.ports.ssh,
      user,
      forwardAgent,
      hostKeyFingerprint: r.hostKeyFingerprint,
      connectionCommand: `ssh ${forwardAgent ? "-A " : ""}${user}@localhost -p ${r.ports.ssh}`,
      configured: sshConfigIncluded(this.#d.hostUser.home, this.#d.paths.sshConfig),
      rotationPending: r.hostKeyRotationPending === true,
    };
  }

  /** The `Host nexus-<name>` block for this workspace (with its pinned key when asked). */
  sshConfig(ref: string, opts: { includeHostKey?: boolean } = {}): { configContent: string; hostEntryName: string } {
    const r = this.resolve(ref);
    let configContent = sshConfigBlock({ ...r, forwardAgent: this.#forwardsAgent(r) }, this.#d.config, this.#d.paths, this.#d.nexusBinary ? { nexusBinary: this.#d.nexusBinary } : {});
    const key = this.#hostPublicKey(r);
    if (opts.includeHostKey && key) configContent += `# pinned host key (in ${this.#d.paths.knownHosts}):\n# ${knownHostsLines(r, key).trim()}\n`;
    return { configContent, hostEntryName: hostAlias(r.name) };
  }

  /** Makes a new host key; it takes over (and is pinned, the old one unpinned) at the next start. */
  async rotateKeys(ref: string): Promise<{ workspaceId: string; status: string; message: string; nextFingerprint: string }> {
    const id = this.resolve(ref).id;
    return this.#exclusive(id, async () => {
      const r = this.resolve(id);
      const dir = join(this.#d.paths.workspaceDir(r.id), "ssh");
      const pair = generateEd25519(`nexus-${r.name}`);
      writeFileAtomic(join(dir, "next_ssh_host_ed25519_key"), pair.privateKey, 0o600);
      writeFileAtomic(join(dir, "next_ssh_host_ed25519_key.pub"), pair.publicKey + "\n", 0o644);
      r.hostKeyRotationPending = true;
      r.updatedAt = new Date().toISOString();
      this.#d.store.save(r);
      return {
        workspaceId: r.id,
        status: "pending-restart",
        message: `A new host key is ready; it takes effect when the workspace restarts ('nexus restart ${r.name}')`,
        nextFingerprint: fingerprint(pair.publicKey),
      };
    });
  }

  #applyRotatedKey(r: WorkspaceRecord): void {
    const dir = join(this.#d.paths.workspaceDir(r.id), "ssh");
    for (const suffix of ["", ".pub"]) renameSync(join(dir, `next_ssh_host_ed25519_key${suffix}`), join(dir, `ssh_host_ed25519_key${suffix}`));
    r.hostKeyFingerprint = fingerprint(this.#hostKey(r).publicKey);
    r.hostKeyRotationPending = false;
    this.#d.ssh.drop(r.id);
    this.#d.store.save(r);
  }

  // ---- idle ------------------------------------------------------------------------------------

  #idleTimeout(r: WorkspaceRecord): number {
    return r.idleTimeoutSeconds ?? this.#d.config.defaults.idle_timeout;
  }

  /**
   * Connections that mean someone uses the workspace: SSH connections other than the daemon's own
   * pooled one, and connections to its published ports from outside the container (a browser on
   * the dev server's URL; health probes and forwards come from inside, over loopback).
   */
  async #outsideConnections(r: WorkspaceRecord): Promise<{ ssh: number; published: number }> {
    const none = { ssh: 0, published: 0 };
    let target: SshTarget;
    try {
      target = this.#target(r);
    } catch {
      return none;
    }
    const chunks: Buffer[] = [];
    const res = await this.#d.ssh.exec(r.id, target, "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null", { onStdout: (b) => chunks.push(b) }).catch(() => undefined);
    if (!res) return none;
    // The daemon's own connections (the plain one that just ran this, one per agent `exec` forwarded) are not outside ones.
    return countConnections(Buffer.concat(chunks).toString("utf8"), r.ports.services.map((p) => p.containerPort), Math.max(1, this.#d.ssh.openConnections(r.id)));
  }

  async #idleView(r: WorkspaceRecord): Promise<IdleView> {
    const rec = this.#withActivity(r);
    const keptAwakeBy: string[] = [];
    const running = this.#running.get(r.id) ?? 0;
    if (running > 0) keptAwakeBy.push(`${running} command${running === 1 ? "" : "s"} running`);
    if (r.status === "running") {
      const { ssh, published } = await this.#outsideConnections(r);
      if (ssh > 0) keptAwakeBy.push(`${ssh} SSH connection${ssh === 1 ? "" : "s"}`);
      if (published > 0) keptAwakeBy.push(`${published} connection${published === 1 ? "" : "s"} to published ports`);
    }
    keptAwakeBy.push(...this.#awakeReasons(r.id));
    return {
      timeoutSeconds: this.#idleTimeout(r),
      action: this.#d.config.defaults.idle_action,
      lastActiveAt: rec.lastActiveAt,
      idleForSeconds: Math.max(0, Math.round((Date.now() - Date.parse(rec.lastActiveAt)) / 1000)),
      keptAwakeBy,
    };
  }

  /**
   * Pauses (or stops, per defaults.idle_action) running workspaces with no exec, no outside SSH
   * connection and no activity for their idle timeout. The daemon calls it on a timer.
   */
  async checkIdle(now = Date.now()): Promise<string[]> {
    const acted: string[] = [];
    for (const r of this.#d.store.list()) {
      if (r.status !== "running") continue;
      const timeout = this.#idleTimeout(r);
      if (timeout <= 0 || (this.#running.get(r.id) ?? 0) > 0 || this.#awakeReasons(r.id).length > 0) continue;
      if (now - Date.parse(this.#withActivity(r).lastActiveAt) < timeout * 1000) continue;
      try {
        const outside = await this.#outsideConnections(r);
        if (outside.ssh > 0 || outside.published > 0) {
          this.#touch(r);
          continue;
        }
        // Decided before the workspace's lock was taken: another operation may have held it meanwhile
        // (services coming back at daemon start, ...) while an exec or a connection began. Looked at again under it.
        const onlyIf = () => this.#stillIdle(r.id, now);
        const stopping = this.#d.config.defaults.idle_action === "stop";
        const after = stopping ? await this.stop(r.id, { onlyIf }) : await this.pause(r.id, { onlyIf });
        if (after.status !== (stopping ? "stopped" : "paused")) continue;
        this.#d.log.info(`idle for ${timeout} s: ${this.#d.config.defaults.idle_action === "stop" ? "stopped" : "paused"} ${r.name}`);
        acted.push(r.name);
      } catch (err) {
        this.#d.log.warn(`idle check of ${r.name}: ${(err as Error).message}`);
      }
    }
    return acted;
  }

  /** Idle still, under the workspace's lock: running, no exec, nothing keeping it awake, no activity, no outside connection. */
  async #stillIdle(id: string, now: number): Promise<boolean> {
    const r = this.#d.store.get(id);
    if (!r || r.status !== "running") return false;
    if ((this.#running.get(id) ?? 0) > 0 || this.#awakeReasons(id).length > 0) return false;
    if (now - Date.parse(this.#withActivity(r).lastActiveAt) < this.#idleTimeout(r) * 1000) return false;
    const outside = await this.#outsideConnections(r);
    return outside.ssh === 0 && outside.published === 0;
  }

  // ---- tunnels ---------------------------------------------------------------------------------

  /** Reasons other parts give for keeping a workspace awake (open forwarded connections, ...). */
  readonly #awakeSources = new Set<(workspaceId: string) => string | undefined>();

  /** A TCP connection to `containerPort` on the workspace's loopback, over its pooled SSH connection. */
  async openTunnel(ref: string, containerPort: number): Promise<Duplex> {
    const r = this.resolve(ref);
    this.#requireRunning(r, "forward a port into it");
    this.#touch(r);
    try {
      return await this.#d.ssh.forwardOut(r.id, this.#target(r), containerPort);
    } catch (err) {
      if (!(err instanceof NexusError && err.code === "INVALID_STATE")) throw err;
      throw new NexusError("INVALID_STATE", `Nothing listens on port ${containerPort} inside workspace '${r.name}'`, {
        suggestion: `Start the server first (e.g. 'nexus exec ${r.name} -- ...'); any address inside works for a forward, 127.0.0.1 included`,
        details: { workspaceName: r.name, containerPort },
      });
    }
  }

  /** Counts as activity for idle detection (forwarded bytes, ...). */
  touch(ref: string): void {
    this.#touch(this.resolve(ref));
  }

  /** `source` says what keeps a workspace awake (or undefined); checkIdle leaves such a workspace alone. Returns the remover. */
  addAwakeSource(source: (workspaceId: string) => string | undefined): () => void {
    this.#awakeSources.add(source);
    return () => void this.#awakeSources.delete(source);
  }

  #awakeReasons(workspaceId: string): string[] {
    return [...this.#awakeSources].map((s) => s(workspaceId)).filter((x): x is string => !!x);
  }

  // ---- shared ----------------------------------------------------------------------------------

  #publishStatus(r: WorkspaceRecord): void {
    this.#d.events.publish({ type: "workspace.status", payload: { workspaceId: r.id, name: r.name, status: r.status } });
  }

  #syncSshFiles(): void {
    writeSshFiles(this.#d.store.list(), (r) => this.#hostPublicKey(r), this.#d.config, this.#d.paths, this.#d.nexusBinary ? { nexusBinary: this.#d.nexusBinary } : {});
  }

  /** Brings records in line with what the engine has: run once at daemon start. */
  async reconcile(): Promise<void> {
    const d = this.#d;
    const records = d.store.load();
    d.ports.claim(records.flatMap((r) => [r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)]));
    const all = await d.docker.listContainers({ [LABELS.instance]: d.instance });
    // One-off hook containers left by a daemon killed mid-hook are never a workspace's container.
    for (const c of all.filter((c) => c.Labels[LABELS.role] === "hook")) await d.docker.removeContainer(c.Id);
    const containers = all.filter((c) => c.Labels[LABELS.role] !== "hook");
    const byWorkspace = new Map(containers.map((c) => [c.Labels[LABELS.workspaceId], c]));
    for (const r of records) {
      const c = byWorkspace.get(r.id);
      try {
        if (r.status === "destroying") {
          await this.finishDestroy(r);
          continue;
        }
        if (r.status === "pending") {
          await this.#reconcilePending(r);
          continue;
        }
        const next: WorkspaceStatus = !c ? "error" : c.State === "running" ? "running" : c.State === "paused" ? "paused" : "stopped";
        if (next !== r.status) {
          r.status = next;
          r.error = c ? null : { code: "CONTAINER_ERROR", message: "The workspace's container is gone" };
          r.updatedAt = new Date().toISOString();
          d.store.save(r);
          this.#publishStatus(r);
        }
      } catch (err) {
        d.log.warn(`reconcile ${r.name}: ${(err as Error).message}`);
      }
    }
    // Containers and volumes of ours that no record owns are leftovers of a create cut short.
    const known = new Set(d.store.list().map((r) => r.id));
    for (const c of containers) {
      if (!known.has(c.Labels[LABELS.workspaceId] ?? "")) {
        d.log.info(`reconcile: removing orphan container ${c.Names[0] ?? c.Id}`);
        await d.docker.removeContainer(c.Id);
      }
    }
    for (const v of await d.docker.listVolumes({ [LABELS.instance]: d.instance })) {
      if (!known.has(v.Labels[LABELS.workspaceId] ?? "")) {
        d.log.info(`reconcile: removing orphan volume ${v.Name}`);
        await d.docker.removeVolume(v.Name);
      }
    }
    this.#syncSshFiles();
    // Services of running workspaces: started again where their supervisor is gone (a no-op where it runs).
    for (const r of d.store.list()) if (r.status === "running") void this.#restoreServices(r.id);
  }

  /** A create the daemon did not finish: undo it, unless the user already put work in its worktree. */
  async #reconcilePending(r: WorkspaceRecord): Promise<void> {
    const d = this.#d;
    if (r.worktree && existsSync(r.worktree.path)) {
      const wip = await git.workInProgress(r.worktree.path, r.worktree.branch).catch(() => undefined);
      if (!wip || wip.uncommitted.length > 0 || wip.unpushedCommits > 0) {
        r.status = "error";
        r.error = { code: "WORKSPACE_START_FAILED", message: "The daemon stopped while creating this workspace; its worktree holds changes, so it was kept" };
        d.store.save(r);
        return;
      }
    }
    d.log.info(`reconcile: rolling back unfinished create of ${r.name}`);
    await this.finishDestroy(r);
    if (r.worktree?.branchCreated && r.repository) await git.deleteBranch(r.repository.path, r.worktree.branch);
    if (r.repository?.cloned) rmSync(r.repository.path, { recursive: true, force: true });
  }

  /**
   * Keeps records in step with the engine while the daemon runs: a container stopped, killed,
   * paused or removed behind the daemon's back (or while it was restarting) shows in the record.
   */
  watchEngine(signal: AbortSignal): void {
    const tracked = new Set(["start", "die", "stop", "kill", "pause", "unpause", "destroy", "oom", "restart"]);
    void this.#d.docker.watchContainerEvents(
      { [LABELS.instance]: this.#d.instance },
      (e) => {
        if (e.workspaceId && tracked.has(e.action)) void this.refresh(e.workspaceId).catch((err: Error) => this.#d.log.warn(`refresh ${e.workspaceId}: ${err.message}`));
      },
      signal,
      // Back after an engine restart: what happened meanwhile is read from the engine again.
      () => {
        for (const r of this.#d.store.list()) void this.refresh(r.id).catch(() => {});
      },
    );
  }

  /** Sets a workspace's status from its container's real state (under the workspace's lock). */
  async refresh(id: string): Promise<void> {
    if (!this.#d.store.get(id)) return;
    await this.#exclusive(id, async () => {
      const r = this.#d.store.get(id);
      if (!r || !["running", "paused", "stopped"].includes(r.status)) return; // mid-create/destroy, or error: left to those paths
      const info = r.containerId ? await this.#d.docker.inspect(r.containerId) : undefined;
      const next: WorkspaceStatus = !info ? "error" : info.State.Paused ? "paused" : info.State.Running ? "running" : "stopped";
      if (next === r.status) return;
      if (next !== "running") this.#d.ssh.drop(r.id);
      const cameBack = next === "running" && r.status === "stopped";
      this.#setStatus(r, next, info ? null : { code: "CONTAINER_ERROR", message: "The workspace's container is gone" });
      // The container started without us (engine restart, restart policy): its supervisors are gone, start the services again.
      if (cameBack) void this.#restoreServices(r.id);
    });
  }

  /** Closes pooled connections (daemon shutdown); lastActiveAt is flushed to the records. */
  shutdown(): void {
    for (const [id, at] of this.#lastActive) {
      const r = this.#d.store.get(id);
      if (r && at > r.lastActiveAt) this.#d.store.save({ ...r, lastActiveAt: at });
    }
    this.#d.ssh.closeAll();
  }
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${Math.round(n / 1024 ** 2)} MB`;
}

/**
 * Counts ESTABLISHED connections in /proc/net/tcp{,6} text: on port 22 (less the daemon's own), and on
 * `published` ports from a non-loopback peer.
 */
export function countConnections(procNetTcp: string, published: readonly number[], ownSsh = 1): { ssh: number; published: number } {
  let ssh = 0;
  let outside = 0;
  for (const line of procNetTcp.split("\n")) {
    const m = /^\s*\d+:\s+[0-9A-Fa-f]+:([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]+):[0-9A-Fa-f]{4}\s+01\s/.exec(line);
    if (!m) continue;
    const port = parseInt(m[1]!, 16);
    const peer = m[2]!.toUpperCase();
    // Addresses are 32-bit words in host byte order: 127.x.y.z ends in 7F; ::1 and ::ffff:127.x.y.z likewise.
    const loopbackPeer =
      (peer.length === 8 && peer.endsWith("7F")) ||
      peer === "00000000000000000000000001000000" ||
      (peer.length === 32 && peer.startsWith("0000000000000000FFFF0000") && peer.endsWith("7F"));
    if (port === 22) ssh++;
    else if (published.includes(port) && !loopbackPeer) outside++;
  }
  return { ssh: Math.max(0, ssh - ownSsh), published: outside };
}

/** The in-container service supervisor, as files for the container's root. */
function supervisorFiles(): TarEntry[] {
  return [
    { name: "usr/local/lib/nexus", type: "dir", mode: 0o755 },
    { name: SUPERVISOR_PATH.slice(1), content: SUPERVISOR_PY, mode: 0o755 },
  ];
}

/** Every host port a record holds. */
function recordPorts(r: WorkspaceRecord): number[] {
  return [r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)];
}

function portMappings(hostPorts: readonly number[], containerPorts: readonly number[]): WorkspaceRecord["ports"] {
  return {
    ssh: hostPorts[0]!,
    services: containerPorts.map((p, i): PortMapping => ({ name: `port-${p}`, containerPort: p, hostPort: hostPorts[i + 1]! })),
  };
}

/** A resources value (preset or {cpu, memory}) as limits. */
export function resolveResources(value: string | { cpu: number; memory: number }): ResourceLimits {
  if (typeof value === "string") {
    const preset = RESOURCE_PRESETS[value as keyof typeof RESOURCE_PRESETS];
    if (!preset) throw errors.invalidArgument(`Unknown resources preset '${value}'`, "Use small, medium, large, xlarge or {cpu, memory}");
    return { preset: value, cpu: preset.cpu, memoryBytes: preset.memoryBytes };
  }
  return { cpu: value.cpu, memoryBytes: typeof value.memory === "number" ? value.memory : parseSize(value.memory) ?? 0 };
}
