// Compiles src/main.ts into one self-contained executable. `bun scripts/build.ts` builds for this
// machine into dist/nexus; `--all` builds every target in TARGETS and writes dist/SHA256SUMS.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

const root = join(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return "unknown";
  }
})();

async function build(outfile: string, target?: Target): Promise<void> {
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
    sourcemap: "none",
    define: {
      NEXUS_VERSION: JSON.stringify(pkg.version),
      NEXUS_COMMIT: JSON.stringify(commit),
      NEXUS_BUILD_DATE: JSON.stringify(new Date().toISOString()),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build of ${outfile} failed`);
  }
  console.error(`built ${outfile}`);
}

const dist = join(root, "dist");
mkdirSync(dist, { recursive: true });
if (process.argv.includes("--all")) {
  const sums: string[] = [];
  for (const t of TARGETS) {
    const name = `nexus-${t.os}-${t.arch}`;
    await build(join(dist, name), t);
    sums.push(`${createHash("sha256").update(readFileSync(join(dist, name))).digest("hex")}  ${name}`);
  }
  writeFileSync(join(dist, "SHA256SUMS"), sums.join("\n") + "\n");
} else {
  await build(join(dist, "nexus"));
}
