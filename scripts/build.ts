// Compiles src/main.ts into one self-contained executable. `bun scripts/build.ts` builds for this
// machine into dist/nexus; `--all` (`npm run build:all`) builds every target in TARGETS as
// dist/nexus-<os>-<arch> and writes dist/SHA256SUMS, the names install.sh downloads, and dist/VERSION
// (what `nexus upgrade --check` reports).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { bundleHotPaths } from "./hot-paths.ts";

interface Target {
  os: "linux" | "darwin";
  arch: "x64" | "arm64";
}

export const TARGETS: readonly Target[] = [
  { os: "linux", arch: "x64" },
  { os: "linux", arch: "arm64" },
  { os: "darwin", arch: "x64" },
  { os: "darwin", arch: "arm64" },
];

/** The release asset name of a target, as install.sh downloads it. */
export function targetName(t: Target): string {
  return `nexus-${t.os}-${t.arch}`;
}

const root = join(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
// `--version X.Y.Z` labels the build with another version than package.json's (the upgrade test
// makes a "newer" release of the same code this way).
const versionAt = process.argv.indexOf("--version");
if (versionAt > 0 && process.argv[versionAt + 1]) pkg.version = process.argv[versionAt + 1]!;
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return "unknown";
  }
})();

/**
 * The top-level help exactly as the full CLI prints it for this version, so the binary can print it
 * without building the command table (src/cli/quick.ts).
 */
function topLevelHelp(): string {
  return execFileSync(process.execPath, ["--define", `NEXUS_VERSION=${JSON.stringify(pkg.version)}`, join(root, "src/main.ts"), "--help"], {
    cwd: root,
    env: { ...process.env, NEXUS_FULL_CLI: "1" },
    encoding: "utf8",
  });
}

const help = topLevelHelp();

const define = {
  NEXUS_VERSION: JSON.stringify(pkg.version),
  NEXUS_COMMIT: JSON.stringify(commit),
  NEXUS_BUILD_DATE: JSON.stringify(new Date().toISOString()),
  NEXUS_HELP: JSON.stringify(help),
};

async function build(outfile: string, target?: Target): Promise<void> {
  // Each hot path (version and list, plain exec) is one module in the binary (scripts/hot-paths.ts).
  const hot = await bundleHotPaths(define);
  try {
    const result = await Bun.build({
      entrypoints: [join(root, "src/main.ts")],
      compile: {
        outfile,
        ...(target ? { target: `bun-${target.os}-${target.arch}` as Bun.Build.CompileTarget } : {}),
        // The binary must not pick up the user's .env or bunfig.toml.
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      minify: true,
      bytecode: true,
      // ESM with splitting: each lazily imported part (daemon, full CLI, wizard) is its own chunk,
      // loaded when first imported, so a short command no longer loads and evaluates all of them.
      format: "esm",
      splitting: true,
      sourcemap: "none",
      define,
      plugins: [hot.plugin],
    });
    if (!result.success) {
      for (const log of result.logs) console.error(log);
      throw new Error(`build of ${outfile} failed`);
    }
  } finally {
    hot.cleanup();
  }
  console.error(`built ${outfile}`);
}

// `--outdir <dir>` puts the binaries elsewhere (the tests use a temporary folder).
const outdirAt = process.argv.indexOf("--outdir");
const dist = outdirAt > 0 && process.argv[outdirAt + 1] ? resolve(process.argv[outdirAt + 1]!) : join(root, "dist");
mkdirSync(dist, { recursive: true });
if (process.argv.includes("--all")) {
  // Every target is tried; a cross target that cannot be built (e.g. Bun cannot fetch its runtime
  // offline) is reported and left out of SHA256SUMS. Only the host's own target failing fails the build.
  const host = `${process.platform}-${process.arch}`;
  const sums: string[] = [];
  const failed: Array<{ name: string; reason: string }> = [];
  for (const t of TARGETS) {
    const name = targetName(t);
    try {
      await build(join(dist, name), t);
      sums.push(`${createHash("sha256").update(readFileSync(join(dist, name))).digest("hex")}  ${name}`);
    } catch (err) {
      rmSync(join(dist, name), { force: true });
      failed.push({ name, reason: (err as Error).message });
    }
  }
  writeFileSync(join(dist, "SHA256SUMS"), sums.join("\n") + "\n");
  // The release's version, for `nexus upgrade --check` (install.sh does not need it).
  writeFileSync(join(dist, "VERSION"), `${pkg.version}\n`);
  console.error(`wrote ${join(dist, "SHA256SUMS")} (${sums.length} of ${TARGETS.length} targets)`);
  for (const f of failed) console.error(`FAILED ${f.name}: ${f.reason}`);
  if (failed.some((f) => f.name === `nexus-${host}`)) process.exit(1);
} else {
  await build(join(dist, "nexus"));
}
