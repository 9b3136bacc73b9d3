// File sync lag on a 10k-file tree, both ways, beside its floor measured in the same run:
//
//   host edit → visible inside       (fs.watch → debounce → unison pass → the file renamed into place inside)
//   inside edit → visible on host    (inotifywait over ssh → debounce → unison pass → the file on the host;
//                                     timed from sending the write, so one ssh round trip is included)
//   floor: one `unison -batch` pass over the same trees with nothing to do, and one ssh round trip
//
// The unison provider (src/sync/) against a real workspace container, its tree in the home volume
// (a named volume, as a remote engine's /workspace is). Prints median and min of BENCH_RUNS edits
// each way (default 20) and the goal (lag ≤ 0.5 s); a miss prints MISS but never fails the run.
//
//   bun bench/sync.ts          BENCH_RUNS=N  BENCH_FILES=N (default 10000)
//
// Everything it makes (NEXUS_HOME, repository, trees, workspace) is temporary and removed at the end.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/load.ts";
import { silentLogger } from "../src/core/log.ts";
import { sshAlias } from "../src/core/workspace/names.ts";
import { buildServices, type Services } from "../src/daemon/services.ts";
import { instanceId, LABELS } from "../src/docker/labels.ts";
import { nexusPaths } from "../src/store/paths.ts";
import { syncConfigFrom } from "../src/sync/config.ts";
import { SyncManager } from "../src/sync/manager.ts";
import { remoteRoot, unisonArgs } from "../src/sync/unison.ts";

const RUNS = Number(process.env.BENCH_RUNS || 20);
const FILES = Number(process.env.BENCH_FILES || 10_000);
const GOAL_S = 0.5;
const docker = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

function summary(ms: number[]): { median: number; min: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "bench-sync-"));
  const home = join(root, "nexus");
  const repo = join(root, "repo");
  const tree = join(root, "tree");
  const remote = "/home/nexus/bench-tree";
  mkdirSync(repo, { recursive: true });
  execFileSync("sh", ["-c", "git init -q -b main && echo x > a && git add a && git -c user.email=b@x -c user.name=b commit -qm i"], { cwd: repo });
  // 10k files in 100 folders, as a mid-sized source tree.
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < FILES / 100; f++) writeFileSync(join(tree, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
  }
  const paths = nexusPaths({ NEXUS_HOME: home });
  let s: Services | undefined;
  const manager = new SyncManager({ dir: join(home, "sync"), env: process.env });
  try {
    s = buildServices({ paths, config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
    await s.workspaces.reconcile();
    process.stderr.write("creating a workspace…\n");
    await s.workspaces.create({ name: "bench-sync", path: repo });
    const r = s.workspaces.resolve("bench-sync");
    const endpoint = { host: "127.0.0.1", port: r.ports.ssh, user: "nexus", identityFile: paths.clientKey, knownHosts: paths.knownHosts, hostKeyAlias: sshAlias(r.name) };
    const t0 = performance.now();
    await manager.attach(r.id, { hostPath: tree, remotePath: remote, endpoint, config: syncConfigFrom({}) });
    const initial = performance.now() - t0;
    process.stderr.write(`initial sync of ${FILES} files: ${(initial / 1000).toFixed(2)} s\n`);

    // Inside: one long-running watcher reports each file renamed into place (unison writes a temp file, then renames).
    const seenInside = new Map<string, number>();
    const watcher = await s.workspaces.openTerminal("bench-sync", `inotifywait -m -q -e moved_to,close_write --format %f ${remote}/d0`, { cols: 200, rows: 50 });
    let buf = "";
    watcher.onData((b) => {
      buf += b.toString("utf8");
      const lines = buf.split(/\r?\n/);
      buf = lines.pop()!;
      const now = performance.now();
      for (const l of lines) if (!seenInside.has(l.trim())) seenInside.set(l.trim(), now);
    });
    await new Promise((res) => setTimeout(res, 1000));

    const wait = async (fn: () => boolean, what: string) => {
      const end = Date.now() + 30_000;
      while (!fn()) {
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await new Promise((res) => setTimeout(res, 2));
      }
    };

    const toInside: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `h${i}.txt`;
      const t = performance.now();
      writeFileSync(join(tree, "d0", name), `host ${i}\n`);
      await wait(() => seenInside.has(name), `${name} inside`);
      toInside.push(seenInside.get(name)! - t);
      await manager.flush(r.id);
    }

    const seenHost = new Map<string, number>();
    const hw = watch(join(tree, "d0"), (_e, f) => {
      if (f && !seenHost.has(String(f))) seenHost.set(String(f), performance.now());
    });
    const toHost: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `w${i}.txt`;
      const t = performance.now();
      await s.workspaces.inspect("bench-sync", `echo 'inside ${i}' > ${remote}/d0/${name}`);
      await wait(() => seenHost.has(name) && readSafe(join(tree, "d0", name)) === `inside ${i}\n`, `${name} on the host`);
      toHost.push(performance.now() - t);
      await manager.flush(r.id);
    }
    hw.close();
    watcher.close();

    // Floor: a pass with nothing to do, through the same ssh config and archives; and an ssh round trip.
    const dir = join(home, "sync", r.id);
    const floorPass: number[] = [];
    const sshTrip: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      execFileSync("unison", unisonArgs({ hostRoot: tree, remoteRoot: remoteRoot(remote), config: syncConfigFrom({}), sshCommand: join(dir, "ssh") }), {
        env: { ...process.env, UNISON: join(dir, "unison"), UNISONLOCALHOSTNAME: "nexus-host" },
        stdio: "ignore",
      });
      floorPass.push(performance.now() - t);
      t = performance.now();
      execFileSync(join(dir, "ssh"), ["nexus-sync", "true"], { stdio: "ignore" });
      sshTrip.push(performance.now() - t);
    }

    const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
    const row = (what: string, ms: number[], goal?: number) => {
      const x = summary(ms);
      const verdict = goal === undefined ? "" : x.median <= goal * 1000 ? `ok (≤ ${goal} s)` : `MISS (goal ≤ ${goal} s)`;
      return `${what.padEnd(44)} median ${fmt(x.median)}  min ${fmt(x.min)}  ${verdict}`;
    };
    console.log(`\nFile sync (unison provider), ${FILES} files, ${RUNS} edits each way, ${new Date().toISOString()}`);
    console.log(row("host edit → visible inside", toInside, GOAL_S));
    console.log(row("inside edit → visible on host", toHost, GOAL_S));
    console.log(row("floor: unison pass, nothing to do", floorPass));
    console.log(row("floor: ssh round trip (multiplexed)", sshTrip));
    console.log(`initial sync of the tree: ${fmt(initial)}`);
  } finally {
    await manager.shutdown().catch(() => undefined);
    s?.workspaces.shutdown();
    const label = `${LABELS.instance}=${instanceId(home)}`;
    try {
      const ids = docker("ps", "-aq", "--filter", `label=${label}`).split("\n").filter(Boolean);
      if (ids.length) docker("rm", "-fv", ...ids);
      const vols = docker("volume", "ls", "-q", "--filter", `label=${label}`).split("\n").filter(Boolean);
      if (vols.length) docker("volume", "rm", "-f", ...vols);
    } catch {
      // Nothing of ours left.
    }
    rmSync(root, { recursive: true, force: true });
  }
}

function readSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

await main();
