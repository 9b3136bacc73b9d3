// A workspace on a tcp:// engine with TLS (ports reached by exec relays through the API), in one run:
//   - `nexus exec <ws> -- true` beside the floor a user has without Nexus, `docker --tlsverify -H
//     tcp://… exec <container> true` (goal: <= 0.5x the floor);
//   - a new SSH connection through the daemon's listener (`ssh nexus-<ws> true`: one exec relay is
//     opened per connection) beside the same floor;
//   - edit here → visible inside (the sync lag; unison over a new relayed ssh connection per pass).
// The engine is a private dockerd on tcp://127.0.0.1 with --tlsverify (test/helpers/private-dockerd.ts,
// certificates from test/helpers/tls-certs.ts; root only). Prints figures; never fails on a miss.
//
//   node_modules/.bin/bun scripts/build.ts && node_modules/.bin/bun bench/tcp-engine.ts   (BENCH_RUNS=N, default 20)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { median, run, time } from "./process.ts";
import { PrivateDockerd } from "../test/helpers/private-dockerd.ts";
import { makeTlsFiles } from "../test/helpers/tls-certs.ts";

const ROOT = join(import.meta.dir, "..");
const NEXUS = join(ROOT, "dist", "nexus");
const WARMUPS = 3;
const TARGET_RATIO = 0.5;
const RUNS = Number(process.env.BENCH_RUNS || 20);
const LAG_RUNS = Number(process.env.BENCH_LAG_RUNS || 10);

/** ms from writing `file` here until a waiter inside sees its new content. */
async function lagOnce(env: NodeJS.ProcessEnv, worktree: string, i: number): Promise<number> {
  const want = `edit ${i} ${Date.now()}`;
  const waiter = spawn(NEXUS, ["exec", "tb", "--", "sh", "-c", `echo ready; while [ "$(cat /workspace/lag.txt 2>/dev/null)" != "${want}" ]; do sleep 0.01; done`], { env, stdio: ["ignore", "pipe", "pipe"] });
  const done = new Promise<number>((resolve, reject) => {
    waiter.on("exit", (code) => (code === 0 ? resolve(performance.now()) : reject(new Error(`the waiter inside exited ${code}`))));
  });
  await new Promise<void>((resolve) => waiter.stdout!.once("data", () => resolve()));
  const t0 = performance.now();
  writeFileSync(join(worktree, "lag.txt"), want);
  const timer = setTimeout(() => waiter.kill(), 60_000);
  const t1 = await done.finally(() => clearTimeout(timer)).catch((err: Error) => {
    const seen = spawnSync(NEXUS, ["exec", "tb", "--", "cat", "/workspace/lag.txt"], { env, encoding: "utf8" });
    throw new Error(`${err.message}; wanted '${want}', inside: '${seen.stdout}' ${seen.stderr}; sync: ${spawnSync(NEXUS, ["sync", "status", "tb"], { env, encoding: "utf8" }).stdout}`);
  });
  return t1 - t0;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench/tcp-engine.ts: needs root (the engine is a private dockerd)\n");
    return 2;
  }
  const tmp = mkdtempSync("/tmp/nxbt.");
  const home = join(tmp, "home");
  const repo = join(tmp, "repo");
  const env: NodeJS.ProcessEnv = { ...process.env, NEXUS_HOME: home };
  let engine: PrivateDockerd | undefined;
  let created = false;
  try {
    process.stderr.write("bench: starting a private dockerd on tcp://127.0.0.1 with --tlsverify\n");
    const tls = makeTlsFiles(join(tmp, "tls"));
    engine = await PrivateDockerd.start({ tcp: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey } });
    run("mkdir", ["-p", "-m", "700", home]);
    writeFileSync(join(home, "config.yaml"), `engines:\n  tcpbox:\n    host: "${engine.tcpHost}"\n    tls: { ca: ${tls.ca}, cert: ${tls.clientCert}, key: ${tls.clientKey} }\n`, { mode: 0o600 });
    run("git", ["init", "-q", "-b", "main", repo]);
    writeFileSync(join(repo, "README.md"), "# bench\n");
    run("git", ["-C", repo, "add", "."]);
    run("git", ["-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "init"]);
    process.stderr.write("bench: creating workspace tb on engine 'tcpbox'\n");
    created = true;
    const t0 = performance.now();
    run(NEXUS, ["create", "tb", "--engine", "tcpbox"], { cwd: repo, env, timeoutMs: 1_200_000 });
    const createMs = performance.now() - t0;
    const status = JSON.parse(run(NEXUS, ["status", "tb", "--json"], { env }).stdout) as { containerId: string; worktreePath: string };
    const docker = ["--tlsverify", "--tlscacert", tls.ca, "--tlscert", tls.clientCert, "--tlskey", tls.clientKey, "-H", engine.tcpHost!];
    const ssh = ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", "nexus-tb", "true"];
    const kinds = [
      { label: "nexus exec", cmd: NEXUS, args: ["exec", "tb", "--", "true"] },
      { label: "ssh nexus-tb", cmd: "ssh", args: ssh },
      { label: "docker exec", cmd: "docker", args: [...docker, "exec", status.containerId, "true"] },
    ];
    for (const k of kinds) for (let i = 0; i < WARMUPS; i++) time(k.cmd, k.args, env);
    const samples = kinds.map(() => [] as number[]);
    // Interleaved, so all see the same load.
    for (let i = 0; i < RUNS; i++) for (const [j, k] of kinds.entries()) samples[j]!.push(time(k.cmd, k.args, env));
    const m = samples.map(median);
    const lags: number[] = [];
    for (let i = 0; i < LAG_RUNS; i++) lags.push(await lagOnce(env, status.worktreePath, i));
    const ratio = m[0]! / m[2]!;
    process.stdout.write(
      [
        `machine         ${cpus().length} x ${cpus()[0]?.model ?? "?"}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
        `workspace       tb on engine 'tcpbox' (${engine.tcpHost}, TLS), created in ${(createMs / 1000).toFixed(1)} s`,
        `runs            ${RUNS} each, interleaved, after ${WARMUPS} warm-ups`,
        ...kinds.map((k, j) => `${k.label.padEnd(16)}median ${m[j]!.toFixed(1).padStart(7)} ms   min ${Math.min(...samples[j]!).toFixed(1).padStart(7)} ms`),
        `median(nexus exec) / median(docker exec) = ${ratio.toFixed(3)}   target <= ${TARGET_RATIO}   ${ratio <= TARGET_RATIO ? "PASS" : "MISS"}`,
        `median(ssh nexus-tb) / median(docker exec) = ${(m[1]! / m[2]!).toFixed(3)}   (a new connection: one exec relay)`,
        `sync lag here -> inside, ${LAG_RUNS} edits: median ${median(lags).toFixed(0)} ms, min ${Math.min(...lags).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms`,
      ].join("\n") + "\n",
    );
    return 0;
  } finally {
    if (created) spawnSync(NEXUS, ["destroy", "tb", "--force"], { env, timeout: 300_000 });
    spawnSync(NEXUS, ["daemon", "stop"], { env, timeout: 60_000 });
    await engine?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exit(await main());
