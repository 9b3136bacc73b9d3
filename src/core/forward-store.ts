// The forwards of a workspace kept across daemon restarts: <workspace dir>/forwards.json.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../store/atomic.ts";
import type { PortForward } from "./port-entries.ts";

export interface SavedForward extends PortForward {
  /** The host port was allocated by the daemon (and goes back to the allocator with the forward). */
  allocated?: boolean;
}

const fileIn = (workspaceDir: string) => join(workspaceDir, "forwards.json");

/** Writes the workspace's forwards; a workspace whose folder is gone (destroyed meanwhile) keeps none. */
export function saveForwards(workspaceDir: string, forwards: SavedForward[]): void {
  if (!existsSync(workspaceDir)) return;
  writeFileAtomic(fileIn(workspaceDir), JSON.stringify({ version: 1, forwards }, null, 2) + "\n");
}

/** The saved forwards that are well formed; a file that does not parse is reported and restores none. */
export function loadForwards(workspaceDir: string, onBadFile: (file: string, why: string) => void): SavedForward[] {
  const file = fileIn(workspaceDir);
  if (!existsSync(file)) return [];
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as { forwards?: SavedForward[] };
    return (data.forwards ?? []).filter((f) => typeof f.id === "string" && Number.isInteger(f.hostPort) && Number.isInteger(f.containerPort) && (f.visibility === "private" || f.visibility === "public"));
  } catch (err) {
    onBadFile(file, (err as Error).message);
    return [];
  }
}
