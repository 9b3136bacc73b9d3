import { KeyedMutex } from "../mutex.ts";

/**
 * One lifecycle operation at a time per workspace (start, stop, pause, destroy, refresh, ...), and a
 * count of status changes so work that finishes outside the lock can tell whether the workspace moved on.
 */
export class WorkspaceLocks {
  readonly #mutex = new KeyedMutex();
  readonly #changes = new Map<string, number>();
  /** One count over all workspaces: a count read before a workspace was forgotten never comes back. */
  #serial = 0;

  /** Runs `fn` holding the workspace's lock: operations on one workspace never interleave; a failure frees the lock. */
  run<T>(workspaceId: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(workspaceId, fn);
  }

  /**
   * `run`, for an operation that may answer its caller before it is done: `answerEarly(err)` rejects
   * the caller's promise at once, while `fn` goes on holding the lock until it returns, so what it still
   * has to do (undo a freeze that came too late) happens before any other operation on the workspace.
   */
  runAnswering<T>(workspaceId: string, fn: (answerEarly: (err: Error) => void) => Promise<T>): Promise<T> {
    let answerEarly!: (err: Error) => void;
    const early = new Promise<never>((_, reject) => (answerEarly = reject));
    // race listens to both: fn's own end, when it comes after an early answer, is dropped, not unhandled.
    return Promise.race([this.run(workspaceId, () => fn(answerEarly)), early]);
  }

  /** Counts one status change of the workspace. */
  changed(workspaceId: string): void {
    this.#changes.set(workspaceId, ++this.#serial);
  }

  /** The workspace is gone: its count goes (a daemon that makes and destroys workspaces all day keeps nothing of them). */
  forget(workspaceId: string): void {
    this.#changes.delete(workspaceId);
  }

  /** Workspaces with a count (a test checks that destroy leaves none behind). */
  get size(): number {
    return this.#changes.size;
  }

  /** Where the workspace's status changes stand: a new value means it changed (0: never). */
  changes(workspaceId: string): number {
    return this.#changes.get(workspaceId) ?? 0;
  }
}
