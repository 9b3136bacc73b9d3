// The active workspace (`nexus use`): one id in ~/.nexus/session/active-workspace, empty when none.
import { writeFileAtomic } from "./atomic.ts";
import { readActiveRef } from "./active-ref.ts";
import type { NexusPaths } from "./paths.ts";

export { readActiveRef };

export function writeActiveRef(paths: NexusPaths, workspaceId: string): void {
  writeFileAtomic(paths.activeWorkspace, workspaceId + "\n");
}

export function clearActiveRef(paths: NexusPaths): void {
  writeFileAtomic(paths.activeWorkspace, "");
}

/** Clears the active workspace when it is one of `refs` (a workspace's id and name, at destroy). */
export function clearActiveRefIf(paths: NexusPaths, refs: readonly string[]): void {
  const active = readActiveRef(paths);
  if (active && refs.includes(active)) clearActiveRef(paths);
}
