// Lifecycle latency: each Nexus operation beside its Docker floor, on the same machine, in one run.
//
//   create → SSH ready    `nexus create <ws>`   vs  docker create + docker cp (host key, authorized_keys)
//                                                   + docker start + docker port + first `ssh … true`
//   pause → resume        `nexus resume <ws>`   vs  `docker unpause` of a plain `sleep infinity` container;
//                         and the split: the daemon's own durationMs, and both over their sockets
//                         from this process (REST resume vs the Engine API's unpause: no CLI start)
//   running → stopped     `nexus stop <ws>`     vs  `docker stop` (both with a 1 s grace period)
//   stop → start → ready  `nexus start <ws>`    vs  docker start + docker port + first `ssh … true`
//
// Prints medians, p90 and min of each, and the ratios nexus/floor; a missed target prints MISS but
// never fails the run (only an error does).
//
//   npm run build && npm run bench:lifecycle
//   BENCH_RUNS=N   N timed runs of every operation (default: 10 create, 20 resume, 10 start)
//   NEXUS_BIN=path the binary to measure (default dist/nexus)
//
// Needs dist/nexus, a Docker engine and the OpenSSH client (ssh, ssh-keygen). Everything it makes
// (NEXUS_HOME, git repository, keys, workspaces, floor containers, daemon) is temporary and removed
// at the end, even on failure. Floor containers carry dev.nexus.bench=1 and this run's own
// dev.nexus.bench.run label; nothing else on the engine is touched (no image removal, no prune).
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { instanceId } from "../src/docker/labels.ts";

const ROOT = join(import.meta.dir, "..");
// NEXUS_BIN: another binary (an A/B of two builds on the same machine); dist/nexus otherwise.
const NEXUS = process.env.NEXUS_BIN || join(ROOT, "dist", "nexus");
const IMAGE = "nexus-workspace:latest";
const BENCH_LABEL = "dev.nexus.bench";
const RUN_LABEL = "dev.nexus.bench.run";
// Issue 17's targets: create ≤ 1.2×, resume, stop and stop → start → ready ≤ 1.1× their floors.
const TARGET_CREATE = 1.2;
const TARGET_RESUME = 1.1;
const TARGET_STOP = 1.1;
const TARGET_START = 1.1;
const SSH_READY_TIMEOUT_MS = 60_000;
const SSH_POLL_MS = 10;

class BenchError extends Error {}

function parseRuns(): { create: number; resume: number; start: number } {
  const raw = process.env.BENCH_RUNS;
  if (raw === undefined || raw === "") return { create: 10, resume: 20, start: 10 };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`BENCH_RUNS must be a positive integer, got '${raw}'`);
  return { create: n, resume: n, start: n };
}

let interrupted = false;

/** Runs a command to completion; a non-zero exit (or a signal) is an error that names the command. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.error) throw new BenchError(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (interrupted) throw new BenchError("interrupted");
  if (r.status !== 0) {
    const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    const out = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim();
    throw new BenchError(`${cmd} ${args.join(" ")}: ${why}${out ? `\n${out}` : ""}`);
  }
  return r;
}

/** Lets a pending SIGINT/SIGTERM handler run, then stops if one did. */
async function checkpoint(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new BenchError("interrupted");
}

/** Wall time of one complete run of a command, in ms, and its stdout. */
async function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ ms: number; stdout: string }> {
  const start = performance.now();
  const r = run(cmd, args, opts);
  const ms = performance.now() - start;
  await checkpoint();
  return { ms, stdout: r.stdout };
}

interface Stats {
  median: number;
  p90: number;
  min: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  const p90 = s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!; // nearest rank
  return { median, p90, min: s[0]! };
}

function machineInfo(): string[] {
  const docker = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" });
  const nproc = spawnSync("nproc", [], { encoding: "utf8" });
  const ssh = spawnSync("ssh", ["-V"], { encoding: "utf8" });
  return [
    `nproc           ${nproc.status === 0 ? nproc.stdout.trim() : availableParallelism()}`,
    `cpu             ${cpus()[0]?.model ?? "?"}`,
    `kernel          ${process.platform} ${release()} ${process.arch}`,
    `docker server   ${docker.status === 0 ? docker.stdout.trim() : `? (${(docker.stderr || docker.error?.message || "").trim()})`}`,
    `ssh client      ${`${ssh.stderr ?? ""}${ssh.stdout ?? ""}`.trim() || "?"}`,
    `bench runtime   bun ${Bun.version}`,
  ];
}

/** Everything the floor (plain Docker + the system ssh client) needs: keys on disk and the ids it made. */
interface Floor {
  /** Holds exactly the files copied to /etc/nexus/ssh: the host key (0600) and authorized_keys. */
  stage: string;
  clientKey: string;
  labels: string[];
  containers: Set<string>;
}

function makeFloorKeys(dir: string, instance: string): Floor {
  const stage = join(dir, "etc-nexus-ssh");
  const client = join(dir, "client");
  mkdirSync(stage, { mode: 0o755 });
  mkdirSync(client, { mode: 0o700 });
  chmodSync(stage, 0o755); // docker cp of "stage/." may carry the directory's own mode onto /etc/nexus/ssh
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nexus-bench-host", "-f", join(stage, "ssh_host_ed25519_key")]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nexus-bench-client", "-f", join(client, "id_ed25519")]);
  chmodSync(join(stage, "ssh_host_ed25519_key"), 0o600);
  writeFileSync(join(stage, "authorized_keys"), readFileSync(join(client, "id_ed25519.pub"), "utf8"), { mode: 0o644 });
  chmodSync(join(stage, "authorized_keys"), 0o644);
  return {
    stage,
    clientKey: join(client, "id_ed25519"),
    labels: ["--label", `${BENCH_LABEL}=1`, "--label", `${RUN_LABEL}=${instance}`],
    containers: new Set(),
  };
}

/** The host port Docker published for the container's port 22 on 127.0.0.1 (it changes at every start). */
function sshPort(container: string): number {
  const out = run("docker", ["port", container, "22/tcp"]).stdout;
  const m = /^127\.0\.0\.1:(\d+)$/m.exec(out);
  if (!m) throw new BenchError(`docker port ${container.slice(0, 12)} 22/tcp: no 127.0.0.1 binding in '${out.trim()}'`);
  return Number(m[1]);
}

/** Polls `ssh … true` (a fresh connection each time) until it succeeds; returns the number of attempts. */
async function waitSsh(f: Floor, port: number): Promise<number> {
  const deadline = performance.now() + SSH_READY_TIMEOUT_MS;
  let last = "";
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(
      "ssh",
      [
        "-F", "/dev/null",
        "-i", f.clientKey,
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes",
        "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=5",
        "-o", "ControlMaster=no",
        "-o", "ControlPath=none",
        "-p", String(port),
        "nexus@127.0.0.1",
        "true",
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 15_000 },
    );
    if (r.error) throw new BenchError(`ssh: ${r.error.message}`);
    if (r.status === 0) return attempt;
    last = `${r.stderr ?? ""}`.trim() || `exit code ${r.status}`;
    if (performance.now() > deadline) throw new BenchError(`ssh to 127.0.0.1:${port} did not succeed within ${SSH_READY_TIMEOUT_MS / 1000} s: ${last}`);
    await new Promise((r) => setTimeout(r, SSH_POLL_MS));
    if (interrupted) throw new BenchError("interrupted");
  }
}

/** Floor of create → SSH ready: docker create, docker cp of the two key files, docker start, docker port, ssh until it answers. */
async function floorCreate(f: Floor): Promise<{ ms: number; startedMs: number; container: string }> {
  const t0 = performance.now();
  const container = run("docker", ["create", ...f.labels, "-p", "127.0.0.1::22", IMAGE]).stdout.trim();
  f.containers.add(container);
  run("docker", ["cp", `${f.stage}/.`, `${container}:/etc/nexus/ssh/`]);
  run("docker", ["start", container]);
  const port = sshPort(container);
  const startedMs = performance.now() - t0;
  await waitSsh(f, port);
  const ms = performance.now() - t0;
  await checkpoint();
  return { ms, startedMs, container };
}

/** Floor of stop → start → ready on a stopped floor container: docker start, docker port, ssh until it answers. */
async function floorStart(f: Floor, container: string): Promise<{ ms: number; startedMs: number }> {
  const t0 = performance.now();
  run("docker", ["start", container]);
  const port = sshPort(container);
  const startedMs = performance.now() - t0;
  await waitSsh(f, port);
  const ms = performance.now() - t0;
  await checkpoint();
  return { ms, startedMs };
}

/** The Docker Engine's unix socket (DOCKER_HOST when it names one). */
function dockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  return host?.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock";
}

/** Wall time of one POST over a unix socket from this process (no process start in it); a failure is an error. */
async function timedFetch(socket: string, url: string, body?: unknown): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", unix: socket, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) } as RequestInit);
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new BenchError(`POST ${url} on ${socket}: ${res.status} ${text.slice(0, 300)}`);
  await checkpoint();
  return ms;
}

function removeFloor(f: Floor, container: string): void {
  run("docker", ["rm", "-f", "-v", container]);
  f.containers.delete(container);
}

/** Runs a and b in turn, the first one alternating between rounds, so drift on the machine hits both alike. */
async function alternate(round: number, a: () => Promise<void>, b: () => Promise<void>): Promise<void> {
  if (round % 2 === 0) {
    await a();
    await b();
  } else {
    await b();
    await a();
  }
}

function imageId(): string {
  const r = spawnSync("docker", ["image", "inspect", "--format", "{{.Id}}", IMAGE], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

async function main(): Promise<number> {
  if (!existsSync(NEXUS)) {
    process.stderr.write(`bench: ${NEXUS} does not exist; run 'npm run build' first\n`);
    return 2;
  }
  const runs = parseRuns();
  // Stop at the next run and clean up (a terminal's Ctrl-C also reaches the running child, whose failure stops it).
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (interrupted = true));

  const home = mkdtempSync(join(tmpdir(), "nexus-bench-home-"));
  const repoDir = mkdtempSync(join(tmpdir(), "nexus-bench-repo-"));
  const keyDir = mkdtempSync(join(tmpdir(), "nexus-bench-keys-"));
  const env: NodeJS.ProcessEnv = { ...process.env, NEXUS_HOME: home };
  delete env.NEXUS_URL;
  delete env.NEXUS_TOKEN;
  const instance = instanceId(home);
  const prefix = `bench-${process.pid}`;
  /** Workspaces that may exist: destroyed in cleanup (a create cut short may have left something). */
  const workspaces = new Set<string>();
  let floor: Floor | undefined;
  let failed = false;

  const nexusCreate = async (name: string, timeoutMs = 180_000) => {
    workspaces.add(name);
    return timed(NEXUS, ["create", name], { cwd: repoDir, env, timeoutMs });
  };
  const nexusDestroy = (name: string) => {
    run(NEXUS, ["destroy", name, "--force"], { env });
    workspaces.delete(name);
  };

  try {
    const version = run(NEXUS, ["version"], { env }).stdout.split("\n")[0];
    const gitEnv = { ...env, GIT_AUTHOR_NAME: "Nexus Bench", GIT_AUTHOR_EMAIL: "bench@nexus.invalid", GIT_COMMITTER_NAME: "Nexus Bench", GIT_COMMITTER_EMAIL: "bench@nexus.invalid" };
    run("git", ["init", "-q", "-b", "main"], { cwd: repoDir, env: gitEnv });
    writeFileSync(join(repoDir, "README.md"), "# bench\n");
    run("git", ["add", "README.md"], { cwd: repoDir, env: gitEnv });
    run("git", ["commit", "-q", "-m", "initial"], { cwd: repoDir, env: gitEnv });
    floor = makeFloorKeys(keyDir, instance);
    const f = floor;

    // Warm-up: the first create starts the daemon and builds the image when it is missing; neither is measured.
    process.stderr.write(`bench: warm-up create + destroy (NEXUS_HOME ${home}; builds ${IMAGE} if missing)\n`);
    const warm = await nexusCreate(`${prefix}-warm`, 900_000);
    process.stderr.write(`bench: warm-up create took ${(warm.ms / 1000).toFixed(1)} s\n`);
    nexusDestroy(`${prefix}-warm`);
    const image = imageId();
    if (!image) throw new BenchError(`${IMAGE} does not exist after the warm-up create`);
    removeFloor(f, (await floorCreate(f)).container);

    // 1. create → SSH ready
    process.stderr.write(`bench: create → SSH ready, ${runs.create} runs of each (alternating)\n`);
    const createNexus: number[] = [];
    const createFloor: number[] = [];
    const createFloorStarted: number[] = [];
    for (let i = 0; i < runs.create; i++) {
      await alternate(
        i,
        async () => {
          const name = `${prefix}-c${i}`;
          createNexus.push((await nexusCreate(name)).ms);
          nexusDestroy(name);
        },
        async () => {
          const r = await floorCreate(f);
          createFloor.push(r.ms);
          createFloorStarted.push(r.startedMs);
          removeFloor(f, r.container);
        },
      );
    }

    // The long-lived subjects of (2) and (3): one workspace, one floor container with sshd, one plain container.
    const ws = prefix;
    await nexusCreate(ws);
    const sshCtr = (await floorCreate(f)).container;
    const sleepCtr = run("docker", ["run", "-d", ...f.labels, "--entrypoint", "sleep", IMAGE, "infinity"]).stdout.trim();
    f.containers.add(sleepCtr);

    // 2. pause → resume
    process.stderr.write(`bench: pause → resume, ${runs.resume} runs of each (alternating, after 2 warm-ups)\n`);
    const resumeNexus: number[] = [];
    const resumeReported: number[] = [];
    const resumeDocker: number[] = [];
    const resumeRest: number[] = [];
    const resumeApi: number[] = [];
    const socket = join(home, "daemon.sock");
    const engineSocket = dockerSocket();
    for (let i = -2; i < runs.resume; i++) {
      await alternate(
        i + 2,
        async () => {
          run(NEXUS, ["pause", ws], { env });
          const r = await timed(NEXUS, ["resume", ws, "--json"], { env });
          const body = JSON.parse(r.stdout) as { durationMs?: unknown; status?: unknown };
          if (typeof body.durationMs !== "number") throw new BenchError(`nexus resume --json gave no durationMs: ${r.stdout.trim()}`);
          if (body.status !== "running") throw new BenchError(`nexus resume --json gave status ${String(body.status)}`);
          if (i >= 0) {
            resumeNexus.push(r.ms);
            resumeReported.push(body.durationMs);
          }
          // The same over the daemon's socket from this process: no CLI start in it.
          run(NEXUS, ["pause", ws], { env });
          const rest = await timedFetch(socket, `http://nexus/api/v1/workspaces/${ws}/resume`, { blocking: true });
          if (i >= 0) resumeRest.push(rest);
        },
        async () => {
          run("docker", ["pause", sleepCtr]);
          const r = await timed("docker", ["unpause", sleepCtr]);
          if (i >= 0) resumeDocker.push(r.ms);
          run("docker", ["pause", sleepCtr]);
          const api = await timedFetch(engineSocket, `http://docker/containers/${sleepCtr}/unpause`);
          if (i >= 0) resumeApi.push(api);
        },
      );
    }

    // 3. stop → start → ready
    process.stderr.write(`bench: stop → start → ready, ${runs.start} runs of each (alternating, after 1 warm-up)\n`);
    const startNexus: number[] = [];
    const stopNexus: number[] = [];
    const stopDocker: number[] = [];
    const startFloor: number[] = [];
    const startFloorStarted: number[] = [];
    for (let i = -1; i < runs.start; i++) {
      await alternate(
        i + 1,
        async () => {
          const stopped = await timed(NEXUS, ["stop", ws, "--timeout", "1"], { env });
          const r = await timed(NEXUS, ["start", ws], { env });
          if (i >= 0) {
            stopNexus.push(stopped.ms);
            startNexus.push(r.ms);
          }
        },
        async () => {
          const stopped = await timed("docker", ["stop", "-t", "1", sshCtr]);
          const r = await floorStart(f, sshCtr);
          if (i >= 0) {
            stopDocker.push(stopped.ms);
            startFloor.push(r.ms);
            startFloorStarted.push(r.startedMs);
          }
        },
      );
    }
    const imageAfter = imageId();

    const rows: Array<[string, string, number[]]> = [
      ["create → ready", "nexus create", createNexus],
      ["", "floor: docker create+cp+start+port+ssh", createFloor],
      ["", "  of which docker create+cp+start+port", createFloorStarted],
      ["pause → resume", "nexus resume (CLI wall)", resumeNexus],
      ["", "nexus resume durationMs (daemon)", resumeReported],
      ["", "floor: docker unpause", resumeDocker],
      ["", "  nexus resume, REST on the socket", resumeRest],
      ["", "  floor: unpause, Engine API on its socket", resumeApi],
      ["stop", "nexus stop", stopNexus],
      ["", "floor: docker stop", stopDocker],
      ["stop → start", "nexus start", startNexus],
      ["", "floor: docker start+port+ssh", startFloor],
      ["", "  of which docker start+port", startFloorStarted],
    ];
    const st = Object.fromEntries(rows.map(([, label, s]) => [label, stats(s)])) as Record<string, Stats>;
    const f1 = (ms: number) => ms.toFixed(1).padStart(9);
    const ratio = (a: string, b: string) => st[a]!.median / st[b]!.median;
    const verdict = (r: number, target: number) => `target <= ${target}   ${r <= target ? "PASS" : "MISS"}`;
    const rCreate = ratio("nexus create", "floor: docker create+cp+start+port+ssh");
    const rResume = ratio("nexus resume (CLI wall)", "floor: docker unpause");
    const rResumeDaemon = ratio("nexus resume durationMs (daemon)", "floor: docker unpause");
    const rResumeApi = ratio("  nexus resume, REST on the socket", "  floor: unpause, Engine API on its socket");
    const rStart = ratio("nexus start", "floor: docker start+port+ssh");
    const rStop = ratio("nexus stop", "floor: docker stop");
    const lines = [
      "",
      `nexus lifecycle benchmark — ${version}`,
      ...machineInfo(),
      `image           ${IMAGE} ${image.replace(/^sha256:/, "").slice(0, 12)}${imageAfter !== image ? ` (changed during the run to ${imageAfter.replace(/^sha256:/, "").slice(0, 12) || "none"}: figures may be mixed)` : ""}`,
      `runs            create ${runs.create}, resume ${runs.resume} (after 2 warm-ups), start ${runs.start} (after 1 warm-up); nexus and floor alternate`,
      `floor ssh       fresh 'ssh … true' every ${SSH_POLL_MS} ms until it succeeds`,
      "",
      `${"operation".padEnd(16)}${"measured".padEnd(42)}${"median".padStart(9)}${"p90".padStart(9)}${"min".padStart(9)}   (ms)`,
      ...rows.map(([op, label]) => `${op.padEnd(16)}${label.padEnd(42)}${f1(st[label]!.median)}${f1(st[label]!.p90)}${f1(st[label]!.min)}`),
      "",
      `create:  median(nexus create) / median(floor)                = ${rCreate.toFixed(3)}   ${verdict(rCreate, TARGET_CREATE)}`,
      `resume:  median(nexus resume) / median(docker unpause)       = ${rResume.toFixed(3)}   ${verdict(rResume, TARGET_RESUME)}`,
      `         median(resume durationMs) / median(docker unpause)  = ${rResumeDaemon.toFixed(3)}   (daemon side only; informational)`,
      `         median(REST resume) / median(Engine API unpause)    = ${rResumeApi.toFixed(3)}   (no CLI start on either side; informational)`,
      `stop:    median(nexus stop) / median(docker stop)            = ${rStop.toFixed(3)}   ${verdict(rStop, TARGET_STOP)}`,
      `start:   median(nexus start) / median(floor)                 = ${rStart.toFixed(3)}   ${verdict(rStart, TARGET_START)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } catch (err) {
    failed = true;
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
  } finally {
    failed = cleanup({ workspaces, env, home, repoDir, keyDir, instance, floor }) || failed;
  }
  return failed ? 1 : 0;
}

/**
 * Destroys the workspaces, stops the daemon, removes the floor containers and whatever still carries
 * this home's instance label, and the temp dirs; returns true when something failed.
 */
function cleanup(c: { workspaces: Set<string>; env: NodeJS.ProcessEnv; home: string; repoDir: string; keyDir: string; instance: string; floor: Floor | undefined }): boolean {
  let failed = false;
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      failed = true;
      process.stderr.write(`bench: cleanup: ${what}: ${(err as Error).message}\n`);
    }
  };
  interrupted = false;
  for (const ws of c.workspaces) {
    attempt(`nexus destroy ${ws}`, () => {
      const r = spawnSync(NEXUS, ["destroy", ws, "--force"], { env: c.env, encoding: "utf8", timeout: 120_000 });
      // A create that failed was rolled back: nothing to destroy is not a cleanup failure.
      if (r.status !== 0 && !/WORKSPACE_NOT_FOUND/.test(`${r.stderr}${r.stdout}`)) {
        throw new Error(`${r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`)} ${`${r.stderr ?? ""}`.trim()}`);
      }
    });
  }
  attempt("nexus daemon stop", () => run(NEXUS, ["daemon", "stop"], { env: c.env, timeoutMs: 30_000 }));
  // The floor containers are always removed: the ones this run knows of, and any other with this run's label.
  attempt("docker rm of floor containers", () => {
    const ids = new Set(c.floor?.containers ?? []);
    for (const id of run("docker", ["ps", "-aq", "--no-trunc", "--filter", `label=${RUN_LABEL}=${c.instance}`]).stdout.split("\n").filter(Boolean)) ids.add(id);
    if (ids.size) run("docker", ["rm", "-f", "-v", ...ids]);
  });
  // Whatever is left with this home's instance label (nothing, when destroy worked) goes too.
  attempt("docker rm of leftovers", () => {
    const filter = `label=dev.nexus.instance=${c.instance}`;
    const ctr = run("docker", ["ps", "-aq", "--filter", filter]).stdout.split("\n").filter(Boolean);
    if (ctr.length) {
      failed = true;
      process.stderr.write(`bench: cleanup: removing ${ctr.length} leftover container(s)\n`);
      run("docker", ["rm", "-f", ...ctr]);
    }
    const vols = run("docker", ["volume", "ls", "-q", "--filter", filter]).stdout.split("\n").filter(Boolean);
    if (vols.length) {
      failed = true;
      process.stderr.write(`bench: cleanup: removing ${vols.length} leftover volume(s)\n`);
      run("docker", ["volume", "rm", "-f", ...vols]);
    }
  });
  attempt("remove temp dirs", () => {
    rmSync(c.repoDir, { recursive: true, force: true });
    rmSync(c.keyDir, { recursive: true, force: true });
    rmSync(c.home, { recursive: true, force: true });
  });
  return failed;
}

process.exit(
  await main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
    return 1;
  }),
);
