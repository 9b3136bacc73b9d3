// Lifecycle operations of an existing workspace: start, stop, restart, pause, resume, update,
// destroy. Each runs under the workspace's lock and asks the transition table (state.ts) first.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_BASE_IMAGE } from "../../docker/engine.ts";
import { LABELS } from "../../docker/labels.ts";
import * as git from "../../git/git.ts";
import { fingerprint } from "../../ssh/keys.ts";
import { NexusError } from "../../kernel/errors.ts";
import { planLeftovers, Trash } from "../trash.ts";
import { keptDevcontainer } from "../devcontainer.ts";
import type { UpdateWorkspaceInput } from "../inputs.ts";
import { toView, type BringUpOptions, type ResumeResult, type StartResult, type WorkspaceRecord, type WorkspaceView } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { noProgress } from "./context.ts";
import { clearActiveRefIf } from "../../store/active-workspace.ts";
import { workspaceNames } from "./names.ts";
import { recordPorts, resolveResources } from "./plan.ts";
import { nanoCpus, workspaceVolume } from "./spec.ts";
import { check, refusal, requireRunning, target, transition } from "./state.ts";
import { WorkspaceBringUp } from "./bring-up.ts";

/** start's options inside the lock; a restore releases the ports it held right before the container starts. */
export type StartLockedOptions = {
  agentSocket?: string;
  beforeContainerStart?: () => Promise<void>;
  /** The container holds the workspace's files already (a restore copied them in with the checkpoint's). */
  filesInstalled?: boolean;
  /** Closes a phase of the caller's timing at each step (a restore's split; see bring-up.ts boot). */
  mark?: (phase: string) => void;
} & BringUpOptions;

export class WorkspaceLifecycle extends WorkspaceBringUp {
  /** Starts a stopped workspace (or one in error), re-creating its container if it is gone; authorized keys are refreshed. */
  async start(ref: string, opts: { agentSocket?: string } & BringUpOptions = {}, progress: ProgressSink = noProgress): Promise<StartResult> {
    const c = this.c;
    return c.locked(ref, (r) => this.startLocked(r.id, opts, progress));
  }

  /** start's body; the caller holds the workspace's lock (a checkpoint restore does). */
  async startLocked(id: string, opts: StartLockedOptions = {}, progress: ProgressSink = noProgress): Promise<StartResult> {
    const c = this.c;
    const started = Date.now();
    const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Date.now() - started });
    {
      const r = c.resolve(id);
      if (transition("start", r.status) === "already") {
        // The record may lag behind the engine (a container stopped behind our back): look.
        const live = r.containerId ? await c.engine(r).inspect(r.containerId) : undefined;
        if (live?.running && !live.paused) {
          const services = await this.services.currentHealth(r, c.projectOrNone(r));
          return { ...toView(r), services, durationMs: Date.now() - started };
        }
        r.status = live?.paused ? "paused" : "stopped";
      }
      check("start", r);
      const d = c.d;
      // devcontainer.json is the copy create read: one changed in the worktree is said, not followed.
      const drift = keptDevcontainer(d.paths.workspaceDir(r.id), r.mountPath);
      if (drift) step("config", drift);
      // A project configuration that does not parse stops the start before anything changes.
      const project = c.project(r);
      try {
        // devcontainer.json's initializeCommand runs at every start, as the spec says.
        if (project.devcontainer?.initialize.length) await this.services.beforeContainer(r, project, await c.engine(r).ping(), step);
        const info = r.containerId ? await c.engine(r).inspect(r.containerId) : undefined;
        if (!info) {
          // The container is gone (removed by hand, engine reset) or was never made (a create cut
          // short whose worktree held edits): make what is missing from the record.
          const engine = await c.engine(r).ping();
          if (!c.hostKeys.publicKey(r.id)) r.hostKeyFingerprint = fingerprint(c.hostKeys.make(r.id, workspaceNames(r.name, r.id).keyComment).publicKey);
          if (!r.image) r.image = await c.engine(r).ensureWorkspaceImage(DEFAULT_BASE_IMAGE, () => {});
          for (const volume of [r.homeVolume, ...(c.isRemote(r) ? [workspaceVolume(r)] : [])]) {
            if (!(await c.engine(r).volumeExists(volume))) await c.engine(r).createVolume(volume, this.container.labels(r));
          }
          if (!c.isRemote(r)) await c.git.prepare(r);
          await this.#removeUnrecordedContainers(r);
          r.containerId = await this.container.create(r, engine.ncpu, project);
          d.store.save(r);
        } else if (info.paused) {
          await c.engine(r).unpause(r.containerId!);
        }
        // Read on the host now (fresh at every start): one that cannot be read stops the start, naming it.
        const secretValues = await c.secrets.read();
        // A rotated host key takes over here: the files are written again with it.
        const filesInstalled = opts.filesInstalled && !r.hostKeyRotationPending;
        if (r.hostKeyRotationPending) this.#applyRotatedKey(r);
        await this.bootOrMove(r, project, {
          hostKey: () => c.hostKeys.read(r.id),
          agentSocket: opts.agentSocket,
          env: project.env,
          step,
          ...(filesInstalled ? { filesInstalled } : {}),
          ...(opts.beforeContainerStart ? { beforeStart: opts.beforeContainerStart } : {}),
          ...(opts.mark ? { mark: opts.mark } : {}),
        });
        await this.catchUp(r, { secrets: secretValues, agentSocket: opts.agentSocket, step, syncMessage: `Syncing ${r.mountPath} with /workspace on engine '${r.engine}'`, syncProgress: progress });
        c.activity.touch(r.id);
        c.setStatus(r, target("start"));
        c.syncSshFiles();
        opts.mark?.("catch-up");
        const services = await this.services.bringUp(r, project, opts, step);
        opts.mark?.("services");
        return { ...toView(r), services, durationMs: Date.now() - started };
      } catch (err) {
        const e = err instanceof NexusError ? err : new NexusError("WORKSPACE_START_FAILED", (err as Error).message);
        c.setStatus(r, "error", { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) });
        throw e;
      }
    }
  }

  /**
   * Containers of this workspace that its record does not name: a create cut (daemon killed) after
   * the engine made the container, before the record said so. The new container takes the same
   * name, so they go first; nothing of the user's is in them (the worktree is on the host, the home
   * in its volume).
   */
  async #removeUnrecordedContainers(r: WorkspaceRecord): Promise<void> {
    const engine = this.c.engine(r);
    for (const ct of await engine.listContainers({ [LABELS.instance]: this.c.d.instance, [LABELS.workspaceId]: r.id })) {
      if (ct.id === r.containerId || ct.labels[LABELS.role] === "hook") continue;
      this.c.d.log.info(`${r.name}: removing container ${ct.name}, which its record does not name (a create cut short)`);
      await engine.removeContainer(ct.id);
    }
  }

  /** Stops the container (SIGTERM, then SIGKILL after `timeoutSeconds`); processes end, files stay. */
  async stop(ref: string, opts: { timeoutSeconds?: number; onlyIf?: () => Promise<boolean> } = {}): Promise<WorkspaceView> {
    const c = this.c;
    return c.locked(ref, (r) => this.stopLocked(r.id, opts));
  }

  /**
   * Nothing must run in the workspace before its container stops (no pre-stop hook, no services)
   * and its files are on this machine (no file sync to suspend): a restore, whose automatic
   * checkpoint holds the state, may end the container still frozen (stopLocked's `kill`).
   */
  quietStop(r: WorkspaceRecord): boolean {
    const project = this.c.projectOrNone(r);
    return !this.c.isRemote(r) && !project?.hooks["pre-stop"]?.length && !project?.services.length;
  }

  /**
   * stop's body; the caller holds the workspace's lock (a checkpoint restore does). `kill`: the
   * container is frozen (or stopped) and its state is kept by the caller; it is ended by SIGKILL
   * without a thaw, so its processes never run again (no git sync: nothing ran since the caller's).
   * Only when quietStop holds; otherwise the stop is the usual one.
   */
  async stopLocked(id: string, opts: { timeoutSeconds?: number; onlyIf?: () => Promise<boolean>; beforeEngineStop?: () => void; kill?: boolean } = {}): Promise<WorkspaceView> {
    const c = this.c;
    {
      const r = c.resolve(id);
      const t = transition("stop", r.status);
      if (t === "already") return toView(r);
      if (opts.onlyIf && !(await opts.onlyIf())) return toView(r);
      if (t === "refused") throw refusal("stop", r);
      const d = c.d;
      const live = r.containerId ? await c.engine(r).inspect(r.containerId) : undefined;
      const project = live ? c.projectOrNone(r) : undefined;
      if (live && r.containerId && opts.kill && this.quietStop(r)) {
        d.ssh.drop(r.id);
        opts.beforeEngineStop?.();
        await c.engine(r).kill(r.containerId);
      } else if (live && r.containerId) {
        if (live.paused) await c.engine(r).unpause(r.containerId);
        // pre-stop hook, then services in reverse order, while SSH still answers.
        if (live.running) await this.services.bringDown(r, project);
        // Commits made inside reach the host first; skipped (an lstat check) when no ref moved since the last sync.
        if (live.running) await c.git.beforeStop(r).catch((err: Error) => d.log.warn(`${r.name}: git sync before stop: ${err.message}`));
        if (live.running && c.isRemote(r)) await c.remoteSync?.suspend(r).catch((err: Error) => d.log.warn(`${r.name}: file sync before stop: ${err.message}`));
        d.ssh.drop(r.id);
        opts.beforeEngineStop?.();
        await c.engine(r).stop(r.containerId, opts.timeoutSeconds ?? 30);
      }
      d.ssh.drop(r.id);
      c.secrets.forget(r.id);
      c.setStatusSoon(r, target("stop"));
      if (live) await this.services.postStop(r, project);
      return toView(r);
    }
  }

  async restart(ref: string, opts: { timeoutSeconds?: number; agentSocket?: string } & BringUpOptions = {}): Promise<StartResult> {
    // The project's configuration must parse before anything stops: start would refuse it afterwards,
    // leaving the workspace stopped for a typo.
    this.c.project(this.c.resolve(ref));
    await this.stop(ref, opts);
    return this.start(ref, opts);
  }

  /** Freezes every process of the workspace (cgroup freezer): memory and processes are kept, resume is near-instant. */
  async pause(ref: string, opts: { onlyIf?: () => Promise<boolean>; timeoutSeconds?: number } = {}): Promise<WorkspaceView> {
    const c = this.c;
    return c.lockedAnswering(ref, async (r, answerEarly) => {
      if (transition("pause", r.status) === "already") return toView(r);
      if (opts.onlyIf && !(await opts.onlyIf())) return toView(r);
      requireRunning(r, "pause it");
      await this.#freezeWithin(r, opts.timeoutSeconds, answerEarly);
      c.setStatusSoon(r, target("pause"));
      return toView(r);
    });
  }

  /**
   * The cgroup freeze, answered within `timeoutSeconds` (none or 0: no limit). One still under way then
   * is answered CONTAINER_ERROR at once, and undone once the engine finishes it, still under the
   * workspace's lock: no other operation ever sees a frozen container whose record says running.
   */
  async #freezeWithin(r: WorkspaceRecord, timeoutSeconds: number | undefined, answerEarly: (err: Error) => void): Promise<void> {
    const d = this.c.d;
    const engine = this.c.engine(r);
    const id = r.containerId!;
    if (!timeoutSeconds) return engine.pause(id);
    let late: NexusError | undefined;
    const timer = setTimeout(() => {
      late = new NexusError("CONTAINER_ERROR", `Pausing workspace '${r.name}' did not finish within ${timeoutSeconds} s; it keeps running`, {
        suggestion: "Try again with a longer timeout (heavy disk I/O slows the cgroup freezer)",
        details: { workspaceName: r.name, timeoutSeconds },
      });
      answerEarly(late);
    }, timeoutSeconds * 1000);
    try {
      await engine.pause(id);
    } finally {
      clearTimeout(timer);
    }
    if (!late) return;
    await engine.unpause(id).catch((err: Error) => d.log.warn(`${r.name}: undoing a late pause: ${err.message}`));
    throw late;
  }

  /** Thaws a paused workspace; reports how long it took. A running one resumes in 0 ms. */
  async resume(ref: string, opts: { blocking?: boolean; timeoutSeconds?: number } = {}): Promise<ResumeResult> {
    const c = this.c;
    return c.locked(ref, async (r) => {
      const started = performance.now();
      if (check("resume", r) === "go") {
        await c.engine(r).unpause(r.containerId!);
        c.activity.touch(r.id);
        c.setStatusSoon(r, target("resume"));
      }
      const durationMs = Math.round(performance.now() - started);
      // Services were frozen with everything else; with blocking (the default) the answer waits until they answer again.
      const project = c.projectOrNone(r);
      if (!project?.services.length) return { workspaceId: r.id, status: r.status, durationMs, services: [] };
      const services = await this.services.afterResume(r, project, opts);
      return { workspaceId: r.id, status: r.status, durationMs, services };
    });
  }

  /** PATCH: resources apply live (docker update); idleTimeout and displayName are recorded. */
  async update(ref: string, input: UpdateWorkspaceInput): Promise<WorkspaceView> {
    const c = this.c;
    return c.locked(ref, async (r) => {
      const d = c.d;
      if (input.resources !== undefined) {
        const limits = resolveResources(input.resources);
        if (r.containerId && (await c.engine(r).inspect(r.containerId))) {
          const engine = await c.engine(r).ping();
          if (r.status === "running" || r.status === "paused") {
            const used = await c.engine(r).memoryUsage(r.containerId);
            if (limits.memoryBytes < used) {
              throw new NexusError("INVALID_ARGUMENT", `Workspace '${r.name}' uses ${formatBytes(used)} of memory now; a limit of ${formatBytes(limits.memoryBytes)} is below that`, {
                suggestion: "Pick a larger size, or stop what uses the memory first",
                details: { usedBytes: used, requestedBytes: limits.memoryBytes },
              });
            }
          }
          await c.engine(r).updateResources(r.containerId, { nanoCpus: nanoCpus(limits.cpu, engine.ncpu), memoryBytes: limits.memoryBytes });
        }
        r.resources = limits;
      }
      if (input.idleTimeout !== undefined) r.idleTimeoutSeconds = input.idleTimeout;
      if (input.displayName !== undefined) r.displayName = input.displayName;
      if (input.forwardAgent !== undefined && input.forwardAgent !== r.forwardAgent) {
        r.forwardAgent = input.forwardAgent;
        // Connections that forward the agent must not outlive the switch.
        d.ssh.drop(r.id);
        c.syncSshFiles();
      }
      r.updatedAt = new Date().toISOString();
      d.store.save(r);
      return toView(c.activity.withActivity(r));
    });
  }

  /** The host key made by rotateKeys takes over: pinned from now on, the old one unpinned. */
  #applyRotatedKey(r: WorkspaceRecord): void {
    const d = this.c.d;
    r.hostKeyFingerprint = fingerprint(this.c.hostKeys.promoteNext(r.id).publicKey);
    r.hostKeyRotationPending = false;
    d.ssh.drop(r.id);
    d.store.save(r);
  }

  async destroy(ref: string, opts: { force?: boolean; keepCheckpoints?: boolean } = {}): Promise<void> {
    return this.c.locked(ref, (r) => this.#destroy(r.id, opts));
  }

  async #destroy(id: string, opts: { force?: boolean; keepCheckpoints?: boolean }): Promise<void> {
    const c = this.c;
    const d = c.d;
    const r = c.resolve(id);
    if (transition("destroy", r.status) === "refused" || c.creating.has(r.name)) throw refusal("destroy", r);
    // Commits made inside reach the host first, so the check below sees them (git-sync/service.ts).
    const keptInside = await c.git.beforeDestroy(r, { force: !!opts.force, running: r.status === "running" });
    let uncommitted = 0;
    if (r.worktree && existsSync(r.worktree.path)) {
      // With --force a worktree git cannot read is no reason to stop.
      const wip = opts.force ? await git.workInProgress(r.worktree.path, r.worktree.branch).catch(() => undefined) : await git.workInProgress(r.worktree.path, r.worktree.branch);
      uncommitted = wip?.uncommitted.length ?? 0;
      if (!opts.force && wip && (wip.uncommitted.length > 0 || wip.unpushedCommits > 0)) {
        const what = [
          wip.uncommitted.length > 0 ? `${wip.uncommitted.length} uncommitted change(s)` : "",
          wip.unpushedCommits > 0 ? `${wip.unpushedCommits} commit(s) on no other branch or remote` : "",
        ].filter(Boolean).join(" and ");
        throw new NexusError("INVALID_STATE", `Workspace '${r.name}' has ${what} in ${r.worktree.path}`, {
          suggestion: `Commit and push (or merge) them first, or run 'nexus destroy ${r.name} --force' to move them to the trash (the branch ${r.worktree.branch} is kept)`,
          details: { workspaceName: r.name, uncommitted: wip.uncommitted.slice(0, 20), unpushedCommits: wip.unpushedCommits },
        });
      }
      // Git-ignored files (and, with --force, uncommitted ones) go to the trash, never silently away (trash.ts).
      const trash = new Trash(d.paths.home);
      trash.purge(d.config.defaults.trash_retention);
      r.trashOnDestroy = await planLeftovers(trash, r.worktree.path, { force: !!opts.force, uncommitted, workspace: r.name, log: d.log });
    }
    // A clone Nexus made for this workspace (-r) goes too, unless it holds commits that are nowhere
    // else (on any of its branches, not only the workspace's): then the clone is what keeps them, and it stays.
    if (r.repository?.cloned && r.worktree) {
      const where = existsSync(r.worktree.path) ? r.worktree.path : r.repository.path;
      const unpushed = existsSync(where) ? await git.localOnlyCommits(where).catch(() => undefined) : 0;
      r.removeCloneOnDestroy = unpushed === 0 && keptInside === 0;
      if (!r.removeCloneOnDestroy) d.log.info(`${r.name}: keeping the clone ${r.repository.path}: it has commits that are nowhere else`);
    }
    r.status = target("destroy");
    if (opts.keepCheckpoints) r.keepCheckpoints = true;
    r.updatedAt = new Date().toISOString();
    d.store.save(r);
    c.publishStatus(r);
    await this.finishDestroy(r);
  }

  /** Removes everything of a workspace marked destroying; also used by reconcile after a crash. */
  async finishDestroy(r: WorkspaceRecord): Promise<void> {
    const c = this.c;
    const d = c.d;
    d.ssh.drop(r.id);
    if (c.isRemote(r)) await c.remoteSync?.detach(r).catch((err: Error) => d.log.warn(`${r.name}: stopping file sync: ${err.message}`));
    if (r.containerId) await c.engine(r).removeContainer(r.containerId);
    for (const ct of await c.engine(r).listContainers({ [LABELS.instance]: d.instance, [LABELS.workspaceId]: r.id })) {
      await c.engine(r).removeContainer(ct.id);
    }
    await c.engine(r).removeVolume(r.homeVolume);
    if (c.isRemote(r)) await c.engine(r).removeVolume(workspaceVolume(r));
    await c.git.remove(r, r.image).catch((err: Error) => d.log.warn(`${r.name}: removing its git dir: ${err.message}`));
    if (r.trashOnDestroy && r.worktree && existsSync(r.worktree.path)) {
      const e = new Trash(d.paths.home).put(r.worktree.path, { workspace: r.name, branch: r.worktree.branch, ignored: r.trashOnDestroy.ignored, uncommittedCount: r.trashOnDestroy.uncommitted });
      d.log.info(`${r.name}: moved its worktree (${e.ignoredCount} git-ignored, ${e.uncommittedCount} uncommitted path(s)) to the trash as ${e.id}: 'nexus trash restore ${e.id}'`);
    }
    if (r.worktree && r.repository && existsSync(r.repository.path)) {
      const { path: repo } = r.repository;
      const wt = r.worktree.path;
      await c.repoLocks.run(repo, () => git.removeWorktree(repo, wt));
    }
    if (r.removeCloneOnDestroy && r.repository?.cloned && r.repository.path.startsWith(join(d.paths.home, "repos") + "/")) {
      rmSync(r.repository.path, { recursive: true, force: true });
    }
    await c.checkpoints?.workspaceDestroyed(r, r.keepCheckpoints === true);
    d.ports.release(recordPorts(r));
    d.store.remove(r.id);
    c.forget(r.id);
    clearActiveRefIf(d.paths, [r.id, r.name]);
    c.syncSshFiles();
    c.publishStatus({ ...r, status: "destroyed" });
    d.log.info(`destroyed ${r.name} (${r.id})`);
  }
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${Math.round(n / 1024 ** 2)} MB`;
}
