// Which file set which key of a project's configuration, for `nexus create` and `nexus status`.
import { relative } from "node:path";

export interface ConfigOrigins {
  files: string[];
  sources: Record<string, string>;
  overridden: Array<{ key: string; file: string; by: string }>;
}

/** One line per file with the keys it set, then one per key a later file set again; paths relative to the worktree. */
export function configSources(c: ConfigOrigins, root: string): string[] {
  const rel = (f: string) => (f.startsWith("/") ? relative(root, f) || f : f);
  const byFile = new Map<string, string[]>();
  for (const [key, file] of Object.entries(c.sources)) byFile.set(file, [...(byFile.get(file) ?? []), key]);
  const lines = [...byFile].map(([file, keys]) => `${rel(file)}: ${keys.join(", ")}`);
  for (const o of c.overridden) lines.push(`${o.key}: ${rel(o.by)} wins over ${rel(o.file)}`);
  return lines;
}
