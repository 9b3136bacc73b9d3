// Reading the active workspace (`nexus use`), apart from writing it (active-workspace.ts): every CLI
// command may read it, and node:fs is loaded only when one does (importing it costs a short command
// more than its own work).
import type { NexusPaths } from "./paths.ts";

/** The id (or, as older daemons wrote, name) of the active workspace; "" when none is set. */
export function readActiveRef(paths: NexusPaths): string {
  const { existsSync, readFileSync } = process.getBuiltinModule("node:fs") as typeof import("node:fs");
  return existsSync(paths.activeWorkspace) ? readFileSync(paths.activeWorkspace, "utf8").trim() : "";
}
