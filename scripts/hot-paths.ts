// The CLI's hot paths, each bundled into one module before the binary is built (scripts/build.ts).
//
// With splitting, Bun puts every module that a different set of entry points reaches into a chunk of
// its own, and a short command pays for each chunk it loads (about 8 fresh pages, 0.2-0.3 ms on a
// 2-core VM, whatever the chunk's size): `nexus exec ws -- true` loaded 15, `nexus version` 8. So the
// modules of each hot path are bundled first into one file, which the binary's build then takes in
// place of the hot path's entry: one chunk for the path, plus the modules it shares with the rest of
// the binary by identity (SHARED).
//
// Left as imports (by absolute path, so the binary's build finds the same module the rest of the CLI
// imports): every dynamic import (loaded only when needed: starting a daemon, a detached exec), and
// the SHARED modules. Everything else a hot path imports is copied into its bundle; those modules
// hold no state and define no class that is checked with instanceof across the boundary, so a copy
// behaves as the original. A module that does (state at module level, a class caught by type) must
// be listed in SHARED.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

const root = join(import.meta.dir, "..");

/** The hot paths' entries, as src/main.ts imports them. */
export const HOT_ENTRIES = ["src/cli/instant.ts", "src/cli/exec-lane.ts", "src/cli/fast-exec.ts"] as const;

/**
 * Modules a hot path must share with the rest of the binary rather than copy: stdio.ts keeps the
 * writes under way and their failures (main.ts waits for them before exiting); errors.ts defines
 * NexusError, which the CLI catches by class.
 */
export const SHARED = ["src/runtime/stdio.ts", "src/kernel/errors.ts", "src/core/errors.ts"] as const;

export interface HotPaths {
  /** Resolves src/main.ts's imports of the hot entries to their bundles. */
  plugin: Bun.BunPlugin;
  /** Each hot entry (as in HOT_ENTRIES) and its bundle's file. */
  bundles: Map<string, string>;
  /** The source files copied into the bundles (absolute paths), the entries among them. */
  copied: Set<string>;
  /** npm packages a hot path imports (copied in too, and not checked as our modules are): none today. */
  packages: Set<string>;
  /** Removes the bundles. */
  cleanup(): void;
}

export async function bundleHotPaths(define: Record<string, string>): Promise<HotPaths> {
  const outdir = mkdtempSync(join(tmpdir(), "nexus-hot-"));
  const shared = new Set(SHARED.map((p) => join(root, p)));
  const copied = new Set(HOT_ENTRIES.map((e) => join(root, e)));
  const packages = new Set<string>();
  const keepImports: Bun.BunPlugin = {
    name: "nexus-hot-path-imports",
    setup(b) {
      b.onResolve({ filter: /^\.{1,2}\// }, (args) => {
        const path = resolve(dirname(args.importer), args.path);
        if (args.kind === "dynamic-import" || shared.has(path)) return { path, external: true };
        copied.add(path);
        return undefined;
      });
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!/^(node|bun):/.test(args.path) && args.kind !== "dynamic-import") packages.add(args.path);
        return undefined;
      });
    },
  };
  try {
    const result = await Bun.build({
      entrypoints: HOT_ENTRIES.map((e) => join(root, e)),
      outdir,
      target: "bun",
      format: "esm",
      splitting: false,
      minify: true,
      sourcemap: "none",
      define,
      plugins: [keepImports],
    });
    if (!result.success) throw new Error(`bundling the hot paths failed: ${result.logs.map(String).join("; ")}`);
  } catch (err) {
    rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
  const bundles = new Map<string, string>(HOT_ENTRIES.map((e) => [e, join(outdir, basename(e).replace(/\.ts$/, ".js"))]));
  // src/main.ts names them relative to itself: "./cli/instant.ts".
  const byImport = new Map([...bundles].map(([e, file]) => [`./${e.slice("src/".length)}`, file]));
  const main = join(root, "src/main.ts");
  return {
    plugin: {
      name: "nexus-hot-paths",
      setup(b) {
        b.onResolve({ filter: /^\.\/cli\// }, (args) => (args.importer === main && byImport.has(args.path) ? { path: byImport.get(args.path)! } : undefined));
      },
    },
    bundles,
    copied,
    packages,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
