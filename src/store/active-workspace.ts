// The active workspace (`nexus use`): one id in ~/.nexus/session/active-workspace, empty when none.
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "./atomic.ts";
import type { NexusPaths } from "./paths.ts";

/** The id (or, as older daemons wrote, name) of the active workspace; "" when none is set. */
export function readActiveRef(paths: NexusPaths): string {
  return existsSync(paths.activeWorkspace) ? readFileSync(paths.activeWorkspace, "utf8").trim() : "";
}

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
