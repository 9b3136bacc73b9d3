// The layer order, read from the imports: kernel ← adapters ← core ← api / cli ← daemon (← main.ts).
// A file may import its own layer's files and the layers below; adapters may use each other, the
// two transports (api, cli) may not, and the kernel imports nothing of the project but itself.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dirname, "../../src");

/** Every top-level entry of src/ with its layer: a new folder fails the test until it is placed here. */
const LAYERS: Record<string, number> = {
  kernel: 0,
  "version.ts": 0,
  config: 1,
  ssh: 1,
  git: 1,
  docker: 1,
  store: 1,
  runtime: 1,
  auth: 1,
  service: 1,
  fs: 1,
  sync: 1,
  secrets: 1,
  core: 2,
  api: 3,
  cli: 3,
  daemon: 4,
  "main.ts": 5,
};
const LAYER_NAMES = ["kernel", "adapters", "core", "api/cli", "daemon", "main"];
/** Same-layer folders that may import each other. */
const PEERS_ALLOWED = new Set([1]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Relative imports of a file: static imports and re-exports, and dynamic import(). */
function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) out.push((m[1] ?? m[2])!);
  return out;
}

const top = (file: string) => relative(SRC, file).split("/")[0]!;

/** Why importing `to` from `from` runs against the order, or undefined when it does not. */
function violation(from: string, to: string): string | undefined {
  const a = top(from);
  const b = top(to);
  if (a === b) return undefined;
  const la = LAYERS[a];
  const lb = LAYERS[b];
  if (la === undefined || lb === undefined) return `src/${la === undefined ? a : b} has no layer: place it in LAYERS`;
  if (lb > la) return `${a} (${LAYER_NAMES[la]}) imports ${b} (${LAYER_NAMES[lb]}), a layer above it`;
  if (lb === la && !PEERS_ALLOWED.has(la)) return `${a} and ${b} are both ${LAYER_NAMES[la]}: neither may import the other`;
  return undefined;
}

describe("layer order", () => {
  test("no import runs against kernel ← adapters ← core ← api / cli ← daemon", () => {
    const found: string[] = [];
    for (const file of sources(SRC)) {
      for (const spec of relativeImports(readFileSync(file, "utf8"))) {
        const target = resolve(dirname(file), spec);
        const why = violation(file, target);
        if (why) found.push(`${relative(SRC, file)} → ${relative(SRC, target)}: ${why}`);
      }
    }
    expect(found).toEqual([]);
  });

  // Checkpoints (core/checkpoints/) still call DockerEngine's image operations through docker/checkpoints.ts:
  // those belong on ContainerEngine next; dockerode's own types stay out of core/ already.
  test("the core never speaks dockerode", () => {
    const found = sources(join(SRC, "core")).filter((f) => /from\s+["']dockerode["']/.test(readFileSync(f, "utf8")));
    expect(found.map((f) => relative(SRC, f))).toEqual([]);
  });

  test("the check itself catches each kind of wrong import", () => {
    const at = (p: string) => join(SRC, p);
    expect(violation(at("docker/engine.ts"), at("core/errors.ts"))).toContain("a layer above");
    expect(violation(at("kernel/errors.ts"), at("store/atomic.ts"))).toContain("a layer above");
    expect(violation(at("core/x.ts"), at("api/http/app.ts"))).toContain("a layer above");
    expect(violation(at("api/http/app.ts"), at("cli/cli.ts"))).toContain("neither may import");
    expect(violation(at("newthing/a.ts"), at("kernel/errors.ts"))).toContain("has no layer");
    expect(violation(at("ssh/keys.ts"), at("store/atomic.ts"))).toBeUndefined();
    expect(violation(at("daemon/daemon.ts"), at("kernel/errors.ts"))).toBeUndefined();
  });

  test("imports are read from static, re-export and dynamic forms", () => {
    const text = 'import { a } from "../x.ts";\nimport type {\n  B,\n} from "./y.ts";\nexport * from "../../z.ts";\nconst m = await import("../w.ts");\nimport { q } from "valibot";';
    expect(relativeImports(text)).toEqual(["../x.ts", "./y.ts", "../../z.ts", "../w.ts"]);
  });
});
