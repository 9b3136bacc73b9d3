// File sync lag on a 10k-file tree, both ways, beside its floors measured in the same run:
//
//   host edit → visible inside       (fs.watch → debounce → pass → the file renamed into place inside)
//   inside edit → visible on host    (inotifywait over ssh → debounce → pass → the file on the host;
//                                     timed from sending the write, so one exec round trip is included)
//
// Two sessions of the unison provider against the same real workspace container (trees in its home
// volume, a named volume, as a remote engine's /workspace is), edited in turn in the same run: one
// with the fast route (the default: small files the watchers named copied with a compare-and-swap
// through the workspace's long-lived shell, fast-route.ts), one without (every pass a unison pass,
// as before). Each prints where its passes' time went (the sessions' trace), then the floors: a
// no-op unison pass (full, and limited to one path), unison's start here and inside over ssh, an
// ssh round trip and a round trip of the long-lived shell. Median and min of BENCH_RUNS edits each
// way (default 20); the goal is lag ≤ 0.5 s; a miss prints MISS but never fails the run.
//
//   bun bench/sync.ts          BENCH_RUNS=N  BENCH_FILES=N (default 10000)
//
// Everything it makes (NEXUS_HOME, repository, trees, workspace) is temporary and removed at the end.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/load.ts";
import { silentLogger } from "../src/core/log.ts";
import { sshAlias } from "../src/core/workspace/names.ts";
import { buildServices, type Services } from "../src/daemon/services.ts";
import { instanceId, LABELS } from "../src/docker/labels.ts";
import { nexusPaths } from "../src/store/paths.ts";
import { ShellAgent } from "../src/sync/agent.ts";
import { syncConfigFrom } from "../src/sync/config.ts";
import { SyncManager } from "../src/sync/manager.ts";
import { ProcessTracker } from "../src/sync/processes.ts";
import { remoteRoot, unisonArgs } from "../src/sync/unison.ts";

const RUNS = Number(process.env.BENCH_RUNS || 20);
const FILES = Number(process.env.BENCH_FILES || 10_000);
const GOAL_S = 0.5;
const docker = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

function summary(ms: number[]): { median: number; min: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
}

interface Arm {
  name: string;
  manager: SyncManager;
  tree: string;
  remote: string;
  trace: Map<string, number[]>;
  toInside: number[];
  toHost: number[];
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "bench-sync-"));
  const home = join(root, "nexus");
  const repo = join(root, "repo");
  mkdirSync(repo, { recursive: true });
  execFileSync("sh", ["-c", "git init -q -b main && echo x > a && git add a && git -c user.email=b@x -c user.name=b commit -qm i"], { cwd: repo });
  const arm = (name: string, fastRoute: boolean): Arm => {
    const tree = join(root, `tree-${name}`);
    // 10k files in 100 folders, as a mid-sized source tree.
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < FILES / 100; f++) writeFileSync(join(tree, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
    }
    const trace = new Map<string, number[]>();
    const manager = new SyncManager({ dir: join(home, `sync-${name}`), env: process.env, fastRoute, trace: (phase, ms) => trace.set(phase, [...(trace.get(phase) ?? []), ms]) });
    return { name, manager, tree, remote: `/home/nexus/bench-${name}`, trace, toInside: [], toHost: [] };
  };
  const arms = [arm("fast", true), arm("plain", false)];
  const paths = nexusPaths({ NEXUS_HOME: home });
  let s: Services | undefined;
  const load: number[] = [loadavg()[0]!];
  try {
    s = buildServices({ paths, config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
    await s.workspaces.reconcile();
    process.stderr.write("creating a workspace…\n");
    await s.workspaces.create({ name: "bench-sync", path: repo });
    const r = s.workspaces.resolve("bench-sync");
    const endpoint = { host: "127.0.0.1", port: r.ports.ssh, user: "nexus", identityFile: paths.clientKey, knownHosts: paths.knownHosts, hostKeyAlias: sshAlias(r.name) };
    const initial: Record<string, number> = {};
    for (const a of arms) {
      const t0 = performance.now();
      await a.manager.attach(r.id, { hostPath: a.tree, remotePath: a.remote, endpoint, config: syncConfigFrom({}) });
      initial[a.name] = performance.now() - t0;
      process.stderr.write(`initial sync of ${FILES} files (${a.name}): ${(initial[a.name]! / 1000).toFixed(2)} s\n`);
    }

    // Inside: one long-running watcher reports each file renamed into place (unison and the fast route write a temp file, then rename).
    const seenInside = new Map<string, number>();
    const watcher = await s.workspaces.openTerminal("bench-sync", `inotifywait -m -q -e moved_to,close_write --format %w%f ${arms.map((a) => `${a.remote}/d0`).join(" ")}`, { cols: 400, rows: 50 });
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
    for (const a of arms) a.trace.clear();

    // The two sessions in turn, edit by edit: both see the same load.
    for (let i = 0; i < RUNS; i++) {
      for (const a of arms) {
        const name = `h${i}.txt`;
        const t = performance.now();
        writeFileSync(join(a.tree, "d0", name), `host ${i}\n`);
        await wait(() => seenInside.has(`${a.remote}/d0/${name}`), `${name} inside (${a.name})`);
        a.toInside.push(seenInside.get(`${a.remote}/d0/${name}`)! - t);
        await a.manager.flush(r.id);
      }
      load.push(loadavg()[0]!);
    }
    const seenHost = new Map<string, number>();
    const hws = arms.map((a) => watch(join(a.tree, "d0"), (_e, f) => {
      const key = `${a.name}/${String(f)}`;
      if (f && !seenHost.has(key)) seenHost.set(key, performance.now());
    }));
    for (let i = 0; i < RUNS; i++) {
      for (const a of arms) {
        const name = `w${i}.txt`;
        const t = performance.now();
        await s.workspaces.inspect("bench-sync", `echo 'inside ${i}' > ${a.remote}/d0/${name}`);
        await wait(() => seenHost.has(`${a.name}/${name}`) && readSafe(join(a.tree, "d0", name)) === `inside ${i}\n`, `${name} on the host (${a.name})`);
        a.toHost.push(performance.now() - t);
        await a.manager.flush(r.id);
      }
      load.push(loadavg()[0]!);
    }
    for (const hw of hws) hw.close();
    watcher.close();

    // Floors, through the plain session's ssh config and archives.
    const dir = join(home, "sync-plain", r.id);
    const ssh = join(dir, "ssh");
    const env = { ...process.env, UNISON: join(dir, "unison"), UNISONLOCALHOSTNAME: "nexus-host" };
    const plain = arms[1]!;
    const floors = new Map<string, number[]>();
    const time = (what: string, fn: () => void) => {
      const t = performance.now();
      fn();
      floors.set(what, [...(floors.get(what) ?? []), performance.now() - t]);
    };
    const agent = new ShellAgent(new ProcessTracker(root), ssh, ["nexus-sync", "sh"]);
    await agent.run("true");
    for (let i = 0; i < 5; i++) {
      const args = unisonArgs({ hostRoot: plain.tree, remoteRoot: remoteRoot(plain.remote), config: syncConfigFrom({}), sshCommand: ssh });
      time("unison pass, nothing to do (full)", () => execFileSync("unison", args, { env, stdio: "ignore" }));
      time("unison pass, nothing to do (one path)", () => execFileSync("unison", [...args, "-path", "d0/f0.txt"], { env, stdio: "ignore" }));
      time("unison start here (-version)", () => execFileSync("unison", ["-version"], { stdio: "ignore" }));
      time("ssh round trip (multiplexed)", () => execFileSync(ssh, ["nexus-sync", "true"], { stdio: "ignore" }));
      time("unison start inside over ssh (-version)", () => execFileSync(ssh, ["nexus-sync", "unison", "-version"], { stdio: "ignore" }));
      const t = performance.now();
      await agent.run("true");
      floors.set("long-lived shell round trip", [...(floors.get("long-lived shell round trip") ?? []), performance.now() - t]);
    }
    agent.close();

    const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
    const row = (what: string, ms: number[], goal?: number) => {
      const x = summary(ms);
      const verdict = goal === undefined ? "" : x.median <= goal * 1000 ? `ok (≤ ${goal} s)` : `MISS (goal ≤ ${goal} s)`;
      return `${what.padEnd(50)} median ${fmt(x.median)}  min ${fmt(x.min)}  n=${String(ms.length).padEnd(3)} ${verdict}`;
    };
    const l = summary(load);
    console.log(`\nFile sync (unison provider), ${FILES} files, ${RUNS} edits each way per session, interleaved, ${new Date().toISOString()}`);
    console.log(`load average (1 min) during the edits: median ${l.median.toFixed(1)}, min ${l.min.toFixed(1)}, max ${Math.max(...load).toFixed(1)}`);
    for (const a of arms) {
      console.log(`\n${a.name === "fast" ? "with the fast route (default)" : "without it (every pass a unison pass)"}:`);
      console.log(row("  host edit → visible inside", a.toInside, GOAL_S));
      console.log(row("  inside edit → visible on host", a.toHost, GOAL_S));
      console.log("  where the passes' time went (flushes' full passes included):");
      for (const [phase, ms] of a.trace) console.log(row(`    ${phase}`, ms));
      console.log(`  initial sync of the tree: ${fmt(initial[a.name]!)}`);
    }
    console.log("\nfloors:");
    for (const [what, ms] of floors) console.log(row(`  ${what}`, ms));
  } finally {
    for (const a of arms) await a.manager.shutdown().catch(() => undefined);
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
