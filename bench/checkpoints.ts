// Checkpoint latency beside its Docker floor, on the same machine, in one run:
//
//   checkpoint create, small change      vs  `docker commit` of the same container (small change)
//   checkpoint create, 100 MB in home    vs  `docker commit` of a container with 100 MB more in its filesystem
//   restore → SSH ready (small change)   vs  docker create + copy host key and authorized_keys + start + first SSH
//
// The core runs in this process (the daemon's own service graph, no CLI or socket in between).
// Prints median and min of each, the ratio to the floor, and the targets (create ≤ 0.5 s, restore
// ≤ 1.5 s for the small case); a missed target prints MISS but never fails the run.
//
//   bun bench/checkpoints.ts          BENCH_RUNS=N (default 5), BENCH_BIG=0 skips the 100 MB case,
//                                     BENCH_VERBOSE=1 prints each restore's log line,
//                                     BENCH_EACH=1 each run's phases too, BENCH_ONLY=create the small create alone
//
// Restore's split is printed beside the floor's own steps (docker create, cp of the keys, start,
// first SSH, and docker stop of that container), with when each phase began (@ms, from the
// daemon's log line of the restore): what overlapped and what waited.
//
// Everything it makes (NEXUS_HOME, repository, workspace, images, floor containers) is temporary and
// removed at the end, even on failure; floor resources carry dev.nexus.bench=1.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/load.ts";
import type { Logger } from "../src/core/log.ts";
import { buildServices, type Services } from "../src/daemon/services.ts";
import { CHECKPOINT_LABELS } from "../src/docker/checkpoints.ts";
import { instanceId } from "../src/docker/labels.ts";
import { tar } from "../src/docker/tar.ts";
import { generateEd25519 } from "../src/ssh/keys.ts";
import { SshPool } from "../src/ssh/pool.ts";
import { nexusPaths } from "../src/store/paths.ts";

const RUNS = Number(process.env.BENCH_RUNS || 5);
const BIG = process.env.BENCH_BIG !== "0";
/** The daemon's "restored ..." log lines: their phase list carries when each phase began. */
const restoredLines: string[] = [];
const log: Logger = { info: (m) => void (m.startsWith("restored ") && restoredLines.push(m)), warn() {}, error() {} };
/** "name 12 ms @34" pairs of a log line: the start offsets. */
function starts(line: string): Record<string, number> {
  return Object.fromEntries([...line.matchAll(/([\w-]+) \d+ ms @(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}
const BENCH_LABEL = "dev.nexus.bench";

const docker = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function summary(ms: number[]): { median: number; min: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
}

const rows: string[][] = [];
/** Median milliseconds per phase (phasesMs of the records and restore answers) of each operation. */
const splits: Array<{ what: string; phases: Array<Record<string, number>>; at?: Array<Record<string, number>> }> = [];
function phaseLine(phases: Array<Record<string, number>>, at?: Array<Record<string, number>>): string {
  const names = [...new Set(phases.flatMap((p) => Object.keys(p)))];
  const med = (xs: Array<Record<string, number>>, n: string) => Math.round(summary(xs.map((p) => p[n] ?? 0)).median);
  return names.map((n) => `${n} ${med(phases, n)}${at?.length ? ` @${med(at, n)}` : ""}`).join(", ");
}
/** A create's phases in the order they happen, named for what they do (median ms). */
function createLine(phases: Array<Record<string, number>>): string {
  const m = (n: string) => Math.round(summary(phases.map((p) => p[n] ?? 0)).median);
  return [
    `before: git-sync ${m("git-sync")}, worktree-prepare ${m("worktree-prepare")} (beside the freeze)`,
    `freeze ${m("freeze")}`,
    `frozen parts ${m("parts")} = slowest of [commit ${m("commit")}${m("diff") ? `, docker diff ${m("diff")}` : ""}, home tar ${m("home")}, git objects ${m("worktree")} (of which commit+ref ${m("worktree-ref")}), own index ${m("git-index")}]`,
    `unfreeze ${m("unfreeze")}`,
    `sizes ${m("sizes")}`,
    `record ${m("record")}`,
  ].join(" → ");
}
function report(what: string, nexus: number[], floor: number[], floorName: string, targetS?: number): void {
  const n = summary(nexus);
  const f = summary(floor);
  const verdict = targetS === undefined ? "" : n.median <= targetS * 1000 ? `ok (≤ ${targetS} s)` : `MISS (target ≤ ${targetS} s)`;
  rows.push([what, `${(n.median / 1000).toFixed(2)} s`, `${(n.min / 1000).toFixed(2)} s`, floorName, `${(f.median / 1000).toFixed(2)} s`, `${(n.median / f.median).toFixed(1)}x`, verdict]);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "bench-checkpoints-"));
  const home = join(root, "nexus");
  const repo = join(root, "repo");
  execFileSync("mkdir", ["-p", repo]);
  git(repo, "init", "-q", "-b", "main");
  execFileSync("sh", ["-c", "seq 1 1000 | while read i; do echo $i > file-$i.txt; done"], { cwd: repo });
  git(repo, "add", "-A");
  git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init");
  const s: Services = buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log });
  const floors: string[] = [];
  try {
    await s.checkpoints.reconcile();
    await s.workspaces.reconcile();
    await s.workspaces.create({ name: "bench", path: repo });
    const sh = (script: string) => s.workspaces.execCollect("bench", { command: "sh", args: ["-c", script] });
    const cid = () => s.store.findByName("bench")!.containerId!;

    // Small change: one file in /opt and one in the worktree's view.
    const small: number[] = [];
    const commitSmall: number[] = [];
    const smallPhases: Array<Record<string, number>> = [];
    for (let i = 0; i < RUNS; i++) {
      await sh(`sudo sh -c 'echo ${i} > /opt/bench-small'`);
      // Work a checkpoint leaves running after its answer (listing its changes) ends before anything is timed.
      await s.checkpoints.settled();
      small.push(await time(() => s.checkpoints.create("bench", { name: `small-${i}` })));
      smallPhases.push(s.checkpoints.resolve(`small-${i}`, "bench").phasesMs ?? {});
      const tag = `nexus-bench-floor:small-${i}`;
      await s.checkpoints.settled();
      commitSmall.push(await time(() => docker("commit", "--pause=true", cid(), tag)));
      floors.push(tag);
    }
    report("create, small change", small, commitSmall, "docker commit", 0.5);
    splits.push({ what: "create, small change", phases: smallPhases });
    // BENCH_ONLY=create: the small create alone (quick A/B rounds of create changes).
    const only = process.env.BENCH_ONLY === "create";

    // Restore of the small case to SSH-ready, beside a plain container started and first reached over SSH.
    const restore: number[] = [];
    const restorePhases: Array<Record<string, number>> = [];
    for (let i = 0; i < (only ? 0 : RUNS); i++) {
      await s.checkpoints.settled();
      restore.push(await time(async () => restorePhases.push((await s.checkpoints.restore(`small-${i}`, "bench")).phasesMs ?? {})));
    }
    splits.push({ what: "restore → SSH ready, small", phases: restorePhases, at: restoredLines.map(starts) });
    const run: number[] = [];
    const floorSteps: Array<Record<string, number>> = [];
    const key = generateEd25519("bench");
    const hostKey = generateEd25519("bench-host");
    const pool = new SshPool({ privateKey: key.privateKey });
    const image = JSON.parse(docker("inspect", cid()))[0].Image as string;
    await s.checkpoints.settled();
    for (let i = 0; i < (only ? 0 : RUNS); i++) {
      const steps: Record<string, number> = {};
      let id = "";
      run.push(
        await time(async () => {
          steps.create = await time(() => (id = docker("create", "--init", "--label", `${BENCH_LABEL}=1`, "-p", "127.0.0.1::22", "-e", `NEXUS_UID=${process.getuid?.() || 1000}`, image)));
          floors.push(id);
          steps.cp = await time(() =>
            execFileSync("docker", ["cp", "-", `${id}:/`], {
              input: tar([
                { name: "etc/nexus/ssh/ssh_host_ed25519_key", content: hostKey.privateKey, mode: 0o600 },
                { name: "etc/nexus/ssh/authorized_keys", content: key.publicKey + "\n", mode: 0o644 },
              ]),
            }),
          );
          steps.start = await time(() => docker("start", id));
          steps.ssh = await time(async () => {
            const port = Number(docker("port", id, "22/tcp").split("\n")[0]!.split(":").pop());
            await pool.waitReady(id, { host: "127.0.0.1", port, username: "nexus", hostPublicKey: hostKey.publicKey }, 60_000);
          });
          pool.drop(id);
        }),
      );
      // Not in the floor's sum: what a stop of the same image (init as PID 1, sshd) costs.
      steps.stop = await time(() => docker("stop", "-t", "10", id));
      floorSteps.push(steps);
    }
    splits.push({ what: "floor (docker create, cp, start, first SSH; then stop)", phases: floorSteps });
    pool.closeAll();
    if (!only) report("restore → SSH ready, small", restore, run, "docker run + first SSH", 1.5);

    // 100 MB in home, beside a commit of 100 MB more in the container's own filesystem.
    const big: number[] = [];
    const commitBig: number[] = [];
    const bigPhases: Array<Record<string, number>> = [];
    for (let i = 0; i < (BIG && !only ? Math.max(1, Math.min(RUNS, 3)) : 0); i++) {
      await sh(`head -c 100M /dev/urandom > ~/big-${i} && sudo sh -c 'head -c 100M /dev/urandom > /opt/big-${i}'`);
      await s.checkpoints.settled();
      big.push(await time(() => s.checkpoints.create("bench", { name: `big-${i}` })));
      bigPhases.push(s.checkpoints.resolve(`big-${i}`, "bench").phasesMs ?? {});
      await sh(`sudo sh -c 'head -c 100M /dev/urandom > /opt/big-floor-${i}'`);
      const tag = `nexus-bench-floor:big-${i}`;
      await s.checkpoints.settled();
      commitBig.push(await time(() => docker("commit", "--pause=true", cid(), tag)));
      floors.push(tag);
      await sh(`rm -f ~/big-${i} && sudo rm -f /opt/big-${i} /opt/big-floor-${i}`);
    }
    if (BIG && !only) {
      report("create, 100 MB in home", big, commitBig, "docker commit, +100 MB", undefined);
      splits.push({ what: "create, 100 MB in home", phases: bigPhases });
    }

    const layers = (img: string) => (JSON.parse(docker("image", "inspect", img))[0].RootFS.Layers as string[]).length;
    const last = s.checkpoints.list("bench").at(-1)!;
    const widths = rows[0]!.map((_, c) => Math.max(...[["operation", "nexus median", "min", "floor", "floor median", "ratio", "target"], ...rows].map((r) => r[c]!.length)));
    const line = (r: string[]) => r.map((x, c) => x.padEnd(widths[c]!)).join("  ");
    console.log(`checkpoints bench: ${RUNS} runs each, load ${execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ")}`);
    console.log(line(["operation", "nexus median", "min", "floor", "floor median", "ratio", "target"]));
    for (const r of rows) console.log(line(r));
    console.log("phase split, median ms (side by side: worktree-prepare beside freeze; in create's frozen window commit, home, worktree, git-index, and diff only in a daemon's first checkpoint of an image (later ones list the changes after the answer: list-changes in restore, 0 when done); in restore re-create (container, archive) beside auto-checkpoint then stop (stop-prep: hooks, services, git sync; from the automatic checkpoint's thaw), then copy-in beside worktree; prepare ends once all are done; then switch, start-prep, engine-start, ssh-ready, catch-up (secrets), services (hooks), old-removed; @ms: when it began):");
    for (const sp of splits) console.log(`  ${sp.what}: ${phaseLine(sp.phases, sp.at)}`);
    if (process.env.BENCH_VERBOSE) for (const l of restoredLines) console.log(`  ${l}`);
    console.log("create's phases in order (median ms):");
    for (const sp of splits.filter((x) => x.what.startsWith("create"))) console.log(`  ${sp.what}: ${createLine(sp.phases)}`);
    if (process.env.BENCH_EACH) for (const sp of splits) for (const [i, p] of sp.phases.entries()) console.log(`  ${sp.what} #${i}: ${JSON.stringify(p)}`);
    console.log(`ratio = nexus median / floor median, both measured in this run on this machine (${execFileSync("nproc", { encoding: "utf8" }).trim()} cores)`);
    console.log(`layers: original image ${layers(last.holds.container!.baseImage)}, newest checkpoint ${layers(last.holds.container!.image)} (after ${RUNS} restores)`);
  } finally {
    await s.workspaces.destroy("bench", { force: true }).catch(() => {});
    s.workspaces.shutdown();
    for (const f of floors) {
      try {
        if (f.includes(":")) docker("rmi", "-f", f);
        else docker("rm", "-f", f);
      } catch {
        // Already gone.
      }
    }
    const left = docker("images", "-q", "--filter", `label=${CHECKPOINT_LABELS.instance}=${instanceId(home)}`).split("\n").filter(Boolean);
    if (left.length) docker("rmi", "-f", ...left);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
