import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { WorkspaceRecord } from "../kernel/types.ts";
import type { NexusPaths } from "./paths.ts";
import { writeFileAtomic } from "./atomic.ts";
import { writeFileAtomicAsync } from "./atomic-async.ts";
import { formatRecord, parseRecord } from "./record-schema.ts";

/** Workspace records on disk: one folder per workspace holding workspace.json. The daemon is its only writer. */
export class WorkspaceStore {
  readonly #paths: NexusPaths;
  readonly #cache = new Map<string, WorkspaceRecord>();
  /** Records saved with saveSoon whose file is not written yet: id → the generation of that save. */
  readonly #pending = new Map<string, number>();
  #generation = 0;
  #unreadable: string[] = [];

  constructor(paths: NexusPaths) {
    this.#paths = paths;
  }

  load(): WorkspaceRecord[] {
    this.#cache.clear();
    this.#unreadable = [];
    if (!existsSync(this.#paths.workspaces)) return [];
    for (const id of readdirSync(this.#paths.workspaces)) {
      const file = join(this.#paths.workspaceDir(id), "workspace.json");
      if (!existsSync(file)) continue;
      try {
        const record = parseRecord(readFileSync(file, "utf8"), file);
        this.#cache.set(record.id, record);
      } catch (err) {
        // Left on disk for the user (never overwritten or removed); reconcile logs why.
        this.#unreadable.push((err as Error).message);
      }
    }
    return this.list();
  }

  /** Why each record file the last load left out could not be read. */
  unreadable(): readonly string[] {
    return this.#unreadable;
  }

  list(): WorkspaceRecord[] {
    return [...this.#cache.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): WorkspaceRecord | undefined {
    return this.#cache.get(id);
  }

  findByName(name: string): WorkspaceRecord | undefined {
    for (const r of this.#cache.values()) if (r.name === name) return r;
    return undefined;
  }

  save(record: WorkspaceRecord): void {
    this.#pending.delete(record.id);
    mkdirSync(this.#paths.workspaceDir(record.id), { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.#paths.workspaceDir(record.id), "workspace.json"), formatRecord(record));
    this.#cache.set(record.id, record);
  }

  /**
   * Saves the record in memory now and its file right after, off the caller's path: on a busy disk
   * the fsync of a save costs 5–150 ms, which a resume or a stop would otherwise answer late by.
   * Only for a status the engine tells again after a crash (running, paused, stopped: reconcile reads
   * it back). A later save, saveSoon or remove wins over a write still under way.
   */
  saveSoon(record: WorkspaceRecord): Promise<void> {
    const id = record.id;
    const generation = ++this.#generation;
    this.#pending.set(id, generation);
    this.#cache.set(id, record);
    const current = () => this.#pending.get(id) === generation;
    const file = join(this.#paths.workspaceDir(id), "workspace.json");
    return writeFileAtomicAsync(file, formatRecord(record), current)
      .catch(() => {
        // The thread pool's write failed: once more, the usual way (a full disk then throws, into nothing: flushPending tries again at shutdown).
        if (current()) writeFileAtomic(file, formatRecord(record));
      })
      .catch(() => false)
      .then(() => {
        if (current()) this.#pending.delete(id);
        // A remove made while the write was under way may have met its temp file (ENOTEMPTY) and left the folder: it goes now.
        else if (!this.#cache.has(id)) removeFolder(this.#paths.workspaceDir(id));
      });
  }

  /** Writes what saveSoon has not written yet (daemon shutdown). */
  flushPending(): void {
    for (const id of [...this.#pending.keys()]) {
      const r = this.#cache.get(id);
      if (r) this.save(r);
      this.#pending.delete(id);
    }
  }

  remove(id: string): void {
    this.#pending.delete(id);
    this.#cache.delete(id);
    removeFolder(this.#paths.workspaceDir(id));
  }
}

/**
 * Removes a record's folder. A saveSoon still under way may create its temp file in it between the
 * listing and the rmdir of a recursive rm (ENOTEMPTY, seen under Deno): the rm is tried again; a
 * temp file made later still is removed, with the folder, when that write ends (saveSoon above).
 */
function removeFolder(dir: string): void {
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOTEMPTY") throw err;
    }
  }
}
