// Each workspace's git sync state: what the daemon keeps about its own git dir, in a file in its
// record folder (out of the workspace's reach), and in memory. afterExec reads it after every exec,
// so this object is the file's only writer and keeps each state as last read or written (a file
// read and a JSON parse each time, before).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { NexusPaths } from "../../store/paths.ts";

/** What the daemon keeps about a workspace's own git dir (in its record folder, out of the workspace's reach). */
export interface SyncState {
  kind: "worktree" | "repo";
  branch: string;
  adminName?: string;
  /** The branch tip both sides had at the last sync. */
  base?: string;
  /** refsFingerprint (both sides) at the last sync. */
  fingerprint?: string;
  /** refsFingerprint of the workspace's side only at the last sync: what destroy of a stopped workspace compares. */
  ownFingerprint?: string;
  /** refTreeFingerprint at the last sync: with `fingerprint`, what lets stop skip a sync when nothing moved. */
  refTree?: string;
  lastSyncAt?: string;
  /** HEAD inside (a commit) as the last sync read it: a checkpoint records it (src/core/checkpoints/). */
  insideHead?: string;
  /** The repository is inside the container's volume on a remote engine (remote-git.ts), not on this machine. */
  remote?: boolean;
  /** The last sync failed: a stopped remote workspace may hold commits the host has not (destroy asks for --force). */
  failed?: boolean;
}

export class SyncStates {
  readonly #paths: NexusPaths;
  readonly #states = new Map<string, SyncState>();

  constructor(paths: NexusPaths) {
    this.#paths = paths;
  }

  #file(id: string): string {
    return join(this.#paths.workspaceDir(id), "git-sync.json");
  }

  get(id: string): SyncState | undefined {
    if (this.#states.has(id)) return this.#states.get(id);
    let s: SyncState | undefined;
    try {
      s = JSON.parse(readFileSync(this.#file(id), "utf8")) as SyncState;
    } catch {
      s = undefined;
    }
    // A workspace without a state yet is read again next time (prepare may be under way elsewhere).
    if (s) this.#states.set(id, s);
    return s;
  }

  save(id: string, s: SyncState): void {
    writeFileAtomic(this.#file(id), JSON.stringify(s, null, 2) + "\n");
    this.#states.set(id, s);
  }

  /** The workspace is gone: its state leaves memory (its file went with its folder). */
  forget(id: string): void {
    this.#states.delete(id);
  }
}
