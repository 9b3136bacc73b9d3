import type { WorkspaceStore } from "../../store/workspaces.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";

/**
 * What counts as use of a workspace, kept in memory: the last activity (on the exec hot path, written
 * with the next record save), commands running now, and reasons other parts give for keeping it awake.
 */
export class ActivityTracker {
  readonly #lastActive = new Map<string, string>();
  readonly #running = new Map<string, number>();
  readonly #awakeSources = new Set<(workspaceId: string) => string | undefined>();

  touch(workspaceId: string): void {
    this.#lastActive.set(workspaceId, new Date().toISOString());
  }

  /** The record with its in-memory last activity, when newer. */
  withActivity(r: WorkspaceRecord): WorkspaceRecord {
    const last = this.#lastActive.get(r.id);
    return last && last > r.lastActiveAt ? { ...r, lastActiveAt: last } : r;
  }

  /** The in-memory last activity, if any. */
  lastActive(workspaceId: string): string | undefined {
    return this.#lastActive.get(workspaceId);
  }

  commandStarted(workspaceId: string): void {
    this.#running.set(workspaceId, (this.#running.get(workspaceId) ?? 0) + 1);
  }

  commandEnded(workspaceId: string): void {
    const n = (this.#running.get(workspaceId) ?? 1) - 1;
    if (n > 0) this.#running.set(workspaceId, n);
    else this.#running.delete(workspaceId);
  }

  /** Commands running now: a workspace with one is never idle. */
  running(workspaceId: string): number {
    return this.#running.get(workspaceId) ?? 0;
  }

  /** `source` says what keeps a workspace awake (or undefined). Returns the remover. */
  addAwakeSource(source: (workspaceId: string) => string | undefined): () => void {
    this.#awakeSources.add(source);
    return () => void this.#awakeSources.delete(source);
  }

  awakeReasons(workspaceId: string): string[] {
    return [...this.#awakeSources].map((s) => s(workspaceId)).filter((x): x is string => !!x);
  }

  forget(workspaceId: string): void {
    this.#lastActive.delete(workspaceId);
    if (!this.#running.get(workspaceId)) this.#running.delete(workspaceId);
  }

  /** Workspaces something is kept about (a test checks that destroy leaves none behind). */
  get size(): number {
    return new Set([...this.#lastActive.keys(), ...this.#running.keys()]).size;
  }

  /** Writes in-memory activity newer than the records' (daemon shutdown). */
  flush(store: WorkspaceStore): void {
    for (const [id, at] of this.#lastActive) {
      const r = store.get(id);
      if (r && at > r.lastActiveAt) store.save({ ...r, lastActiveAt: at });
    }
  }
}
