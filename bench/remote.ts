// `nexus exec <ws> -- true` on a workspace on a remote engine (reached over SSH) beside the floor a
// user has without Nexus: `ssh host docker exec <container> true`, in the same run. The "remote" is
// scripts/remote-engine.sh's double (a private dockerd and an sshd on 127.0.0.1; root only). Goal:
// nexus exec <= 0.5x the floor. Prints figures; never fails on a miss.
//
//   node_modules/.bin/bun scripts/build.ts && node_modules/.bin/bun bench/remote.ts   (BENCH_RUNS=N, default 20)
//
// Needs dist/nexus (with file sync wired in: a remote workspace needs it), a Docker engine and root.
// Everything it makes (the double, NEXUS_HOME, repository, workspace, daemon) is removed at the end.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { median, run, time } from "./process.ts";

const ROOT = join(import.meta.dir, "..");
const NEXUS = join(ROOT, "dist", "nexus");
const SCRIPT = join(ROOT, "scripts", "remote-engine.sh");
const WARMUPS = 3;
const TARGET_RATIO = 0.5;
const RUNS = Number(process.env.BENCH_RUNS || 20);

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench/remote.ts: needs root (the remote double runs a private dockerd)\n");
    return 2;
  }
  const tmp = mkdtempSync("/tmp/nxbr.");
  const double = join(tmp, "remote");
  const home = join(tmp, "home");
  const repo = join(tmp, "repo");
  const env: NodeJS.ProcessEnv = { ...process.env, NEXUS_HOME: home };
  let created = false;
  try {
    process.stderr.write("bench: starting the remote double\n");
    const vars = Object.fromEntries(run("bash", [SCRIPT, "start", double], { timeoutMs: 300_000 }).stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    run("mkdir", ["-p", "-m", "700", home]);
    writeFileSync(join(home, "config.yaml"), readFileSync(join(double, "engines.yaml"), "utf8"), { mode: 0o600 });
    run("git", ["init", "-q", "-b", "main", repo]);
    writeFileSync(join(repo, "README.md"), "# bench\n");
    run("git", ["-C", repo, "add", "."]);
    run("git", ["-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "init"]);
    process.stderr.write("bench: creating workspace rb on engine 'remote'\n");
    created = true;
    const t0 = performance.now();
    run(NEXUS, ["create", "rb", "--engine", "remote"], { cwd: repo, env, timeoutMs: 1_200_000 });
    const createMs = performance.now() - t0;
    const status = JSON.parse(run(NEXUS, ["status", "rb", "--json"], { env }).stdout) as { containerId: string };
    const ssh = ["-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", `UserKnownHostsFile=${vars.REMOTE_ENGINE_KNOWN_HOSTS}`, "-o", "StrictHostKeyChecking=yes", "-i", vars.REMOTE_ENGINE_IDENTITY!, "-p", vars.REMOTE_ENGINE_PORT!, "root@127.0.0.1"];
    const kinds = [
      { label: "nexus exec", cmd: NEXUS, args: ["exec", "rb", "--", "true"] },
      { label: "ssh+docker exec", cmd: "ssh", args: [...ssh, "docker", "-H", vars.REMOTE_ENGINE_DOCKER_HOST!, "exec", status.containerId, "true"] },
    ];
    for (const k of kinds) for (let i = 0; i < WARMUPS; i++) time(k.cmd, k.args, env);
    const samples = kinds.map(() => [] as number[]);
    // Interleaved, so both see the same load.
    for (let i = 0; i < RUNS; i++) for (const [j, k] of kinds.entries()) samples[j]!.push(time(k.cmd, k.args, env));
    const m = samples.map(median);
    const ratio = m[0]! / m[1]!;
    process.stdout.write(
      [
        `machine         ${cpus().length} x ${cpus()[0]?.model ?? "?"}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
        `workspace       rb on engine 'remote' (${vars.REMOTE_ENGINE_HOST}), created in ${(createMs / 1000).toFixed(1)} s`,
        `runs            ${RUNS} each, interleaved, after ${WARMUPS} warm-ups`,
        ...kinds.map((k, j) => `${k.label.padEnd(16)}median ${m[j]!.toFixed(1).padStart(7)} ms   min ${Math.min(...samples[j]!).toFixed(1).padStart(7)} ms`),
        `median(nexus exec) / median(ssh+docker exec) = ${ratio.toFixed(3)}   target <= ${TARGET_RATIO}   ${ratio <= TARGET_RATIO ? "PASS" : "MISS"}`,
      ].join("\n") + "\n",
    );
    return 0;
  } finally {
    if (created) spawnSync(NEXUS, ["destroy", "rb", "--force"], { env, timeout: 300_000 });
    spawnSync(NEXUS, ["daemon", "stop"], { env, timeout: 60_000 });
    spawnSync("bash", [SCRIPT, "stop", double], { timeout: 300_000 });
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exit(await main());
