// Many execs at once against one workspace (issue 11's load item): a burst of BENCH_EXECS (default
// 1000) REST execs of `true`, all started together, through the daemon's app and SSH pool in this
// process; beside it the floor measured in the same run: the same number of `true` processes started
// one after another inside the container by one `docker exec` shell loop (no SSH, no HTTP).
// Prints figures; never fails on a miss (a failed exec is reported, not asserted).
//
//   bun bench/exec-load.ts            (BENCH_EXECS=N)
//   BENCH_MODE=latency bun bench/exec-load.ts
//                                     each exec's own time instead, over the exec agent: 40 one at a
//                                     time on the first pooled connection, 40 on a second one (the
//                                     first held full), then BENCH_ROUNDS (default 5) bursts of
//                                     BENCH_EXECS (default 64) at once, past one connection's 32 channels
//
// Needs a Docker engine. Its NEXUS_HOME, repository and workspace are temporary and removed at the end.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/api/http/app.ts";
import { parseConfig } from "../src/config/load.ts";
import { silentLogger } from "../src/core/log.ts";
import { buildServices } from "../src/daemon/services.ts";
import { nexusPaths } from "../src/store/paths.ts";
import { buildInfo } from "../src/version.ts";

const LATENCY = process.env.BENCH_MODE === "latency";
const EXECS = Number(process.env.BENCH_EXECS ?? (LATENCY ? 64 : 1000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Execs timed one after another on each pooled connection (latency mode). */
const ONE_BY_ONE = 40;

function git(cwd: string, ...args: string[]): void {
  const r = spawnSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@nexus.invalid", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@nexus.invalid" } });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "nexus-bench-load-"));
  const home = join(root, "nexus");
  mkdirSync(home, { mode: 0o700 });
  const repo = join(root, "repo");
  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  writeFileSync(join(repo, "README.md"), "# bench\n");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "initial");
  const s = buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
  const app = createApp({ workspaces: s.workspaces, forwards: s.forwards, build: buildInfo(), daemon: { shutdown() {}, pid: process.pid, startedAt: new Date().toISOString() }, log: silentLogger });
  const name = `bench-load-${process.pid}`;
  const exec = (body = '{"command":"true"}') => app.fetch(new Request(`http://nexus/api/v1/workspaces/${name}/exec`, { method: "POST", headers: { "content-type": "application/json" }, body }));
  try {
    await s.workspaces.create({ name, path: repo });
    if (LATENCY) return await latencies(exec);
    await (await exec()).arrayBuffer(); // the first connection is open before the burst
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const outcomes = new Map<string, number>();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: EXECS }, async () => {
        const res = await exec();
        const body = (await res.json()) as { exitCode?: number; error?: { code: string } };
        const key = res.status === 200 ? `exit ${body.exitCode}` : `${res.status} ${body.error?.code}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
    );
    const burstMs = performance.now() - t0;
    clearInterval(sampler);
    const id = s.workspaces.resolve(name).containerId!;
    const f0 = performance.now();
    const floor = spawnSync("docker", ["exec", id, "sh", "-c", `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`]);
    const floorMs = performance.now() - f0;
    const load = spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.trim();
    console.log(`exec burst: ${EXECS} REST execs of 'true' at once against one workspace (bun ${Bun.version}, loadavg ${load})`);
    console.log(`  outcomes          ${JSON.stringify(Object.fromEntries(outcomes))}`);
    console.log(`  burst wall time   ${(burstMs / 1000).toFixed(1)} s  (${(EXECS / (burstMs / 1000)).toFixed(0)} execs/s)`);
    console.log(`  process rss       +${((peak - rss0) / 1048576).toFixed(0)} MiB at peak`);
    console.log(`  floor             ${(floorMs / 1000).toFixed(1)} s for ${EXECS} sequential 'true' in the container via one docker exec${floor.status === 0 ? "" : " (failed)"}`);
  } finally {
    await s.workspaces.destroy(name, { force: true }).catch((err: Error) => console.error(`cleanup: ${err.message}`));
    s.workspaces.shutdown();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Milliseconds at quantile `q` of sorted `xs`. */
const at = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const summary = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return `p50 ${at(sorted, 0.5).toFixed(1)}  p90 ${at(sorted, 0.9).toFixed(1)}  p99 ${at(sorted, 0.99).toFixed(1)}  max ${sorted.at(-1)!.toFixed(1)} ms`;
};

type Exec = (body?: string) => Response | Promise<Response>;

/** One exec's time from its request to its answer's end; a failure is noted in `failed`. */
async function timed(exec: Exec, failed: string[], body?: string): Promise<number> {
  const t0 = performance.now();
  const res = await exec(body);
  const answer = (await res.json()) as { exitCode?: number; error?: { code: string } };
  if (res.status !== 200 || answer.exitCode !== 0) failed.push(`${res.status} ${answer.error?.code ?? answer.exitCode}`);
  return performance.now() - t0;
}

/** Runs `line` (argv) in the workspace and answers its stdout. */
async function stdoutOf(exec: Exec, argv: string[]): Promise<string> {
  const [command, ...args] = argv;
  return ((await (await exec(JSON.stringify({ command, args }))).json()) as { stdout?: string }).stdout ?? "";
}

/**
 * Over the exec agent: one `true` at a time on the first pooled connection, then on a second one
 * (the first held full by 32 sleeping commands), so it carries agent channels only; then rounds of
 * EXECS at once. Each exec timed from its request to its answer's end.
 */
async function latencies(exec: Exec): Promise<void> {
  // The first exec starts the agent over an SSH session; wait until commands run under it.
  for (let i = 0; ; i++) {
    const parent = await stdoutOf(exec, ["sh", "-c", 'tr "\\0" " " < /proc/$PPID/cmdline']);
    if (parent.startsWith("python3 - start")) break;
    if (i > 300) throw new Error(`the exec agent did not answer: last parent ${JSON.stringify(parent)}`);
    await Bun.sleep(100);
  }
  const load = spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.trim();
  console.log(`exec latency over the exec agent, REST execs of 'true' (bun ${Bun.version}, loadavg ${load})`);
  const oneByOne = async (label: string) => {
    const failed: string[] = [];
    const times: number[] = [];
    for (let i = 0; i < ONE_BY_ONE; i++) times.push(await timed(exec, failed));
    console.log(`  ${label}  ${summary(times)}${failed.length ? `  (${failed.length} failed: ${failed[0]})` : ""}`);
  };
  await oneByOne("one at a time, first connection ");
  // 32 holders fill the first connection (its channel limit); the next channels go to a second one.
  const holders = Array.from({ length: 32 }, () => exec(JSON.stringify({ command: "sleep", args: ["3599"] })));
  for (let i = 0; (await stdoutOf(exec, ["pgrep", "-cfx", "sleep 3599"])).trim() !== "32"; i++) {
    if (i > 300) throw new Error("the 32 sleeping commands did not all start");
    await Bun.sleep(50);
  }
  await oneByOne("one at a time, second connection");
  await stdoutOf(exec, ["pkill", "-fx", "sleep 3599"]);
  await Promise.all(holders.map(async (h) => void (await (await h).arrayBuffer())));
  const all: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const failed: string[] = [];
    const times = await Promise.all(Array.from({ length: EXECS }, () => timed(exec, failed)));
    all.push(...times);
    console.log(`  burst ${round} of ${EXECS} at once     ${summary(times)}${failed.length ? `  (${failed.length} failed: ${failed[0]})` : ""}`);
  }
  console.log(`  all ${ROUNDS} bursts                ${summary(all)}`);
}

await main();
