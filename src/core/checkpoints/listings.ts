// The rootfs changes of a checkpoint, listed after its answer: `docker diff` on this engine walks the
// whole image (0.7–1.2 s of dockerd CPU per call, holding the container's lock), so once an original
// image has been listed (GNU find in a throwaway container, image-listing.ts) a checkpoint's changes
// are the difference between that listing and its committed image's, made after the answer. The
// original image's listing is kept on disk too (store/image-listings.ts), so a daemon start does not
// bring `docker diff` back into the first checkpoint of each image.
import type { RootfsChanges } from "../../docker/checkpoints.ts";
import { reduceChanges } from "../../docker/checkpoints.ts";
import type { ContainerEngine } from "../../docker/container-engine.ts";
import { diffListings, listImage, type Listing } from "../../docker/image-listing.ts";
import { LABELS } from "../../docker/labels.ts";
import { LOCAL_ENGINE } from "../../config/engines.ts";
import type { CheckpointStore } from "../../store/checkpoints.ts";
import type { ImageListingFiles } from "../../store/image-listings.ts";
import type { Logger } from "../log.ts";
import type { CheckpointRecord } from "./types.ts";

export interface ChangeListingsDeps {
  /** The engine a checkpoint is on (undefined: the local one). */
  engine: (name: string | undefined) => ContainerEngine;
  store: CheckpointStore;
  /** Original images' listings on disk, read back after a daemon start. */
  files: ImageListingFiles;
  instance: string;
  log: Logger;
}

export class ChangeListings {
  readonly #d: ChangeListingsDeps;
  /** Listings of original images, one per engine and image while the daemon runs; an image without GNU find has none. */
  readonly #baseListings = new Map<string, Promise<Listing>>();
  /** Engine and image keys whose listing was made: their checkpoints list the commit's changes afterwards instead of `docker diff` while frozen. */
  readonly #listed = new Set<string>();
  /** Listings of checkpoints' changes under way, by checkpoint id. */
  readonly #listing = new Map<string, Promise<RootfsChanges>>();
  /** Work left running after an answer (listings): the bench and tests wait for it with settled(). */
  readonly #background = new Set<Promise<unknown>>();

  constructor(deps: ChangeListingsDeps) {
    this.#d = deps;
  }

  /**
   * Whether the original image was listed (by this daemon, or one before it: its file is there): a
   * checkpoint on it lists its changes after the answer. A file that turns out unusable then only
   * costs the listing made again from the image, which the workspace still runs on.
   */
  listed(engineName: string | undefined, image: string): boolean {
    return this.#listed.has(listingKey(engineName, image)) || this.#d.files.has(engineName || LOCAL_ENGINE, image);
  }

  /** Runs `fn` after the current answer; a failure is only logged (what it makes is made again when needed). */
  later(what: string, fn: () => Promise<unknown>): void {
    const p: Promise<unknown> = Promise.resolve()
      .then(fn)
      .catch((e: Error) => this.#d.log.info(`${what}: ${e.message} (done again when needed)`))
      .finally(() => this.#background.delete(p));
    this.#background.add(p);
  }

  /** Settles once the work left running after answers (listings) has ended. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Labels of the throwaway containers that read an image. */
  readerLabels(): Record<string, string> {
    return { [LABELS.managed]: "true", [LABELS.instance]: this.#d.instance, [LABELS.role]: "checkpoint-read" };
  }

  /** The listing of an original image on an engine, made once (an image is never changed). */
  baseListing(engineName: string | undefined, image: string): Promise<Listing> {
    const key = listingKey(engineName, image);
    let p = this.#baseListings.get(key);
    if (!p) {
      const engine = engineName || LOCAL_ENGINE;
      p = (async () => {
        const kept = this.#d.files.read(engine, image);
        if (kept) return kept;
        const listing = await listImage(this.#d.engine(engineName), image, this.readerLabels());
        try {
          if (!this.#d.files.write(engine, image, listing)) this.#d.log.info(`the listing of image ${image} is too big to keep on disk; it is made again after a daemon start`);
        } catch (e) {
          this.#d.log.warn(`keeping the listing of image ${image}: ${(e as Error).message}`);
        }
        return listing;
      })();
      this.#baseListings.set(key, p);
      p.then(
        () => this.#listed.add(key),
        () => {}, // no listing: this image's checkpoints keep `docker diff` (tried again after a daemon restart)
      );
    }
    return p;
  }

  /**
   * Removes the kept listings of images no checkpoint and no workspace uses any more: `inUse(engine,
   * image)` says which are (undefined: it cannot tell now, the file stays).
   */
  async prune(inUse: (engine: string, image: string) => Promise<boolean | undefined>): Promise<void> {
    for (const f of this.#d.files.list()) {
      const used = f.engine && f.image ? await inUse(f.engine, f.image).catch(() => undefined) : false;
      if (used !== false) continue;
      this.#d.files.remove(f.file);
      const key = listingKey(f.engine, f.image);
      this.#baseListings.delete(key);
      this.#listed.delete(key);
    }
  }

  /** What a checkpoint's commit changed, listed from its image when the checkpoint did not take `docker diff`; kept in its record. */
  async changesOf(c: CheckpointRecord): Promise<RootfsChanges> {
    const k = c.container!;
    if (k.changes) return k.changes;
    let p = this.#listing.get(c.id);
    if (!p) {
      p = (async () => {
        const [base, top] = await Promise.all([this.baseListing(c.engine, k.baseImage), listImage(this.#d.engine(c.engine), k.image, this.readerLabels())]);
        const changes = reduceChanges(diffListings(base, top), k.exclude ?? []);
        // The record may have been read again (or deleted) meanwhile: the one the store holds gets them.
        for (const rec of new Set([c, this.#d.store.get(c.id)])) {
          if (!rec?.container) continue;
          rec.container.changes = changes;
          delete rec.container.exclude;
        }
        const now = this.#d.store.get(c.id);
        if (now) this.#d.store.save(now);
        return changes;
      })();
      this.#listing.set(c.id, p);
      p.then(
        () => this.#listing.delete(c.id),
        () => this.#listing.delete(c.id),
      );
    }
    return p;
  }
}

/** Listings are per engine and image (an image id names the same files on one engine only). */
function listingKey(engine: string | undefined, image: string): string {
  return `${engine || LOCAL_ENGINE}\0${image}`;
}
