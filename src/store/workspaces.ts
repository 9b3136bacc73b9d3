import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { WorkspaceRecord } from "../kernel/types.ts";
import type { NexusPaths } from "./paths.ts";
import { writeFileAtomic } from "./atomic.ts";
import { formatRecord, parseRecord } from "./record-schema.ts";

/** Workspace records on disk: one folder per workspace holding workspace.json. The daemon is its only writer. */
export class WorkspaceStore {
  readonly #paths: NexusPaths;
  readonly #cache = new Map<string, WorkspaceRecord>();
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
    mkdirSync(this.#paths.workspaceDir(record.id), { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.#paths.workspaceDir(record.id), "workspace.json"), formatRecord(record));
    this.#cache.set(record.id, record);
  }

  remove(id: string): void {
    rmSync(this.#paths.workspaceDir(id), { recursive: true, force: true });
    this.#cache.delete(id);
  }
}
