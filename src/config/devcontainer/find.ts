// Where the spec looks for devcontainer.json: `.devcontainer/devcontainer.json`, `.devcontainer.json`
// at the root, and `.devcontainer/<folder>/devcontainer.json` (one configuration per folder).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { NexusError } from "../../kernel/errors.ts";

/** Every devcontainer.json of the repository at `root`, as paths relative to it, in the spec's order. */
export function findDevcontainers(root: string): string[] {
  const found: string[] = [];
  const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
  if (isFile(join(root, ".devcontainer", "devcontainer.json"))) found.push(".devcontainer/devcontainer.json");
  if (isFile(join(root, ".devcontainer.json"))) found.push(".devcontainer.json");
  const dir = join(root, ".devcontainer");
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    for (const sub of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
      if (isFile(join(dir, sub, "devcontainer.json"))) found.push(`.devcontainer/${sub}/devcontainer.json`);
    }
  }
  return found;
}

/**
 * The devcontainer.json to read: `chosen` (relative to the root; a folder holding one is fine too),
 * else the only one there is; several without a choice is an error listing them.
 */
export function chooseDevcontainer(root: string, chosen?: string): string | undefined {
  const all = findDevcontainers(root);
  if (chosen !== undefined) {
    let path = resolve(root, chosen);
    if (existsSync(path) && statSync(path).isDirectory()) path = join(path, "devcontainer.json");
    const rel = relative(root, path).split(sep).join("/");
    if (rel.startsWith("..") || !existsSync(path) || !statSync(path).isFile()) {
      throw new NexusError("INVALID_ARGUMENT", `No devcontainer.json at ${path}`, {
        suggestion: all.length > 0 ? `Pick one of: ${all.join(", ")}` : "This repository has no devcontainer.json; leave out --devcontainer",
        details: { devcontainer: chosen, found: all },
      });
    }
    return path;
  }
  if (all.length === 0) return undefined;
  if (all.length > 1) {
    throw new NexusError("INVALID_ARGUMENT", `This repository has ${all.length} devcontainer.json files: ${all.join(", ")}`, {
      suggestion: `Pick one with 'nexus create --devcontainer ${all[0]}' (REST/gRPC: "devcontainer")`,
      details: { found: all },
    });
  }
  return join(root, all[0]!);
}
