// Paths of conflicts: where unison put the copy of the losing version, and a path a caller names
// (relative, inside the tree), checked before anything is resolved.
import { readdirSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, normalize, sep } from "node:path";
import { NexusError } from "../kernel/errors.ts";

/** Where unison put the copy of a conflicting file: `name (conflict_on_DATE).ext`, the newest one. */
export function findConflictCopy(root: string, path: string): string | null {
  const dir = dirname(path);
  const ext = extname(path);
  const stem = basename(path, ext);
  let best: { name: string; mtime: number } | null = null;
  let names: string[];
  try {
    names = readdirSync(join(root, dir));
  } catch {
    return null;
  }
  for (const name of names) {
    if (!name.startsWith(`${stem} (conflict_on_`) || !name.endsWith(`)${ext}`)) continue;
    const mtime = statSync(join(root, dir, name)).mtimeMs;
    if (!best || mtime > best.mtime) best = { name, mtime };
  }
  return best ? (dir === "." ? best.name : `${dir}/${best.name}`) : null;
}

/** A conflict path from a caller: relative, inside the tree. */
export function checkRelativePath(path: string): string {
  const p = normalize(path).replace(/\/+$/, "");
  if (!p || p === "." || isAbsolute(p) || p === ".." || p.startsWith(`..${sep}`)) {
    throw new NexusError("INVALID_ARGUMENT", `'${path}' is not a path inside the workspace`, { suggestion: "Give the path relative to the worktree, as 'nexus sync conflicts' lists it" });
  }
  return p;
}
