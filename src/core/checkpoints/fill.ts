// A container filled from a checkpoint: its rootfs changes and home in one archive copy (restore
// and `create --from-checkpoint` both make their container this way).
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, renameSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { changesParts, imageChangesParts } from "../../docker/checkpoints.ts";
import type { ContainerEngine } from "../../docker/container-engine.ts";
import { NEXUS_INIT } from "../../docker/image-context.ts";
import { putRestoreArchive, writeRestoreArchive, type RestorePart } from "../../docker/restore-archive.ts";
import type { CheckpointStore } from "../../store/checkpoints.ts";
import { NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ChangeListings } from "./listings.ts";
import { allSettled, Phases } from "./phases.ts";
import type { FillOptions } from "./restore.ts";
import type { CheckpointRecord } from "./types.ts";

export interface FillContext {
  /** The engine a checkpoint is on (undefined: the local one). */
  engine: (name: string | undefined) => ContainerEngine;
  store: CheckpointStore;
  log: Logger;
  listings: ChangeListings;
}

/**
 * Makes the target container (`target`: created, not started) and brings the checkpoint's
 * container filesystem changes and home into it in ONE archive copy (each copy into a container
 * that is not running mounts its filesystem); answers its id. The tar is written (from a reader
 * of the checkpoint image and the home tar) while the target is made; it goes in once `ready`
 * settles (a restore: the old container is down), with `extra` parts after the checkpoint's own.
 */
export async function fillContainer(d: FillContext, c: CheckpointRecord, target: () => Promise<string>, phases: Phases = new Phases(), opts: FillOptions = {}): Promise<string> {
  const engine = d.engine(c.engine);
  if (c.container && !(await engine.imageInfo(c.container.image))) {
    throw new NexusError("CONTAINER_ERROR", `The image of checkpoint '${c.name}' (${c.container.image}) is gone`, {
      suggestion: `Delete the checkpoint ('nexus checkpoint delete ${c.workspaceName} ${c.name}'); its files cannot come back`,
      details: { checkpoint: c.id },
    });
  }
  if (c.home && !existsSync(c.home.file)) {
    throw new NexusError("CONTAINER_ERROR", `The home tar of checkpoint '${c.name}' is gone (${c.home.file})`, {
      suggestion: `Delete the checkpoint ('nexus checkpoint delete ${c.workspaceName} ${c.name}')`,
      details: { checkpoint: c.id },
    });
  }
  const temp = d.listings.readerLabels();
  const listChanges = () => phases.part("list-changes", () => d.listings.changesOf(c));
  const file = d.store.copyInFile(randomBytes(4).toString("hex"));
  try {
    const [containerId] = await allSettled([
      phases.part("container", target),
      phases.part("archive", async () => {
        async function* parts(): AsyncGenerator<RestorePart> {
          const kept = d.store.changesFile(c.id);
          if (c.container && existsSync(kept)) {
            // Made after the checkpoint's answer (keepChangesTar): no throwaway container now.
            const { remove } = await listChanges();
            yield { from: "file", file: kept, dir: "/" };
            yield* changesParts(undefined, { copy: [], remove }, { path: "/usr/local/sbin/nexus-init", content: NEXUS_INIT });
          } else if (c.container) {
            yield* imageChangesParts(engine, c.container.image, await listChanges(), temp, (n) => d.log.info(`checkpoint ${c.id}: the image has no tar to run; reading its ${n} changed paths one by one`));
          }
          if (c.home) yield { from: "file", file: c.home.file, dir: "/home" };
          if (opts.extra) yield* await opts.extra();
        }
        await writeRestoreArchive(engine, parts(), file);
      }),
    ] as const);
    await opts.ready?.();
    await phases.part("copy-in", () => putRestoreArchive(engine, containerId, file));
    return containerId;
  } finally {
    rmSync(file, { force: true });
  }
}

/** The largest rootfs change whose tar is kept beside a checkpoint (a bigger one is read at restore). */
export const KEEP_CHANGES_MAX_BYTES = 64 * 1024 * 1024;

/**
 * After a checkpoint's answer (its changes listed): the changed paths of its image as one tar beside
 * its record, so a restore copies a file instead of running a throwaway container of the image
 * while it is under way (the longest part of its preparation once the old container is ended
 * frozen). Only for a change of at most KEEP_CHANGES_MAX_BYTES; an image without tar keeps none.
 * Written to .partial and renamed: a restore sees the whole tar or none (and then reads the image).
 */
export async function keepChangesTar(d: FillContext, c: CheckpointRecord): Promise<void> {
  if (!c.container || c.container.layerBytes > KEEP_CHANGES_MAX_BYTES) return;
  const file = d.store.changesFile(c.id);
  if (existsSync(file)) return;
  const { copy } = await d.listings.changesOf(c);
  if (copy.length === 0) return;
  const tar = await d.engine(c.engine).readImagePaths(c.container.image, copy, d.listings.readerLabels());
  if (!tar) return;
  const tmp = `${file}.partial`;
  let read = false;
  try {
    await pipeline(tar.stream, createWriteStream(tmp, { mode: 0o600 }));
    read = true;
    await tar.done(true);
  } catch (err) {
    if (!read) await tar.done(false).catch(() => {});
    rmSync(tmp, { force: true });
    throw err;
  }
  // Deleted meanwhile (its record gone): nothing is kept.
  if (!d.store.get(c.id)) return void rmSync(tmp, { force: true });
  renameSync(tmp, file);
}
