// The CLI's hot paths are bundled into one module each before the binary is built
// (scripts/hot-paths.ts): what a bundle may copy, and what it must leave as an import. A build
// test (Bun's bundler), so it lives beside install.test.ts's build tests, not in the unit suite.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { bundleHotPaths, HOT_ENTRIES, SHARED, type HotPaths } from "../../scripts/hot-paths.ts";

const root = join(import.meta.dir, "..", "..");
let hot: HotPaths;

beforeAll(async () => {
  hot = await bundleHotPaths({ NEXUS_VERSION: '"9.9.9"', NEXUS_COMMIT: '"test"', NEXUS_BUILD_DATE: '""', NEXUS_HELP: '"help"' });
});

afterAll(() => hot?.cleanup());

/** Every file under src/, as a path from the repository's root. */
function sources(dir = join(root, "src")): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith(".ts") ? [path] : [];
  });
}

describe("hot path bundles", () => {
  test("each hot entry is one file whose only static imports are the shared modules (and runtime builtins)", () => {
    const shared = new Set(SHARED.map((p) => join(root, p)));
    for (const entry of HOT_ENTRIES) {
      const code = readFileSync(hot.bundles.get(entry)!, "utf8");
      const statics = [...code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"'();]*?\bfrom\s*)?["']([^"']+)["']/g)].map((m) => m[1]!);
      const ours = statics.filter((s) => !s.startsWith("node:") && !s.startsWith("bun:"));
      expect({ entry, unexpected: ours.filter((s) => !shared.has(s)) }).toEqual({ entry, unexpected: [] });
      // Lazily loaded parts stay lazy: the module that starts a daemon is not copied in.
      expect(code).not.toContain("spawn(");
    }
  });

  // A dynamic import of the version/list bundle, or of the plain exec's, cost its command about 1 ms
  // (the module loader's first run); in main.ts's own chunk each costs the other commands a few page faults.
  test("src/main.ts imports the version and list path and the plain exec's statically, the full exec path when asked", () => {
    const main = readFileSync(join(root, "src/main.ts"), "utf8");
    expect(main).toMatch(/^import \{ runInstant \} from "\.\/cli\/instant\.ts";$/m);
    expect(main).not.toContain('import("./cli/instant.ts")');
    expect(main).toMatch(/^import \{ runExecLane \} from "\.\/cli\/exec-lane\.ts";$/m);
    expect(main).not.toContain('import("./cli/exec-lane.ts")');
    expect(main).toContain('import("./cli/fast-exec.ts")');
  });

  test("the hot paths copy what they use and nothing that starts a daemon", () => {
    const copied = [...hot.copied].map((p) => relative(root, p)).sort();
    expect(copied).toContain("src/cli/instant.ts");
    expect(copied).toContain("src/cli/fast-exec.ts");
    expect(copied).toContain("src/cli/exec-lane.ts");
    expect(copied).toContain("src/cli/commands/exec.ts");
    expect(copied).toContain("src/cli/client.ts");
    expect(copied).not.toContain("src/cli/daemon-process.ts");
    for (const s of SHARED) expect(copied).not.toContain(s);
    // An npm package would be copied in unchecked (its state, its classes): none is on a hot path.
    expect([...hot.packages]).toEqual([]);
  });

  // A copy behaves as the original only if the module keeps no state of its own and defines no class
  // that some code checks with instanceof (a copy's instances fail the original's check). Such a
  // module belongs in SHARED.
  test("no copied module keeps state at module level", () => {
    for (const file of hot.copied) {
      const code = readFileSync(file, "utf8");
      const state = code.split("\n").filter((line) => /^(export\s+)?(let|var)\s/.test(line) || /^(export\s+)?const\s+\w+(\s*:[^=]+)?=\s*(new\s|\{\s*\}|\[\s*\])/.test(line));
      expect({ file: relative(root, file), state }).toEqual({ file: relative(root, file), state: [] });
    }
  });

  test("no class defined in a copied module is checked with instanceof anywhere", () => {
    const classes = [...hot.copied].flatMap((file) => [...readFileSync(file, "utf8").matchAll(/^(?:export\s+)?(?:abstract\s+)?class\s+(\w+)/gm)].map((m) => m[1]!));
    expect(classes.length).toBeGreaterThan(0); // CliContext, DaemonClient: the check below has something to check
    const checked = sources().flatMap((file) => classes.filter((c) => new RegExp(`instanceof\\s+${c}\\b`).test(readFileSync(file, "utf8"))).map((c) => `${relative(root, file)}: ${c}`));
    expect(checked).toEqual([]);
  });
});
