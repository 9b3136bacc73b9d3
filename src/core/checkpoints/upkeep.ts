// The checkpoint service's upkeep: reconcile at daemon start (interrupted restores finished or
// undone, half-made checkpoints and stray images, files and temporary git indexes removed) and the
// pruning of kept image listings no checkpoint or workspace uses any more.
import { rmSync } from "node:fs";
import { setTimeout } from "node:timers";
import { listCheckpointImages } from "../../docker/checkpoints.ts";
import type { ContainerEngine } from "../../docker/container-engine.ts";
import { LOCAL_ENGINE } from "../../config/engines.ts";
import { LABELS } from "../../docker/labels.ts";
import { removeTempIndexes } from "../../git/snapshot.ts";
import type { CheckpointStore } from "../../store/checkpoints.ts";
import type { WorkspaceStore } from "../../store/workspaces.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { ChangeListings } from "./listings.ts";
import { finishInterruptedRestore, interruptedRestores, type RestoreContext } from "./restore.ts";
import type { CheckpointRecord } from "./types.ts";

export interface UpkeepContext {
  store: CheckpointStore;
  workspaceStore: WorkspaceStore;
  log: Logger;
  /** Where interrupted restores leave their journal (~/.nexus/checkpoints). */
  dir: string;
  instance: string;
  listings: ChangeListings;
  /** The engine a workspace or checkpoint is on (none or `local`: the local one). */
  engine(name: string | undefined): ContainerEngine;
  /** engine(), or undefined when the config no longer names that engine. */
  configuredEngine(name: string | undefined): ContainerEngine | undefined;
  /** Frees a checkpoint's image, ref and files, then its record. */
  discard(c: CheckpointRecord): Promise<void>;
  restoreContext(): RestoreContext;
}

/** At daemon start, before the workspaces': interrupted restores are finished or undone, half-made checkpoints removed. */
export async function reconcileCheckpoints(d: UpkeepContext): Promise<void> {
  d.store.load();
  d.workspaceStore.load();
  // Workspaces a checkpoint or restore was cut short in: their worktree's git dir may hold its temporary index.
  const cut = new Set([...interruptedRestores(d.dir), ...d.store.list().filter((c) => c.state !== "ready").map((c) => c.workspaceId)]);
  await finishInterruptedRestore(d.restoreContext(), (id) => d.store.get(id));
  // Readers of checkpoint images a killed daemon left hold their image, which then could not be
  // removed below: they go first (the workspaces' reconcile would remove them only afterwards).
  for (const name of new Set<string | undefined>([undefined, ...d.store.list().map((c) => c.engine)])) {
    const engine = d.configuredEngine(name);
    const readers = engine ? await engine.listContainers({ [LABELS.instance]: d.instance, [LABELS.role]: "checkpoint-read" }).catch(() => []) : [];
    for (const ct of readers) await engine!.removeContainer(ct.id).catch(() => {});
  }
  let discarded = 0;
  for (const c of d.store.list()) {
    if (c.state === "ready") continue;
    discarded++;
    d.log.info(`reconcile: removing unfinished checkpoint ${c.name} (${c.id})`);
    // The daemon died while the container was frozen for it: thaw a workspace that was running.
    const r = d.workspaceStore.get(c.workspaceId);
    const engine = d.engine(r?.engine);
    if (r?.status === "running" && r.containerId && (await engine.inspect(r.containerId).catch(() => undefined))?.paused) await engine.unpause(r.containerId).catch(() => {});
    await d.discard(c).catch((e: Error) => d.log.warn(`reconcile checkpoint ${c.id}: ${e.message}`));
  }
  await removeImagesOfNoCheckpoint(d, true);
  // A commit the killed daemon asked for goes on in the engine without it: the worktree's ref is
  // written beside the commit, so a checkpoint cut there can get its image after the sweep above.
  // Its record is gone now, so the image is one of no checkpoint: swept again for a while, after
  // any cut checkpoint or restore (a restore takes its automatic checkpoint).
  if (discarded > 0 || cut.size > 0) {
    for (const s of LATE_SWEEPS_S) {
      setTimeout(() => void removeImagesOfNoCheckpoint(d, false).catch((e: Error) => d.log.warn(`checkpoint images of no checkpoint: ${e.message}`)), s * 1000).unref();
    }
  }
  for (const f of d.store.strays()) rmSync(f, { force: true });
  pruneListings(d);
  for (const id of cut) {
    const r = d.workspaceStore.get(id);
    if (!r?.repository) continue;
    const gone = await removeTempIndexes(r.mountPath).catch((e: Error) => (d.log.warn(`reconcile: temporary git indexes of ${r.name}: ${e.message}`), []));
    if (gone.length) d.log.info(`reconcile: removed ${gone.length} temporary git index(es) of ${r.name} left by a cut checkpoint or restore`);
  }
}

/**
 * After the answer: the kept listings of original images that no checkpoint and no workspace
 * (but `gone`, being destroyed) runs on any more are removed.
 */
export function pruneListings(x: UpkeepContext, gone?: string): void {
  const ids = new Map<string, Promise<string | undefined>>();
  /** A workspace's image id on its engine (its record may name a tag); undefined when unknown now. */
  const imageId = (w: WorkspaceRecord): Promise<string | undefined> => {
    let p = ids.get(w.id);
    if (!p) {
      const engine = x.configuredEngine(w.engine);
      p = engine ? engine.imageInfo(w.image).then((i) => i?.id ?? "") : Promise.resolve(undefined);
      ids.set(w.id, p);
    }
    return p;
  };
  x.listings.later("removing listings of images no longer used", () =>
    x.listings.prune(async (engine, image) => {
      const on = (name: string | undefined) => (name || LOCAL_ENGINE) === engine;
      if (x.store.list().some((c) => on(c.engine) && c.container?.baseImage === image)) return true;
      let unknown = false;
      for (const w of x.workspaceStore.list()) {
        if (w.id === gone || !on(w.engine)) continue;
        if (w.image === image) return true;
        const id = await imageId(w).catch(() => undefined);
        if (id === image) return true;
        if (id === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    }),
  );
}

/** Seconds after reconcile at which images of no checkpoint are looked for again (see above). */
const LATE_SWEEPS_S = [2, 5, 10, 20, 40, 80];

/**
 * Removes the checkpoint images of this instance that no record names, on each engine that holds (or
 * held) its checkpoints: the local one, and those named by records (one that does not answer now
 * keeps its strays until a later start). A checkpoint being taken has its record before its commit.
 */
async function removeImagesOfNoCheckpoint(d: UpkeepContext, atStart: boolean): Promise<void> {
  const names = new Set<string | undefined>([undefined, ...d.store.list().map((c) => c.engine)]);
  for (const name of names) {
    const engine = d.configuredEngine(name);
    if (!engine) continue;
    const images = await listCheckpointImages(engine, d.instance).catch((e: Error) => {
      if (name || !atStart) d.log.warn(`reconcile: checkpoint images on engine '${name ?? LOCAL_ENGINE}': ${e.message}`);
      else throw e;
      return [];
    });
    for (const img of images) {
      if (!d.store.get(img.checkpointId)) {
        d.log.info(`reconcile: removing checkpoint image of no checkpoint (${img.checkpointId || img.id})`);
        await engine.removeImage(img.id).catch(() => {});
      }
    }
  }
}
