// How many files a tree holds, leaving out sync.exclude's patterns (SyncStats.filesTotal).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { excludeRegex } from "./config.ts";

export function countFiles(root: string, exclude: readonly string[] | RegExp | undefined): number {
  const re = Array.isArray(exclude) ? excludeRegex(exclude) : (exclude as RegExp | undefined);
  let count = 0;
  const walk = (dir: string, rel: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (re?.test(r)) continue;
      if (e.isDirectory()) walk(join(dir, e.name), r);
      else count++;
    }
  };
  walk(root, "");
  return count;
}
