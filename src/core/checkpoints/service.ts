// Checkpoints of a whole workspace: container filesystem (a commit, always one layer on the
// workspace's original image), home volume (a tar) and worktree (git objects under a ref), taken at
// one instant while the container is frozen. Restore lives in restore.ts, the filling of a container
// from a checkpoint in fill.ts, the listing of its rootfs changes after the answer in listings.ts,
// reconcile and the pruning of kept listings in upkeep.ts.
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { CHECKPOINT_LABELS, NOT_HELD, reduceChanges, saveArchive } from "../../docker/checkpoints.ts";
import { tar } from "../../docker/tar.ts";
import type { ContainerEngine, ImageInfo } from "../../docker/container-engine.ts";
import { LOCAL_ENGINE } from "../../config/engines.ts";
import { LABELS } from "../../docker/labels.ts";
import { deleteSnapshotRef, prepareSnapshot, restoreWorktree, snapshotRef, type PendingSnapshot } from "../../git/snapshot.ts";
import type { CheckpointStore } from "../../store/checkpoints.ts";
import { ImageListingFiles } from "../../store/image-listings.ts";
import type { WorkspaceStore } from "../../store/workspaces.ts";
import { errors, NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ProgressSink, WorkspaceRecord } from "../types.ts";
import type { WorkspaceService } from "../workspaces.ts";
import type { CheckpointSeed } from "../workspace/checkpoint-hooks.ts";
import type { CreateCheckpointInput } from "./inputs.ts";
import { toCheckpointView, type CheckpointRecord, type CheckpointView, type RestoreResult } from "./types.ts";
import { allSettled, Phases } from "./phases.ts";
import { ChangeListings } from "./listings.ts";
import { fillContainer, keepChangesTar, type FillContext } from "./fill.ts";
import { restoreLocked, type RestoreContext } from "./restore.ts";
import { pruneListings, reconcileCheckpoints, type UpkeepContext } from "./upkeep.ts";
import { resolveCheckpoint, workspaceKey } from "./lookup.ts";
import { retry } from "../../kernel/poll.ts";

/**
 * File sync of a workspace on a remote engine (src/core/sync/), as checkpoints need it: its worktree
 * here is the synced copy of the volume there.
 */
export interface CheckpointSync {
  /** On another machine's engine: the worktree is synced, not mounted. */
  remote(r: WorkspaceRecord): boolean;
  /** The provider keeping the workspace in step (`bind`: none, the local engine). */
  provider(r: WorkspaceRecord): string;
  /** Returns once both sides agree and commits made inside reached the host branch (SYNC_PAUSED, SYNC_CONFLICT otherwise). */
  flush(r: WorkspaceRecord): Promise<void>;
  /** The workspace is stopped: its next sync pass makes the workspace's tree equal to the worktree here, whatever either side's history. */
  mirrorNext(r: WorkspaceRecord): void;
}

export interface CheckpointServiceDeps {
  store: CheckpointStore;
  /** The local engine. */
  docker: ContainerEngine;
  /** A configured engine by name (a workspace's `engine`); without it every checkpoint is on `docker`. */
  engine?: (name: string) => ContainerEngine;
  /** File sync of remote workspaces; without it their checkpoints are refused (UNIMPLEMENTED). */
  sync?: CheckpointSync;
  workspaces: WorkspaceService;
  /** Loaded at reconcile: interrupted restores are settled before the workspaces' own reconcile. */
  workspaceStore: WorkspaceStore;
  log: Logger;
  instance: string;
  /** Where interrupted restores leave their journal (~/.nexus/checkpoints). */
  dir: string;
}

const HOME = "/home/nexus";
const noProgress: ProgressSink = () => {};

export class CheckpointService {
  readonly #d: CheckpointServiceDeps;
  /** The rootfs changes of checkpoints listed after the answer (listings.ts). */
  readonly #listings: ChangeListings;

  constructor(deps: CheckpointServiceDeps) {
    this.#d = deps;
    const files = new ImageListingFiles(join(deps.store.dir, "image-listings"));
    this.#listings = new ChangeListings({ engine: (name) => this.#engine(name), store: deps.store, files, instance: deps.instance, log: deps.log });
  }

  // ---- lookups ---------------------------------------------------------------------------------

  /** A checkpoint by id or name; with a workspace, the name is looked up among its checkpoints and an id must be one of them. */
  resolve(ref: string, workspaceRef?: string): CheckpointRecord {
    return resolveCheckpoint(this.#d.store, this.#d.workspaces, ref, workspaceRef);
  }

  #workspaceKey(ref: string): { id: string; name: string } {
    return workspaceKey(this.#d.store, this.#d.workspaces, ref);
  }

  get(ref: string, workspaceRef?: string): CheckpointView {
    return toCheckpointView(this.resolve(ref, workspaceRef));
  }

  list(workspaceRef: string): CheckpointView[] {
    const ws = this.#workspaceKey(workspaceRef);
    return this.#d.store.list().filter((c) => c.workspaceId === ws.id && c.state === "ready").map(toCheckpointView);
  }

  /** get(), once the checkpoint's container changes are listed (made now when no listing is under way). */
  async getWithChanges(ref: string, workspaceRef?: string): Promise<CheckpointView> {
    await this.#listed([this.resolve(ref, workspaceRef)]);
    return this.get(ref, workspaceRef);
  }

  /** list(), once the container changes of each checkpoint are listed. */
  async listWithChanges(workspaceRef: string): Promise<CheckpointView[]> {
    const ws = this.#workspaceKey(workspaceRef);
    await this.#listed(this.#d.store.list().filter((c) => c.workspaceId === ws.id && c.state === "ready"));
    return this.list(workspaceRef);
  }

  /** Lists the changes of those checkpoints not listed yet (one under way is joined); a failure leaves them unlisted (restore lists them again). */
  async #listed(checkpoints: CheckpointRecord[]): Promise<void> {
    await Promise.all(
      checkpoints.filter((c) => c.container && !c.container.changes).map((c) => this.#listings.changesOf(c).catch((e: Error) => this.#d.log.warn(`listing the changes of checkpoint ${c.id}: ${e.message}`))),
    );
  }

  /** The engine a workspace, or a checkpoint of it, is on (none or `local`: the local one). */
  #engine(name: string | undefined): ContainerEngine {
    return name && name !== LOCAL_ENGINE && this.#d.engine ? this.#d.engine(name) : this.#d.docker;
  }

  /** #engine, or undefined when the config no longer names that engine. */
  #configuredEngine(name: string | undefined): ContainerEngine | undefined {
    try {
      return this.#engine(name);
    } catch (err) {
      if (name && (err as NexusError).code === "INVALID_ARGUMENT") return undefined;
      throw err;
    }
  }

  /** The sync of a workspace on a remote engine (undefined for one whose worktree is mounted); UNIMPLEMENTED without one. */
  #remote(r: WorkspaceRecord): CheckpointSync | undefined {
    if (!r.engine || r.engine === LOCAL_ENGINE) return undefined;
    const sync = this.#d.sync;
    if (!sync) {
      throw new NexusError("UNIMPLEMENTED", `Checkpoints of a workspace on a remote engine ('${r.engine}') need file sync, and this daemon has none wired in`, {
        suggestion: "Take checkpoints of workspaces on the local engine, or commit your work with git",
        details: { workspaceName: r.name, engine: r.engine },
      });
    }
    return sync.remote(r) ? sync : undefined;
  }

  // ---- create ----------------------------------------------------------------------------------

  async create(workspaceRef: string, input: CreateCheckpointInput): Promise<CheckpointView> {
    return this.#d.workspaces.exclusive(workspaceRef, async (r) => toCheckpointView(await this.createLocked(r, input, false)));
  }

  /**
   * Takes a checkpoint; the caller holds the workspace's lock. `thawed` is called once every part is
   * taken; with `keepFrozen` (a restore about to end the container) a container frozen for it stays
   * frozen then, and is the caller's to end or thaw.
   */
  async createLocked(r: WorkspaceRecord, input: CreateCheckpointInput, auto: boolean, opts: { thawed?: () => void; keepFrozen?: boolean } = {}): Promise<CheckpointRecord> {
    const d = this.#d;
    const started = performance.now();
    const remote = this.#remote(r);
    if (r.status === "pending" || r.status === "destroying") {
      throw errors.invalidState(r.name, r.status, "created (running, paused or stopped) to take a checkpoint", `See 'nexus status ${r.name}'`);
    }
    const engine = this.#engine(r.engine);
    const info = r.containerId ? await engine.inspect(r.containerId) : undefined;
    if (!info || !r.containerId) {
      throw new NexusError("CONTAINER_ERROR", `Workspace '${r.name}' has no container to take a checkpoint of`, {
        suggestion: `Start it ('nexus start ${r.name}') so its container is made again, then take the checkpoint`,
        details: { workspaceName: r.name },
      });
    }
    const name = this.#uniqueName(r, input.name, auto);
    const id = `ckpt-${randomBytes(6).toString("hex")}`;
    const record: CheckpointRecord = {
      id,
      name,
      description: input.description ?? "",
      workspaceId: r.id,
      workspaceName: r.name,
      ...(r.engine && r.engine !== LOCAL_ENGINE ? { engine: r.engine } : {}),
      createdAt: new Date().toISOString(),
      auto,
      sudo: r.sudo === true,
      state: "creating",
      durationMs: 0,
      container: null,
      home: null,
      worktree: null,
    };
    // On disk before anything is made: a daemon that dies part way leaves a record reconcile cleans up.
    d.store.save(record);
    const cid = r.containerId;
    const freeze = info.running && !info.paused;
    const lazy = this.#listings.listed(r.engine, info.image);
    const phases = new Phases();
    let snapshot: Promise<PendingSnapshot> | undefined;
    /** The worktree's commit and ref: begun in the frozen window once its tree is taken, awaited after the thaw. */
    let finished: Promise<void> | undefined;
    try {
      // Commits made inside reach the host branch first, so the worktree part records the HEAD they
      // are on (a sync only when refs moved since the last one); HEAD inside comes with it.
      let insideHead: string | null = null;
      // On a remote engine the worktree here is the synced copy of the volume there: both sides agree
      // first (a paused sync or an open conflict refuses, with its SYNC_* code, before anything is
      // frozen), and commits made inside reach the branch here with the flush.
      if (remote && freeze) {
        await remote.flush(r);
        phases.mark("sync-flush");
      }
      if (freeze && r.repository) {
        insideHead = (await d.workspaces.syncGit(r).catch((e: Error) => d.log.warn(`${r.name}: git sync before checkpoint: ${e.message}`)))?.insideHead ?? null;
      }
      phases.mark("git-sync");
      const indexInside = d.workspaces.gitIndexInside(r);
      // What the worktree part reads from the host's git dir (HEAD, the staged state) beside the freeze:
      // the container cannot write it; only the working files are read while frozen.
      const message = `nexus checkpoint ${name} of ${r.name}`;
      snapshot = r.repository && existsSync(r.mountPath) ? phases.part("worktree-prepare", () => prepareSnapshot(r.mountPath, message)) : undefined;
      snapshot?.catch(() => {}); // awaited in the worktree part
      if (freeze) await this.#freeze(engine, cid);
      phases.mark("freeze");
      let pending: PendingSnapshot | undefined;
      let handedOver = false;
      const ref = snapshotRef(id);
      const repository = r.repository?.path;
      let sizes: Promise<[ImageInfo | undefined, ImageInfo | undefined]> | undefined;
      try {
        // The parts side by side while frozen: they are of one instant, and the freeze lasts as long as the slowest.
        const exclude = [...NOT_HELD, HOME, ...info.mountTargets];
        const [container, home, , ownGit] = await allSettled([
          (async () => {
            const commit = phases.part("commit", () =>
              engine.commitContainer(
                cid,
                { repo: "nexus-checkpoint", tag: id, comment: `nexus checkpoint ${id}` },
                { [CHECKPOINT_LABELS.id]: id, [CHECKPOINT_LABELS.instance]: d.instance, [CHECKPOINT_LABELS.workspaceId]: r.id },
                [LABELS.managed, LABELS.instance, LABELS.workspaceId, LABELS.workspaceName],
              ),
            );
            const base = { image: `nexus-checkpoint:${id}`, baseImage: info.image, layerBytes: 0 };
            // The original image was listed: the commit's changes are listed from it afterwards (listings.ts).
            if (lazy) return { ...base, imageId: await commit, changes: null, exclude };
            // Otherwise `docker diff` beside the commit: the container is frozen, so both see the same files.
            const [changes, imageId] = await allSettled([phases.part("diff", async () => reduceChanges(await engine.containerChanges(cid), exclude)), commit] as const);
            return { ...base, imageId, changes };
          })(),
          phases.part("home", async () => {
            const file = d.store.homeFile(id);
            return { file, bytes: await saveArchive(engine, cid, HOME, file) };
          }),
          phases.part("worktree", async () => {
            if (!snapshot) return;
            pending = await snapshot;
            await pending.take();
            // The commit and the ref begin at once, beside the rest of the frozen window and the thaw
            // (they read only the host's git dir), but the freeze never waits for them: on a loaded
            // machine each git process costs 100-300 ms, and the worktree part became the slowest.
            if (repository) {
              const p = pending;
              finished = phases.part("worktree-ref", () => p.finish(ref, message)).then((snap) => void (record.worktree = { repository, path: r.mountPath, ref, ...snap }));
              finished.catch(() => {}); // awaited after the thaw (or before a cleanup)
            }
          }),
          phases.part("git-index", async () => {
            if (!indexInside) return null;
            const file = d.store.gitIndexFile(id);
            // Read on the host: the container is frozen or stopped (own-gitdir.ts says why that is safe);
            // a tar of the one file, as the engine's archive read gave it.
            let index: ReturnType<WorkspaceService["gitIndexWhileStill"]>;
            try {
              index = d.workspaces.gitIndexWhileStill(r);
            } catch (e) {
              d.log.warn(`${r.name}: checkpoint ${id} does not hold the workspace's git index: ${(e as Error).message}`);
            }
            if (!index) return { indexFile: null, bytes: 0, head: insideHead };
            const content = tar([{ name: basename(indexInside), content: index.content, mode: index.mode, uid: index.uid, gid: index.gid }]);
            writeFileSync(file, content, { mode: 0o600 });
            return { indexFile: file, bytes: content.length, head: insideHead };
          }),
        ] as const);
        Object.assign(record, { container, home, ...(ownGit ? { ownGit } : {}) });
        phases.mark("parts");
        handedOver = opts.keepFrozen === true;
        // The sizes are asked beside the thaw (not beside the freeze: the engine's pause is on the critical path).
        sizes = Promise.all([engine.imageInfo(record.container!.image), engine.imageInfo(info.image)]);
        sizes.catch(() => {}); // awaited after the thaw
      } finally {
        if (freeze && !handedOver) await engine.unpause(cid);
        if (!handedOver) phases.mark("unfreeze");
      }
      // Every part is of the instant (the image, the home tar, the worktree's tree): a restore may stop the workspace now.
      opts.thawed?.();
      const [, [layer, base]] = await Promise.all([finished, sizes!]);
      record.container!.layerBytes = Math.max(0, (layer?.size ?? 0) - (base?.size ?? 0));
      phases.mark("sizes");
      record.durationMs = Math.round(performance.now() - started);
      record.phasesMs = phases.ms;
      record.state = "ready";
      d.store.save(record);
      // The record's own write, seen by the bench (the file holds the phases before it).
      phases.mark("record");
      d.log.info(`checkpoint ${name} (${id}) of ${r.name} in ${record.durationMs} ms (${phases})`);
      // After the answer, under the workspace's lock (so never beside its restore or stop): the
      // commit's changes listed, or the original image's listing made for the next checkpoints.
      // Then its changed paths as one tar for its restores (fill.ts keepChangesTar), outside the lock.
      const keep = () => keepChangesTar(this.#fillContext(), record);
      if (lazy) this.#listings.later(`listing the changes of checkpoint ${id}`, async () => (await d.workspaces.exclusive(r.id, () => this.#listings.changesOf(record)), await keep()));
      else {
        this.#listings.later(`listing the files of image ${info.image}`, () => this.#listings.baseListing(r.engine, info.image));
        this.#listings.later(`keeping the changed paths of checkpoint ${id}`, keep);
      }
      return record;
    } catch (err) {
      // A ref still being written would outlive the cleanup: it ends first.
      await finished?.catch(() => {});
      // A snapshot not finished leaves its temporary index: it goes (idempotent once finished).
      void snapshot?.then((p) => p.discard(), () => {});
      await this.#discard(record).catch((e: Error) => d.log.warn(`cleaning up checkpoint ${id}: ${e.message}`));
      throw err;
    }
  }

  /** The cgroup freezer gives up when a process does not stop in time (heavy I/O): tried again a few times. */
  async #freeze(engine: ContainerEngine, containerId: string): Promise<void> {
    // A freeze that timed out may still have taken hold: paused is what was asked.
    const frozeAnyway = async (err: unknown) => /freeze/i.test((err as Error).message) && (await engine.inspect(containerId))?.paused === true;
    return retry(
      () => engine.pause(containerId).catch(async (err: unknown) => { if (!(await frozeAnyway(err))) throw err; }),
      { attempts: 5, delayMs: (n) => 250 * n, retryOn: (err) => /freeze/i.test((err as Error).message) },
    );
  }

  /** Settles once the work left running after answers (listings) has ended. */
  settled(): Promise<void> {
    return this.#listings.settled();
  }

  #uniqueName(r: WorkspaceRecord, wanted: string | undefined, auto: boolean): string {
    const taken = new Set(this.#d.store.list().filter((c) => c.workspaceId === r.id).map((c) => c.name));
    if (wanted !== undefined) {
      if (taken.has(wanted)) {
        throw errors.invalidArgument(`Workspace '${r.name}' already has a checkpoint named '${wanted}'`, `Pick another name, or delete the old one ('nexus checkpoint delete ${r.name} ${wanted}')`, {
          workspaceName: r.name,
          checkpoint: wanted,
        });
      }
      return wanted;
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    const base = `${auto ? "auto-before-restore" : "checkpoint"}-${stamp}`;
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    return name;
  }

  // ---- delete ----------------------------------------------------------------------------------

  async delete(ref: string, workspaceRef?: string): Promise<{ id: string; name: string; workspaceId: string }> {
    const cp = this.resolve(ref, workspaceRef);
    const run = async () => {
      const now = this.#d.store.get(cp.id);
      if (now) await this.#discard(now);
    };
    // Under the workspace's lock, so a restore from it is never cut short; a destroyed workspace has none.
    if (this.#d.workspaces.list().some((w) => w.id === cp.workspaceId)) await this.#d.workspaces.exclusive(cp.workspaceId, run);
    else await run();
    this.#pruneListings();
    this.#d.log.info(`deleted checkpoint ${cp.name} (${cp.id}) of ${cp.workspaceName}`);
    return { id: cp.id, name: cp.name, workspaceId: cp.workspaceId };
  }

  /** Frees the image (on the engine it was committed on), the ref and the tar, then the record. */
  async #discard(c: CheckpointRecord): Promise<void> {
    const engine = this.#configuredEngine(c.engine);
    // An engine no longer in the config: its image cannot be reached; the rest goes (an engine that does not answer fails the delete).
    if (engine) await engine.removeImage(`nexus-checkpoint:${c.id}`);
    else this.#d.log.warn(`checkpoint ${c.id}: engine '${c.engine}' is no longer configured; its image nexus-checkpoint:${c.id} stays there`);
    if (c.worktree) await deleteSnapshotRef(c.worktree.repository, c.worktree.ref);
    else {
      // One not finished names no worktree yet, though its ref may be written (the ref comes before
      // the record says ready): the ref it would have had goes from the workspace's repository.
      const repository = this.#d.workspaceStore.get(c.workspaceId)?.repository?.path;
      if (repository) await deleteSnapshotRef(repository, snapshotRef(c.id));
    }
    this.#d.store.remove(c.id);
  }

  /** Destroy of a workspace: its checkpoints go too, unless kept (then `create --from-checkpoint` still works). */
  async workspaceDestroyed(r: WorkspaceRecord, keep: boolean): Promise<void> {
    if (!keep) {
      for (const c of this.#d.store.list().filter((c) => c.workspaceId === r.id)) {
        await this.#discard(c).catch((e: Error) => this.#d.log.warn(`removing checkpoint ${c.id} of ${r.name}: ${e.message}`));
      }
    }
    this.#pruneListings(r.id);
  }

  // ---- restore and seeding ---------------------------------------------------------------------

  async restore(ref: string, workspaceRef?: string, progress: ProgressSink = noProgress): Promise<RestoreResult> {
    const cp = this.resolve(ref, workspaceRef);
    if (!this.#d.workspaces.list().some((w) => w.id === cp.workspaceId)) {
      throw new NexusError("INVALID_STATE", `Workspace '${cp.workspaceName}' of checkpoint '${cp.name}' no longer exists`, {
        suggestion: `Start a new workspace from it: 'nexus create <name> --from-checkpoint ${cp.id}'`,
        details: { checkpoint: cp.id, workspaceName: cp.workspaceName },
      });
    }
    return this.#d.workspaces.exclusive(cp.workspaceId, (r) => {
      const now = this.#d.store.get(cp.id);
      if (!now || now.state !== "ready") this.resolve(cp.id); // deleted meanwhile: throws NOT_FOUND
      return restoreLocked(this.#restoreContext(), r, now!, progress);
    });
  }

  #fillContext(): FillContext {
    return { engine: (name) => this.#engine(name), store: this.#d.store, log: this.#d.log, listings: this.#listings };
  }

  #restoreContext(): RestoreContext {
    return {
      engine: (name) => this.#engine(name),
      remote: (r) => this.#remote(r),
      workspaces: this.#d.workspaces,
      log: this.#d.log,
      dir: this.#d.dir,
      checkpoint: (r, input, opts) => this.createLocked(r, input, true, opts),
      fillContainer: (c, target, phases, opts) => fillContainer(this.#fillContext(), c, target, phases, opts),
      view: toCheckpointView,
    };
  }

  /** `create --from-checkpoint`: the new workspace takes the checkpoint's repository, commit and original image, then its parts. */
  async seed(ref: string): Promise<CheckpointSeed> {
    const c = this.resolve(ref);
    if (!c.container) throw new NexusError("CONTAINER_ERROR", `Checkpoint '${c.name}' holds no container filesystem`, { suggestion: "Pick another checkpoint" });
    if (c.worktree && !existsSync(c.worktree.repository)) {
      throw new NexusError("INVALID_STATE", `The repository of checkpoint '${c.name}' (${c.worktree.repository}) is gone`, { suggestion: "Pick another checkpoint", details: { checkpoint: c.id } });
    }
    return {
      // The image and its commit are on the checkpoint's engine: the new workspace runs there too.
      ...(c.engine ? { engine: c.engine } : {}),
      ...(c.worktree ? { repository: c.worktree.repository } : {}),
      ...(c.worktree?.head ? { head: c.worktree.head } : {}),
      // An older record does not say: its workspace's, while it is there (else none, the safe side).
      sudo: c.sudo ?? this.#d.workspaceStore.get(c.workspaceId)?.sudo === true,
      image: c.container.baseImage,
      fillContainer: async (containerId) => void (await fillContainer(this.#fillContext(), c, async () => containerId)),
      fillWorktree: async (path) => {
        if (c.worktree) await restoreWorktree(path, c.worktree);
      },
    };
  }

  // ---- upkeep (upkeep.ts) ----------------------------------------------------------------------

  /** At daemon start, before the workspaces': interrupted restores are finished or undone, half-made checkpoints removed. */
  reconcile(): Promise<void> {
    return reconcileCheckpoints(this.#upkeep());
  }

  #pruneListings(gone?: string): void {
    pruneListings(this.#upkeep(), gone);
  }

  #upkeep(): UpkeepContext {
    const d = this.#d;
    return {
      store: d.store,
      workspaceStore: d.workspaceStore,
      log: d.log,
      dir: d.dir,
      instance: d.instance,
      listings: this.#listings,
      engine: (name) => this.#engine(name),
      configuredEngine: (name) => this.#configuredEngine(name),
      discard: (c) => this.#discard(c),
      restoreContext: () => this.#restoreContext(),
    };
  }
}
