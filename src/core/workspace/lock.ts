import { KeyedMutex } from "../mutex.ts";

/**
 * One lifecycle operation at a time per workspace (start, stop, pause, destroy, refresh, ...), and a
 * count of status changes so work that finishes outside the lock can tell whether the workspace moved on.
 */
export class WorkspaceLocks {
  readonly #mutex = new KeyedMutex();
  readonly #changes = new Map<string, number>();

  /** Runs `fn` holding the workspace's lock: operations on one workspace never interleave; a failure frees the lock. */
  run<T>(workspaceId: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(workspaceId, fn);
  }

  /** Counts one status change of the workspace. */
  changed(workspaceId: string): void {
    this.#changes.set(workspaceId, this.changes(workspaceId) + 1);
  }

  /** Status changes so far. */
  changes(workspaceId: string): number {
    return this.#changes.get(workspaceId) ?? 0;
  }
}
