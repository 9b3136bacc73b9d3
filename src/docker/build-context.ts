// A folder as a Docker build context (tar entries), as `docker build` makes it: the project's
// `.dockerignore` is honoured with Docker's own matching rules (@balena/dockerignore, the matcher
// dockerode uses for its own contexts), the Dockerfile always travels, symlinks are not followed
// out of the folder, and a context over 64 MiB is refused.
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import dockerignore from "@balena/dockerignore";
import { readUntrustedBufferSync } from "../fs/untrusted-files.ts";
import { NexusError } from "../kernel/errors.ts";
import type { TarEntry } from "./tar.ts";

const MAX_CONTEXT_BYTES = 64 * 1024 * 1024;

export interface ContextOptions {
  /** Read `<dir>/.dockerignore` and leave out what it names (a project's build; not a feature folder). */
  dockerignore?: boolean;
  /** Paths (relative to dir) sent whatever .dockerignore says: the Dockerfile, as Docker does. */
  keep?: readonly string[];
}

/** The files under `dir` as tar entries (a build context), refusing one larger than 64 MiB. */
export function contextEntries(dir: string, opts: ContextOptions = {}): TarEntry[] {
  const ignored = opts.dockerignore ? ignoreRules(dir, opts.keep ?? []) : () => false;
  let total = 0;
  const walk = (sub: string): TarEntry[] => {
    const out: TarEntry[] = [];
    for (const d of readdirSync(join(dir, sub), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = sub ? `${sub}/${d.name}` : d.name;
      if (d.isDirectory()) {
        // An ignored folder still travels when an exception (!pattern) keeps a file inside it.
        const inside = walk(rel);
        if (!ignored(rel) || inside.length > 0) out.push({ name: rel, type: "dir", mode: 0o755 }, ...inside);
      } else if (d.isFile() && !ignored(rel)) {
        // The project's files are the workspace's: no symlink out, regular files only (raced swaps included).
        const content = readUntrustedBufferSync(dir, rel, { maxBytes: MAX_CONTEXT_BYTES }) ?? Buffer.alloc(0);
        total += content.length;
        if (total > MAX_CONTEXT_BYTES) {
          throw new NexusError("INVALID_ARGUMENT", `The build context ${dir} is larger than 64 MiB`, {
            suggestion: "Keep the project's Dockerfile in a folder of its own (e.g. .nexus/) with only what the build needs, or name the rest in its .dockerignore",
            details: { context: dir },
          });
        }
        out.push({ name: rel, content, mode: lstatSync(join(dir, rel)).mode & 0o777 });
      }
    }
    return out;
  };
  return walk("");
}

/** Whether a context path is left out by `<dir>/.dockerignore` (none: nothing is). */
function ignoreRules(dir: string, keep: readonly string[]): (rel: string) => boolean {
  const text = readUntrustedBufferSync(dir, ".dockerignore")?.toString("utf8");
  if (text === undefined) return () => false;
  const rules = dockerignore({ ignorecase: false }).add(text);
  const kept = new Set(keep.map((k) => k.replace(/^\.\//, "")));
  return (rel) => !kept.has(rel) && rules.ignores(rel);
}
