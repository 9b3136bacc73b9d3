// Keeping records in line with the engine: once at daemon start (reconcile), then as container events
// arrive (watchEngine, refresh).
import { existsSync, rmSync } from "node:fs";
import { LABELS } from "../../docker/labels.ts";
import * as git from "../../git/git.ts";
import type { WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";
import type { WorkspaceContext } from "./context.ts";
import type { WorkspaceLifecycle } from "./lifecycle.ts";
import { recordPorts } from "./plan.ts";
import { PORT_MOVE_LABELS } from "./port-move.ts";
import type { ContainerEngine, ContainerSummary } from "../../docker/container-engine.ts";
import type { WorkspaceServices } from "./services.ts";

/** A workspace's status from its container's state as the engine reports it (no container: error). */
export function statusFromEngine(state: { running: boolean; paused: boolean } | undefined): WorkspaceStatus {
  return !state ? "error" : state.paused ? "paused" : state.running ? "running" : "stopped";
}

const GONE = { code: "CONTAINER_ERROR", message: "The workspace's container is gone" } as const;

export class WorkspaceReconciler {
  readonly #c: WorkspaceContext;
  readonly #lifecycle: WorkspaceLifecycle;
  readonly #services: WorkspaceServices;

  constructor(c: WorkspaceContext, lifecycle: WorkspaceLifecycle, services: WorkspaceServices) {
    this.#c = c;
    this.#lifecycle = lifecycle;
    this.#services = services;
  }

  /** Brings records in line with what the engine has: run once at daemon start. */
  async reconcile(): Promise<void> {
    const c = this.#c;
    const d = c.d;
    const records = d.store.load();
    for (const why of d.store.unreadable()) d.log.error(`reconcile: ${why}`);
    d.ports.claim(records.flatMap(recordPorts));
    // Engine by engine: one that does not answer (a remote machine away) leaves its workspaces as they
    // were recorded, marked unreachable, and the others are reconciled all the same.
    const engineNames = new Set<string | undefined>([undefined, ...records.map((r) => r.engine)]);
    for (const name of engineNames) {
      const mine = records.filter((r) => r.engine === name);
      try {
        await this.#reconcileEngine(name, mine);
        if (name) c.unreachable.delete(name);
      } catch (err) {
        if (!name) throw err;
        c.unreachable.set(name, (err as Error).message);
        d.log.warn(`reconcile: engine '${name}' does not answer (${(err as Error).message}); its ${mine.length} workspace(s) keep their recorded status`);
      }
    }
    c.syncSshFiles();
    // Services of running workspaces: started again where their supervisor is gone (a no-op where it runs).
    for (const r of d.store.list()) if (r.status === "running") void this.#services.restore(r.id);
  }

  /** Records on one engine (undefined: the local one) against its containers; its orphans removed. */
  async #reconcileEngine(name: string | undefined, records: WorkspaceRecord[]): Promise<void> {
    const c = this.#c;
    const d = c.d;
    const engine = c.engine({ ...(name ? { engine: name } : {}) });
    const all = await engine.listContainers({ [LABELS.instance]: d.instance });
    // One-off hook containers left by a daemon killed mid-hook are never a workspace's container.
    for (const ct of all.filter((ct) => ct.labels[LABELS.role] === "hook")) await engine.removeContainer(ct.id);
    const containers = all.filter((ct) => ct.labels[LABELS.role] !== "hook");
    const byWorkspace = new Map(containers.map((ct) => [ct.labels[LABELS.workspaceId], ct]));
    for (const r of records) {
      // The container the record names first: a move to new ports cut short leaves a second one (below).
      const ct = containers.find((x) => x.id === r.containerId) ?? byWorkspace.get(r.id);
      try {
        if (r.status === "destroying") {
          await this.#lifecycle.finishDestroy(r);
          continue;
        }
        if (r.status === "pending") {
          await this.#reconcilePending(r);
          continue;
        }
        // A remote container's ports are held on this machine again (the engine listens on inspect).
        if (ct && name) await engine.inspect(ct.id);
        const next = statusFromEngine(ct && { running: ct.state === "running", paused: ct.state === "paused" });
        if (next !== r.status) {
          r.status = next;
          r.error = ct ? null : { ...GONE };
          r.updatedAt = new Date().toISOString();
          d.store.save(r);
          c.publishStatus(r);
        }
      } catch (err) {
        d.log.warn(`reconcile ${r.name}: ${(err as Error).message}`);
      }
    }
    await this.#removeMoveLeftovers(engine, containers);
    // Containers and volumes of ours that no record owns are leftovers of a create cut short.
    const known = new Set(d.store.list().map((r) => r.id));
    for (const ct of containers) {
      if (!known.has(ct.labels[LABELS.workspaceId] ?? "")) {
        d.log.info(`reconcile: removing orphan container ${ct.name}`);
        await engine.removeContainer(ct.id);
      }
    }
    for (const v of await engine.listVolumes({ [LABELS.instance]: d.instance })) {
      if (!known.has(v.labels[LABELS.workspaceId] ?? "")) {
        d.log.info(`reconcile: removing orphan volume ${v.name}`);
        await engine.removeVolume(v.name);
      }
    }
  }

  /**
   * What a move to new ports (port-move.ts) the daemon was killed in leaves: a second container of a
   * workspace whose record names another one that exists (the record names whichever holds all of
   * its files: the old one until the new one ran, then the new one), and the interim image.
   */
  async #removeMoveLeftovers(engine: ContainerEngine, containers: ContainerSummary[]): Promise<void> {
    const d = this.#c.d;
    for (const r of d.store.list()) {
      if (r.status === "pending" || r.status === "destroying" || !containers.some((x) => x.id === r.containerId)) continue;
      for (const ct of containers.filter((x) => x.labels[LABELS.workspaceId] === r.id && x.id !== r.containerId)) {
        d.log.info(`reconcile: removing container ${ct.name} of ${r.name}, which its record does not name (a move to new ports cut short)`);
        await engine.removeContainer(ct.id);
      }
      const named = containers.find((x) => x.id === r.containerId)!;
      if (named.name.replace(/^\//, "") !== r.containerName) await engine.renameContainer(named.id, r.containerName).catch((e: Error) => d.log.warn(`reconcile ${r.name}: naming its container: ${e.message}`));
    }
    for (const image of await engine.listImages({ [PORT_MOVE_LABELS.instance]: d.instance })) {
      await engine.removeImage(image.id).catch((e: Error) => d.log.warn(`reconcile: removing the interim image of a move to new ports: ${e.message}`));
    }
  }

  /** A create the daemon did not finish: undo it, unless the user already put work in its worktree. */
  async #reconcilePending(r: WorkspaceRecord): Promise<void> {
    const d = this.#c.d;
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
    await this.#lifecycle.finishDestroy(r);
    if (r.worktree?.branchCreated && r.repository) await git.deleteBranch(r.repository.path, r.worktree.branch);
    if (r.repository?.cloned) rmSync(r.repository.path, { recursive: true, force: true });
  }

  /**
   * Keeps records in step with the engine while the daemon runs: a container stopped, killed,
   * paused or removed behind the daemon's back (or while it was restarting) shows in the record.
   */
  watchEngine(signal: AbortSignal): void {
    const d = this.#c.d;
    // Commits made in interactive sessions, or on the host, move without an exec to notice them.
    this.#c.git.watch(signal, () => d.store.list().filter((r) => r.status === "running" && !this.#c.creating.has(r.name)));
    // The local engine, and each other engine some workspace runs on at daemon start; an engine that
    // gets its first workspace later is watched from then on (create calls c.engineInUse).
    const watched = new Set<string>();
    const watch = (name: string | undefined) => {
      const key = name ?? "";
      if (signal.aborted || watched.has(key)) return;
      watched.add(key);
      this.#watch(name, signal);
    };
    for (const name of [undefined, ...d.store.list().flatMap((r) => (r.engine ? [r.engine] : []))]) watch(name);
    this.#c.engineInUse = watch;
    signal.addEventListener("abort", () => (this.#c.engineInUse = undefined), { once: true });
  }

  #watch(name: string | undefined, signal: AbortSignal): void {
    const d = this.#c.d;
    const tracked = new Set(["start", "die", "stop", "kill", "pause", "unpause", "destroy", "oom", "restart"]);
    let engine;
    try {
      engine = this.#c.engine({ ...(name ? { engine: name } : {}) });
    } catch (err) {
      d.log.warn(`engine '${name}': ${(err as Error).message}`);
      return;
    }
    void engine.watchContainerEvents(
      { [LABELS.instance]: d.instance },
      (e) => {
        // A container that stopped has an empty secrets tmpfs when it runs again: written again on next use.
        if (e.workspaceId && e.action === "die") this.#c.secrets.forget(e.workspaceId);
        if (e.workspaceId && tracked.has(e.action)) void this.refresh(e.workspaceId).catch((err: Error) => d.log.warn(`refresh ${e.workspaceId}: ${err.message}`));
      },
      signal,
      // Back after an engine restart: what happened meanwhile is read from the engine again. A shutting
      // engine closes its event stream before it stops the containers, so a container it started again
      // (unless-stopped) may look as if it never stopped: services of every running workspace are
      // brought back where their supervisor is gone (a no-op where it still runs).
      () => {
        for (const r of d.store.list().filter((x) => x.engine === name)) {
          this.#c.secrets.forget(r.id);
          void this.refresh(r.id)
            .then(() => (d.store.get(r.id)?.status === "running" ? this.#services.restore(r.id) : undefined))
            .catch((err: Error) => d.log.warn(`after the engine came back, ${r.name}: ${err.message}`));
        }
      },
    );
  }

  /** Sets a workspace's status from its container's real state (under the workspace's lock). */
  async refresh(id: string): Promise<void> {
    const c = this.#c;
    if (!c.d.store.get(id)) return;
    await c.exclusive(id, async () => {
      const r = c.d.store.get(id);
      if (!r || !["running", "paused", "stopped"].includes(r.status)) return; // mid-create/destroy, or error: left to those paths
      let info;
      try {
        info = r.containerId ? await c.engine(r).inspect(r.containerId) : undefined;
      } catch (err) {
        // An engine away is not a container gone: the status stays, the workspace is marked unreachable.
        if (!r.engine) throw err;
        c.unreachable.set(r.engine, (err as Error).message);
        return;
      }
      if (r.engine) c.unreachable.delete(r.engine);
      const next = statusFromEngine(info);
      if (next === r.status) return;
      if (next !== "running") c.d.ssh.drop(r.id);
      const cameBack = next === "running" && r.status === "stopped";
      c.setStatus(r, next, info ? null : { ...GONE });
      // The container started without us (engine restart, restart policy): its supervisors are gone, start the services again.
      if (cameBack) void this.#services.restore(r.id);
    });
  }
}
