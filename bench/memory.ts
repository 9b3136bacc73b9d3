// The daemon's memory: resident set size idle, with 20 workspaces running, and after the 20 are
// destroyed. Targets (issue 17): ≤ 120 MB with 20 running; back within 10% of idle after they go.
//
//   npm run build && bun bench/memory.ts
//   BENCH_WORKSPACES=N   how many workspaces (default 20)
//
// Needs dist/nexus and a Docker engine. Everything it makes (NEXUS_HOME, git repository, workspaces,
// daemon) is temporary and removed at the end, even on failure; nothing else on the engine is touched.
// RSS is read from /proc/<daemon pid>/status (VmRSS), the figure `ps` and `top` show; it does not
// depend on how loaded the machine is, so one run is enough.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const NEXUS = process.env.NEXUS_BIN || join(ROOT, "dist", "nexus");
const COUNT = Number(process.env.BENCH_WORKSPACES || 20);
const PARALLEL = 4;
const TARGET_RUNNING_MB = 120;
const TARGET_AFTER = 1.1;

const home = mkdtempSync(join(tmpdir(), "nexus-bench-mem-"));
const repo = join(home, "repo");
const env = { ...process.env, NEXUS_HOME: join(home, "nexus"), NO_COLOR: "1" };

function nexus(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(NEXUS, args, { cwd: repo, env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`nexus ${args.join(" ")}: exit ${code}\n${err}`))));
  });
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line[1]) / 1024;
}

/** The lowest RSS seen over `ms` (sampled every 200 ms): what the daemon settles to, not a passing peak. */
async function settled(pid: number, ms: number): Promise<number> {
  let low = rssMb(pid);
  for (const end = Date.now() + ms; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 200));
    low = Math.min(low, rssMb(pid));
  }
  return low;
}

async function inBatches(names: string[], op: (n: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < names.length; i += PARALLEL) await Promise.all(names.slice(i, i + PARALLEL).map(op));
}

const names = Array.from({ length: COUNT }, (_, i) => `mem${i + 1}`);
let pid = 0;
try {
  spawnSync("git", ["init", "-q", "-b", "main", repo]);
  spawnSync("git", ["-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init"]);
  await nexus(["list"]); // starts the daemon
  pid = Number(readFileSync(join(env.NEXUS_HOME, "daemon.pid"), "utf8").trim());
  // One workspace made and destroyed first: the image is resolved and the daemon's code paths are warm,
  // so "idle" is the daemon as it is after use, not before its first request.
  await nexus(["create", "warm"]);
  await nexus(["destroy", "warm", "--force"]);
  const idle = await settled(pid, 3000);
  await inBatches(names, (n) => nexus(["create", n]));
  const running = await settled(pid, 3000);
  await inBatches(names, (n) => nexus(["destroy", n, "--force"]));
  const after = await settled(pid, 5000);
  // A second round: memory that grows again with it is held per workspace (a leak); memory that
  // does not is the allocator's high-water mark.
  await inBatches(names, (n) => nexus(["create", n]));
  await inBatches(names, (n) => nexus(["destroy", n, "--force"]));
  const again = await settled(pid, 5000);
  const docker = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).stdout.trim();
  console.log(`machine         ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, ${process.platform} ${release()}, docker ${docker}`);
  console.log(`daemon RSS      idle ${idle.toFixed(1)} MB | ${COUNT} running ${running.toFixed(1)} MB | after ${COUNT} destroyed ${after.toFixed(1)} MB | after a second round ${again.toFixed(1)} MB`);
  console.log(`with ${COUNT} running: ${running.toFixed(1)} MB (target ≤ ${TARGET_RUNNING_MB} MB) ${running <= TARGET_RUNNING_MB ? "ok" : "MISS"}`);
  console.log(`after / idle:   ${(after / idle).toFixed(3)} (target ≤ ${TARGET_AFTER}) ${after / idle <= TARGET_AFTER ? "ok" : "MISS"}`);
} finally {
  for (const n of [...names, "warm"]) spawnSync(NEXUS, ["destroy", n, "--force"], { cwd: repo, env, stdio: "ignore" });
  spawnSync(NEXUS, ["daemon", "stop"], { cwd: repo, env, stdio: "ignore" });
  rmSync(home, { recursive: true, force: true });
}
