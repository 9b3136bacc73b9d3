// A workspace's lasting port forwards in ~/.nexus (workspaces/<id>/forwards.json), restored when the
// daemon starts.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PortForward } from "../kernel/types.ts";
import { writeFileAtomic } from "./atomic.ts";
import type { NexusPaths } from "./paths.ts";

export interface SavedForward extends PortForward {
  /** The host port was allocated by the daemon (and goes back to the allocator with the forward). */
  allocated?: boolean;
}

const fileOf = (paths: NexusPaths, workspaceId: string) => join(paths.workspaceDir(workspaceId), "forwards.json");

/** Writes the workspace's forwards; a workspace whose folder is gone (destroyed meanwhile) keeps none. */
export function saveForwards(paths: NexusPaths, workspaceId: string, forwards: readonly SavedForward[]): void {
  if (!existsSync(paths.workspaceDir(workspaceId))) return;
  writeFileAtomic(fileOf(paths, workspaceId), JSON.stringify({ version: 1, forwards }, null, 2) + "\n");
}

/** The saved forwards that are well formed; a file that does not parse is reported and restores none. */
export function loadForwards(paths: NexusPaths, workspaceId: string, onBadFile: (file: string, why: string) => void): SavedForward[] {
  const file = fileOf(paths, workspaceId);
  if (!existsSync(file)) return [];
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as { forwards?: SavedForward[] };
    return (data.forwards ?? []).filter((f) => typeof f.id === "string" && Number.isInteger(f.hostPort) && Number.isInteger(f.containerPort) && (f.visibility === "private" || f.visibility === "public"));
  } catch (err) {
    onBadFile(file, (err as Error).message);
    return [];
  }
}
