// Many execs at once against one workspace (issue 11's load item): a burst of BENCH_EXECS (default
// 1000) REST execs of `true`, all started together, through the daemon's app and SSH pool in this
// process; beside it the floor measured in the same run: the same number of `true` processes started
// one after another inside the container by one `docker exec` shell loop (no SSH, no HTTP).
// Prints figures; never fails on a miss (a failed exec is reported, not asserted).
//
//   bun bench/exec-load.ts            (BENCH_EXECS=N)
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

const EXECS = Number(process.env.BENCH_EXECS ?? 1000);

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
  const exec = () => app.fetch(new Request(`http://nexus/api/v1/workspaces/${name}/exec`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"command":"true"}' }));
  try {
    await s.workspaces.create({ name, path: repo });
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

await main();
