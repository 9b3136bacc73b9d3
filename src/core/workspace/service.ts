// The façade every transport calls (REST, gRPC, WebSocket, the CLI in-process): one object with the
// workspace operations, each handed to the part that holds its idea. It holds no behaviour itself.
import type { Duplex } from "node:stream";
import type { ContainerEngine, ContainerSpec, EngineDirectory } from "../../docker/container-engine.ts";
import { listEngines, type EngineView } from "../engines.ts";
import type { ExecExit, PtyChannel, PtySize } from "../../ssh/pool.ts";
import type { HookResult } from "../hooks.ts";
import type { CreateWorkspaceInput, ExecInput, ListWorkspacesInput, UpdateWorkspaceInput } from "../inputs.ts";
import type { LogEntry } from "../services.ts";
import type { BringUpOptions, ResumeResult, ServiceHealthView, ServiceView, SshInfo, StartResult, WorkspaceRecord, WorkspaceStatus, WorkspaceStatusView, WorkspaceView } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { WorkspaceAccess } from "./access.ts";
import { WorkspaceChannel, type ExecStreams } from "./channel.ts";
import { WorkspaceContainer } from "./container.ts";
import { noProgress, WorkspaceContext, type RemoteSync, type ServicePortForwarder, type WorkspaceServiceDeps, type WorkspaceSshEndpoint } from "./context.ts";
import { WorkspaceCreator } from "./create.ts";
import { GitSync } from "../git-sync/service.ts";
import { IdleWatch } from "./idle.ts";
import { WorkspaceLifecycle, type StartLockedOptions } from "./lifecycle.ts";
import { WorkspaceReconciler } from "./reconcile.ts";
import { WorkspaceServices } from "./services.ts";
import { workspaceUrl, type WorkspaceUrl } from "./url.ts";
import { WorkspaceViews } from "./views.ts";
import { AutoResume, type Resumed } from "./wake.ts";
import { WorkspaceArchive, type ArchiveRead, type ArchiveWrite } from "./archive.ts";
import type { CheckpointHooks } from "./checkpoint-hooks.ts";
import { containerSpec } from "./spec.ts";
import { applyContainerOptions } from "../devcontainer.ts";
import type { TarEntry } from "../../docker/tar.ts";

export type { ServicePortForwarder, WorkspaceServiceDeps } from "./context.ts";
export type { CheckpointHooks, CheckpointSeed } from "./checkpoint-hooks.ts";

/** Workspace operations: the only place with behaviour. Every transport calls these. */
export class WorkspaceService {
  readonly #c: WorkspaceContext;
  readonly #channel: WorkspaceChannel;
  readonly #services: WorkspaceServices;
  readonly #lifecycle: WorkspaceLifecycle;
  readonly #creator: WorkspaceCreator;
  readonly #access: WorkspaceAccess;
  readonly #idle: IdleWatch;
  readonly #views: WorkspaceViews;
  readonly #reconciler: WorkspaceReconciler;
  readonly #wake: AutoResume;
  readonly #archive: WorkspaceArchive;
  readonly #container: WorkspaceContainer;

  constructor(deps: WorkspaceServiceDeps) {
    const c = (this.#c = new WorkspaceContext(deps));
    this.#channel = new WorkspaceChannel(c);
    const channel = this.#channel;
    c.git = new GitSync({
      paths: deps.paths,
      log: deps.log,
      owner: deps.hostUser,
      exec: (r, line, streams) => deps.ssh.exec(r.id, channel.target(r), line, streams),
      runOneOff: (options, timeoutMs) => deps.docker.runOneOff(options, timeoutMs),
    });
    this.#services = new WorkspaceServices(c, this.#channel);
    const container = (this.#container = new WorkspaceContainer(c, this.#channel));
    this.#lifecycle = new WorkspaceLifecycle(c, container, this.#services);
    this.#creator = new WorkspaceCreator(c, container, this.#services);
    this.#access = new WorkspaceAccess(c, this.#lifecycle);
    this.#idle = new IdleWatch(c, this.#channel);
    this.#views = new WorkspaceViews(c, this.#channel, this.#services, this.#idle);
    this.#reconciler = new WorkspaceReconciler(c, this.#lifecycle, this.#services);
    this.#wake = new AutoResume(c, this.#lifecycle);
    this.#archive = new WorkspaceArchive(c, this.#wake);
  }

  // ---- lookups and views (views.ts) -------------------------------------------------------------

  /** A workspace by id or name. */
  resolve(ref: string): WorkspaceRecord {
    return this.#c.resolve(ref);
  }
  get(ref: string): WorkspaceView {
    return this.#views.get(ref);
  }
  list(filter: ListWorkspacesInput = {}): WorkspaceView[] {
    return this.#views.list(filter);
  }
  status(ref: string): Promise<WorkspaceStatusView> {
    return this.#views.status(ref);
  }

  // ---- create (create.ts) and lifecycle (lifecycle.ts) ------------------------------------------

  create(input: CreateWorkspaceInput, progress: ProgressSink = noProgress, opts: BringUpOptions = {}): Promise<StartResult> {
    return this.#creator.create(input, progress, opts);
  }
  start(ref: string, opts: { agentSocket?: string } & BringUpOptions = {}, progress: ProgressSink = noProgress): Promise<StartResult> {
    return this.#lifecycle.start(ref, opts, progress);
  }
  stop(ref: string, opts: { timeoutSeconds?: number; onlyIf?: () => Promise<boolean> } = {}): Promise<WorkspaceView> {
    return this.#lifecycle.stop(ref, opts);
  }
  restart(ref: string, opts: { timeoutSeconds?: number; agentSocket?: string } & BringUpOptions = {}): Promise<StartResult> {
    return this.#lifecycle.restart(ref, opts);
  }
  pause(ref: string, opts: { onlyIf?: () => Promise<boolean>; timeoutSeconds?: number } = {}): Promise<WorkspaceView> {
    return this.#lifecycle.pause(ref, opts);
  }
  resume(ref: string, opts: { blocking?: boolean; timeoutSeconds?: number } = {}): Promise<ResumeResult> {
    return this.#lifecycle.resume(ref, opts);
  }
  update(ref: string, input: UpdateWorkspaceInput): Promise<WorkspaceView> {
    return this.#lifecycle.update(ref, input);
  }
  destroy(ref: string, opts: { force?: boolean; keepCheckpoints?: boolean } = {}): Promise<void> {
    return this.#lifecycle.destroy(ref, opts);
  }
  /** Removes everything of a workspace marked destroying; also used by reconcile after a crash. */
  finishDestroy(r: WorkspaceRecord): Promise<void> {
    return this.#lifecycle.finishDestroy(r);
  }

  // ---- for checkpoints (src/core/checkpoints/): they work under the workspace's lock --------------

  setCheckpoints(hooks: CheckpointHooks): void {
    this.#c.checkpoints = hooks;
  }
  /** status.sync comes from the sync service (src/core/sync/). */
  setSyncSummary(fn: (r: WorkspaceRecord) => { provider: string; status: string; lastSyncAt: string | null }): void {
    this.#c.syncSummary = fn;
  }
  /** `fn` under the workspace's lifecycle lock; inside it, stopLocked/startLocked stand for stop/start. */
  exclusive<T>(ref: string, fn: (r: WorkspaceRecord) => Promise<T>): Promise<T> {
    return this.#c.locked(ref, fn);
  }
  stopLocked(id: string, opts: { timeoutSeconds?: number; beforeEngineStop?: () => void; kill?: boolean } = {}): Promise<WorkspaceView> {
    return this.#lifecycle.stopLocked(id, opts);
  }
  /** No pre-stop hook, no services, files on this machine: a restore may end the container frozen (lifecycle.ts). */
  quietStop(r: WorkspaceRecord): boolean {
    return this.#lifecycle.quietStop(r);
  }
  startLocked(id: string, opts: StartLockedOptions = {}, progress: ProgressSink = noProgress): Promise<StartResult> {
    return this.#lifecycle.startLocked(id, opts, progress);
  }
  /** The container a record describes (restore makes a new one beside the old, then swaps them). */
  containerSpecFor(r: WorkspaceRecord, ncpu: number): ContainerSpec {
    const d = this.#c.d;
    const remote = this.#c.isRemote(r);
    const spec = containerSpec(r, this.#container.labels(r), ncpu, d.hostUser, remote ? [] : this.#c.git.mounts(r), remote);
    // As start makes it: devcontainer.json's container options too.
    applyContainerOptions(spec, this.#c.projectOrNone(r), r.mountPath);
    return spec;
  }
  /** Commits made inside reach the host branch (and its index), so a worktree snapshot sees them; a sync only when refs moved. Answers HEAD inside. */
  syncGit(r: WorkspaceRecord): Promise<{ insideHead?: string }> {
    return this.#c.git.syncIfMoved(r);
  }
  /** Brings the commits of a running workspace's branch to the host (and the host's to it) now; sync flush calls it. */
  async syncCommits(r: WorkspaceRecord): Promise<void> {
    await this.#c.git.sync(r);
  }

  /** The workspace's own git index, read on the host: only while its container is frozen or stopped (a checkpoint). */
  gitIndexWhileStill(r: WorkspaceRecord): ReturnType<GitSync["readIndexWhileStill"]> {
    return this.#c.git.readIndexWhileStill(r);
  }
  /** Where the workspace's own git index is inside its container (none without a repository). */
  gitIndexInside(r: WorkspaceRecord): string | undefined {
    return this.#c.git.indexPathInside(r);
  }
  /** The files start writes into the container (host key, keys, env, ...), rooted at `/`; none while a host key rotation waits (start writes those itself). */
  async startFiles(r: WorkspaceRecord): Promise<TarEntry[] | undefined> {
    if (r.hostKeyRotationPending) return undefined;
    return this.#container.files(r, this.#c.hostKeys.read(r.id), undefined, this.#c.projectOrNone(r)?.env ?? {});
  }
  /** Saves a record a checkpoint restore changed (new container and home volume). */
  saveRecord(r: WorkspaceRecord): void {
    this.#c.d.store.save(r);
  }

  // ---- copying files in and out, anywhere in the container (archive.ts; nexus cp) -------------

  readArchive(ref: string, path: string): Promise<ArchiveRead> {
    return this.#archive.read(ref, path);
  }
  writeArchive(ref: string, path: string, archive: NodeJS.ReadableStream): Promise<ArchiveWrite> {
    return this.#archive.write(ref, path, archive);
  }

  // ---- the channel into a running workspace (channel.ts) ---------------------------------------

  // A paused workspace is resumed first (wake.ts); `onResumed` / `resumed` tell the caller.
  async exec(ref: string, input: ExecInput, streams: ExecStreams & { onResumed?: (r: Resumed) => void } = {}): Promise<ExecExit> {
    const resumed = await this.#wake.ifPaused(ref);
    if (resumed) streams.onResumed?.(resumed);
    return this.#channel.exec(ref, input, streams);
  }
  async execCollect(ref: string, input: ExecInput, stdin?: ExecStreams["stdin"]): Promise<{ exitCode: number; signal?: string; stdout: string; stderr: string; resumed?: Resumed }> {
    const resumed = await this.#wake.ifPaused(ref);
    return { ...(await this.#channel.execCollect(ref, input, stdin)), ...(resumed ? { resumed } : {}) };
  }
  /** Runs a read-only shell line in a running workspace without counting it as activity (status probes). */
  inspect(ref: string, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.#channel.inspect(ref, script);
  }
  openTunnel(ref: string, containerPort: number): Promise<Duplex> {
    return this.#channel.openTunnel(ref, containerPort);
  }
  /** A command on a pseudo-terminal (sessions' interactive attach); not activity by itself. */
  async openTerminal(ref: string, commandLine: string, size: PtySize): Promise<PtyChannel> {
    await this.#wake.ifPaused(ref);
    return this.#channel.openTerminal(ref, commandLine, size);
  }

  // ---- hooks and services (services.ts) ---------------------------------------------------------

  /** Lets service ports that were not published at create be reached through a daemon forward. */
  setPortForwarder(forwarder: ServicePortForwarder): void {
    this.#c.forwarder = forwarder;
  }
  async runHook(ref: string, hook: string, opts: { timeoutSeconds?: number } = {}): Promise<HookResult & { workspaceId: string; resumed?: Resumed }> {
    // post-stop runs in a one-off container: nothing to resume for it.
    const resumed = hook === "post-stop" ? undefined : await this.#wake.ifPaused(ref);
    return { ...(await this.#services.runHook(ref, hook, opts)), ...(resumed ? { resumed } : {}) };
  }
  listServices(ref: string): Promise<{ workspaceId: string; services: ServiceView[] }> {
    return this.#services.listServices(ref);
  }
  async serviceLogs(ref: string, service: string, opts: { tail: number; follow: boolean; since?: string; signal?: AbortSignal; onResumed?: (r: Resumed) => void }, onEntry: (e: LogEntry) => unknown): Promise<void> {
    const resumed = await this.#wake.ifPaused(ref);
    if (resumed) opts.onResumed?.(resumed);
    return this.#services.serviceLogs(ref, service, opts, onEntry);
  }
  async restartService(ref: string, service: string, opts: { timeoutSeconds?: number } = {}): Promise<ServiceHealthView & { workspaceId: string; durationMs: number; resumed?: Resumed }> {
    const resumed = await this.#wake.ifPaused(ref);
    return { ...(await this.#services.restartService(ref, service, opts)), ...(resumed ? { resumed } : {}) };
  }
  health(ref: string): Promise<{ workspaceId: string; healthy: boolean; status: WorkspaceStatus; services: ServiceHealthView[]; healthCheck: { exitCode: number; output: string } | null }> {
    return this.#services.health(ref);
  }

  // ---- access from the host (access.ts) ---------------------------------------------------------

  switch(ref: string): Promise<{ workspaceId: string; name: string; status: WorkspaceStatus; previous: string | null; durationMs: number }> {
    return this.#access.switch(ref);
  }
  active(): WorkspaceRecord | undefined {
    return this.#access.active();
  }
  clearActive(): void {
    this.#access.clearActive();
  }
  async url(ref: string): Promise<WorkspaceUrl> {
    const r = this.#c.resolve(ref);
    const { services } = r.status === "running" ? await this.#services.listServices(r.id).catch(() => ({ services: [] as ServiceView[] })) : { services: [] };
    return workspaceUrl(r, services, this.#channel);
  }
  sshInfo(ref: string): SshInfo {
    return this.#access.sshInfo(ref);
  }
  sshConfig(ref: string, opts: { includeHostKey?: boolean } = {}): { configContent: string; hostEntryName: string } {
    return this.#access.sshConfig(ref, opts);
  }
  rotateKeys(ref: string): Promise<{ workspaceId: string; status: string; message: string; nextFingerprint: string }> {
    return this.#access.rotateKeys(ref);
  }

  // ---- activity and idle (activity.ts, idle.ts) -------------------------------------------------

  /** Pauses (or stops) idle workspaces; the daemon calls it on a timer. */
  checkIdle(now = Date.now()): Promise<string[]> {
    return this.#idle.check(this, now);
  }
  /** Counts as activity for idle detection (forwarded bytes, ...). */
  touch(ref: string): void {
    this.#c.activity.touch(this.#c.resolve(ref).id);
  }
  /** `source` says what keeps a workspace awake (or undefined); checkIdle leaves such a workspace alone. Returns the remover. */
  addAwakeSource(source: (workspaceId: string) => string | undefined): () => void {
    return this.#c.activity.addAwakeSource(source);
  }

  // ---- the engine's view (reconcile.ts) ---------------------------------------------------------

  reconcile(): Promise<void> {
    return this.#reconciler.reconcile();
  }
  watchEngine(signal: AbortSignal): void {
    this.#reconciler.watchEngine(signal);
  }
  refresh(id: string): Promise<void> {
    return this.#reconciler.refresh(id);
  }

  /** Closes pooled connections (daemon shutdown); lastActiveAt is flushed to the records. */
  shutdown(): void {
    this.#c.activity.flush(this.#c.d.store);
    this.#c.d.store.flushPending();
    this.#c.d.ssh.closeAll();
    this.#c.d.engines?.close?.();
  }

  /** The configured engines, reachable or not (an extension: `nexus engines`, GET /api/v1/engines). */
  engines(): Promise<EngineView[]> {
    const d = this.#c.d;
    const dir: EngineDirectory = d.engines ?? { names: () => ["local"], has: (n) => n === "local", info: () => ({ name: "local", host: d.docker.address, remote: false, workspaces: true }), isRemote: () => false, get: () => d.docker };
    return listEngines(dir, d.store.list(), d.config.defaults.engine);
  }

  /** The engine a workspace runs on (for stats). */
  engineOf(r: WorkspaceRecord): ContainerEngine {
    return this.#c.engine(r);
  }

  /** File sync for remote workspaces (the daemon wires src/sync/ in); without it remote create is SYNC_PROVIDER_NOT_FOUND. */
  setRemoteSync(sync: RemoteSync): void {
    this.#c.remoteSync = sync;
  }

  /** Where this machine reaches a workspace's sshd (a remote one's through the engine connection): for sync. */
  sshEndpoint(ref: string): WorkspaceSshEndpoint {
    return this.#c.sshEndpoint(this.#c.resolve(ref));
  }
}
