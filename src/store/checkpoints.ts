import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { CheckpointRecord } from "./checkpoint-types.ts";
import { writeFileAtomic } from "./atomic.ts";

/** Checkpoint records, ~/.nexus/checkpoints/<id>.json, with their home tars beside them. The daemon is the only writer. */
export class CheckpointStore {
  readonly dir: string;
  readonly #cache = new Map<string, CheckpointRecord>();

  constructor(dir: string) {
    this.dir = dir;
  }

  load(): CheckpointRecord[] {
    this.#cache.clear();
    if (!existsSync(this.dir)) return [];
    for (const f of readdirSync(this.dir)) {
      if (!/^ckpt-[0-9a-f]+\.json$/.test(f)) continue;
      try {
        const r = JSON.parse(readFileSync(join(this.dir, f), "utf8")) as CheckpointRecord;
        this.#cache.set(r.id, r);
      } catch {
        // A record that does not parse is left for the user to look at.
      }
    }
    return this.list();
  }

  list(): CheckpointRecord[] {
    return [...this.#cache.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  get(id: string): CheckpointRecord | undefined {
    return this.#cache.get(id);
  }

  homeFile(id: string): string {
    return join(this.dir, `${id}.home.tar`);
  }

  /** The checkpoint image's changed paths as one tar rooted at `/`, kept for its restores (fill.ts keepChangesTar). */
  changesFile(id: string): string {
    return join(this.dir, `${id}.changes.tar`);
  }

  /** The workspace's own git index (a tar of that one file, as the engine read it). */
  gitIndexFile(id: string): string {
    return join(this.dir, `${id}.git-index.tar`);
  }

  /** The one tar a restore copies into the new container, while it is being made (removed after). */
  copyInFile(tag: string): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return join(this.dir, `copy-in-${tag}.tar`);
  }

  save(r: CheckpointRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.dir, `${r.id}.json`), JSON.stringify(r, null, 2) + "\n");
    this.#cache.set(r.id, r);
  }

  remove(id: string): void {
    rmSync(this.homeFile(id), { force: true });
    rmSync(`${this.homeFile(id)}.partial`, { force: true });
    rmSync(this.gitIndexFile(id), { force: true });
    rmSync(`${this.gitIndexFile(id)}.partial`, { force: true });
    rmSync(this.changesFile(id), { force: true });
    rmSync(`${this.changesFile(id)}.partial`, { force: true });
    rmSync(join(this.dir, `${id}.json`), { force: true });
    this.#cache.delete(id);
  }

  /**
   * Files in the folder that belong to no record (a tar left by a daemon that died mid-create or
   * mid-restore, or the temporary file of a record or restore journal it was writing: atomic.ts).
   */
  strays(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((f) => {
      if (/^copy-in-[0-9a-f]+\.tar(\.partial)?$/.test(f)) return true;
      if (/^\.(?:ckpt-[0-9a-f]+|restore-[^/]+)\.json\.[0-9a-f]+\.tmp$/.test(f)) return true;
      const m = /^(ckpt-[0-9a-f]+)\.(?:home|git-index|changes)\.tar(\.partial)?$/.exec(f);
      return m && !this.#cache.has(m[1]!);
    }).map((f) => join(this.dir, f));
  }
}
