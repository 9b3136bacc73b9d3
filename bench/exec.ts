// Latency of `nexus exec <ws> -- true` (pooled SSH through the daemon) against `docker exec` on the
// same container and a fresh `ssh` connection each time, and the CLI's start (`--help`, `version`,
// `list`) beside the floor: a compiled hello-world made with the same Bun and flags in the same run,
// and that hello-world with one request on the daemon's socket (the runtime's price for any request)
// or with the exec of `true` itself (the least any client pays for it: what is left is the CLI's own).
// Then exec split into its parts: the command in the workspace (over the exec agent, and over an SSH
// session of its own, the fallback, side by side), the daemon's own work, the CLI process. Prints
// figures; never fails on a miss.
//
//   npm run build && npm run bench          (BENCH_RUNS=N for N timed runs of each, default 30;
//                                           BENCH_SETTLE_MS=N for the untimed pause before each, default 100)
//   NEXUS_BIN=path npm run bench            the binary to measure (default dist/nexus): an older build
//                                           beside this one, same machine, same session; copy both
//                                           fresh first (cp): the same code run from a file built 15
//                                           minutes earlier measured 1.2-2 ms slower in every row
//   NEXUS_EXEC_AGENT=0 npm run bench        the same with every exec over an SSH session (the daemon
//                                           this bench starts inherits it): the A/B of the exec agent
//   BENCH_SPLIT=0 npm run bench             without the split of exec into its parts: for a build older
//                                           than the exec agent (before issue 17), whose workspace has none
//
// Needs dist/nexus and a Docker engine. Everything it makes (NEXUS_HOME, git repository, workspace,
// daemon) is temporary and removed at the end, even on failure.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { execBody } from "../src/cli/exec-lane.ts";
import { requestHeaders } from "../src/cli/request-headers.ts";
import { instanceId } from "../src/docker/labels.ts";
import { requestOf } from "../src/runtime/http1.ts";
import { EXEC_AGENT_PY } from "../src/ssh/exec-agent.ts";

const ROOT = join(import.meta.dir, "..");
const NEXUS = process.env.NEXUS_BIN || join(ROOT, "dist", "nexus");
const WARMUPS = 3;
const TARGET_RATIO = 0.3;
const agentOff = process.env.NEXUS_EXEC_AGENT === "0";
const SPLIT = process.env.BENCH_SPLIT !== "0";

class BenchError extends Error {}

function parseRuns(): number {
  const raw = process.env.BENCH_RUNS;
  if (raw === undefined || raw === "") return 30;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`BENCH_RUNS must be a positive integer, got '${raw}'`);
  return n;
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

/**
 * The pause before each run, untimed (BENCH_SETTLE_MS, default 100): what a command leaves running
 * after it exits (a fresh ssh's sshd and docker-proxy tearing down, a daemon writing its history)
 * otherwise lands on the next command's time. Without it, hello-world right after `ssh (fresh)` took
 * 2.3-3.0 ms longer than after another hello-world (30 interleaved rounds, 2-core VM), which made the
 * floor slower and every row measured against it look better than it was.
 */
function parseSettle(): number {
  const raw = process.env.BENCH_SETTLE_MS;
  if (raw === undefined || raw === "") return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BenchError(`BENCH_SETTLE_MS must be a non-negative integer, got '${raw}'`);
  return n;
}

let SETTLE_MS = 100;

/** Wall time of one complete run, in ms, after the settling pause. Yields to the event loop afterwards, so a SIGINT/SIGTERM gets noticed. */
async function timed(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (SETTLE_MS > 0) await Bun.sleep(SETTLE_MS);
  const start = performance.now();
  run(cmd, [...args], { env, timeoutMs: 60_000 });
  const ms = performance.now() - start;
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new BenchError("interrupted");
  return ms;
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

/** A compiled `console.log("hi")`, built with this Bun and the flags scripts/build.ts uses. */
async function buildHelloWorld(dir: string): Promise<string> {
  const src = join(dir, "hello.ts");
  const out = join(dir, "hello");
  writeFileSync(src, 'console.log("hi");\n');
  const r = await Bun.build({ entrypoints: [src], compile: { outfile: out, autoloadDotenv: false, autoloadBunfig: false }, minify: true, bytecode: true, format: "esm", sourcemap: "none" });
  if (!r.success) throw new BenchError(`building the hello-world floor failed: ${r.logs.map(String).join("; ")}`);
  return out;
}

/**
 * The floor of a command that asks the daemon once, and of `nexus exec ws -- true`: the hello-world
 * above, but it first sends one request over the daemon's socket with the runtime's own socket (as
 * the CLI does: src/runtime/unix-stream.ts), reads the whole answer and prints its length; nothing
 * else (no look at stdin or the environment, no parsing; it fails unless the answer has `expect`).
 * What it costs over hello-world is the runtime's own price for a request (the event loop's first
 * turn, a socket) plus the daemon's answer: for GET /api/v1/version, what every short command pays;
 * for the exec of `true` with the body and headers the CLI sends, what any client of this daemon
 * pays for that exec.
 */
async function buildRequestFloor(dir: string, name: string, socket: string, request: string, expect: string): Promise<string> {
  const src = join(dir, `${name}.ts`);
  const out = join(dir, name);
  writeFileSync(
    src,
    `let answer = "";
await new Promise<void>((done) => {
  Bun.connect({ unix: ${JSON.stringify(socket)}, socket: {
    open(s) { s.write(${JSON.stringify(request)}); },
    data(_s, d) { answer += d.toString(); },
    close() { done(); },
    error() { done(); },
  } });
});
console.log(answer.length);
process.exit(answer.includes(${JSON.stringify(expect)}) ? 0 : 1);
`,
  );
  const r = await Bun.build({ entrypoints: [src], compile: { outfile: out, autoloadDotenv: false, autoloadBunfig: false }, minify: true, bytecode: true, format: "esm", sourcemap: "none" });
  if (!r.success) throw new BenchError(`building the request floor ${name} failed: ${r.logs.map(String).join("; ")}`);
  return out;
}

/** The request's text as the CLI writes it (src/runtime/http1.ts requestOf), for the floors above: ASCII, so text. */
function requestText(opts: { method: string; path: string; headers: Record<string, string>; body?: string }): string {
  const request = requestOf(opts);
  if (typeof request !== "string") throw new BenchError(`the floor's request to ${opts.path} is not ASCII`);
  return request;
}

function machineInfo(): string[] {
  const docker = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" });
  const nproc = spawnSync("nproc", [], { encoding: "utf8" });
  return [
    `nproc           ${nproc.status === 0 ? nproc.stdout.trim() : availableParallelism()}`,
    `cpu             ${cpus()[0]?.model ?? "?"}`,
    `kernel          ${process.platform} ${release()} ${process.arch}`,
    `docker server   ${docker.status === 0 ? docker.stdout.trim() : `? (${(docker.stderr || docker.error?.message || "").trim()})`}`,
    `bench runtime   bun ${Bun.version}`,
  ];
}

async function main(): Promise<number> {
  if (!existsSync(NEXUS)) {
    process.stderr.write(`bench: ${NEXUS} does not exist; run 'npm run build' first\n`);
    return 2;
  }
  const runs = parseRuns();
  SETTLE_MS = parseSettle();
  // Stop at the next run and clean up (a terminal's Ctrl-C also reaches the running child, whose failure stops it).
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (interrupted = true));

  const home = mkdtempSync(join(tmpdir(), "nexus-bench-home-"));
  const repoDir = mkdtempSync(join(tmpdir(), "nexus-bench-repo-"));
  const env: NodeJS.ProcessEnv = { ...process.env, NEXUS_HOME: home };
  delete env.NEXUS_URL;
  delete env.NEXUS_TOKEN;
  const ws = `bench-${process.pid}`;
  const instance = instanceId(home);
  let created = false;
  let failed = false;

  try {
    const version = run(NEXUS, ["version"], { env }).stdout.split("\n")[0];
    const gitEnv = { ...env, GIT_AUTHOR_NAME: "Nexus Bench", GIT_AUTHOR_EMAIL: "bench@nexus.invalid", GIT_COMMITTER_NAME: "Nexus Bench", GIT_COMMITTER_EMAIL: "bench@nexus.invalid" };
    run("git", ["init", "-q", "-b", "main"], { cwd: repoDir, env: gitEnv });
    writeFileSync(join(repoDir, "README.md"), "# bench\n");
    run("git", ["add", "README.md"], { cwd: repoDir, env: gitEnv });
    run("git", ["commit", "-q", "-m", "initial"], { cwd: repoDir, env: gitEnv });

    process.stderr.write(`bench: creating workspace ${ws} (NEXUS_HOME ${home})\n`);
    const createStart = performance.now();
    created = true; // from here on, destroy it (even a create cut short: its rollback may be incomplete)
    run(NEXUS, ["create", ws], { cwd: repoDir, env, timeoutMs: 600_000 });
    const createMs = performance.now() - createStart;

    const ps = run("docker", ["ps", "-q", "--filter", `label=dev.nexus.workspace.name=${ws}`, "--filter", `label=dev.nexus.instance=${instance}`]);
    const ids = ps.stdout.split("\n").filter(Boolean);
    if (ids.length !== 1) throw new BenchError(`expected one running container for ${ws} (instance ${instance}), found ${ids.length}`);
    const container = ids[0]!;
    const sshConfig = join(home, "ssh_config");
    if (!readFileSync(sshConfig, "utf8").includes(`Host nexus-${ws}`)) throw new BenchError(`${sshConfig} has no 'Host nexus-${ws}' entry`);

    const hello = await buildHelloWorld(home);
    const socket = join(home, "daemon.sock");
    // The requests the CLI sends (src/cli/instant.ts, src/cli/exec-lane.ts), with its own headers and body, less the expected build.
    const requestFloor = await buildRequestFloor(home, "hello-request", socket, requestText({ method: "GET", path: "/api/v1/version", headers: requestHeaders({ accept: "application/json" }) }), '"version"');
    const execFloor = await buildRequestFloor(
      home,
      "hello-exec",
      socket,
      requestText({ method: "POST", path: `/api/v1/workspaces/${encodeURIComponent(ws)}/exec`, headers: requestHeaders({ accept: "application/x-ndjson", contentType: "application/json" }), body: execBody("true", [], 0, undefined) }),
      '"exitCode":0',
    );
    const kinds = [
      { label: "nexus exec", cmd: NEXUS, args: ["exec", ws, "--", "true"] },
      { label: "docker exec", cmd: "docker", args: ["exec", container, "true"] },
      // A new connection every time: no multiplexing, even if some config asked for it.
      { label: "ssh (fresh)", cmd: "ssh", args: ["-F", sshConfig, "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", `nexus-${ws}`, "true"] },
      // The floor: the runtime's own start, compiled with the same Bun and flags as nexus.
      { label: "hello-world", cmd: hello, args: [] },
      { label: "nexus --help", cmd: NEXUS, args: ["--help"] },
      { label: "nexus version", cmd: NEXUS, args: ["version"] },
      { label: "nexus list", cmd: NEXUS, args: ["list"] },
      // The floor of a command that asks the daemon: hello-world plus one request on its socket.
      { label: "hello+request", cmd: requestFloor, args: [] },
      // The floor of exec: hello-world plus that exec's request and answer, nothing else.
      { label: "hello+exec", cmd: execFloor, args: [] },
    ] as const;

    process.stderr.write(`bench: ${WARMUPS} warm-ups, then ${runs} timed runs of each (interleaved)\n`);
    for (let i = 0; i < WARMUPS; i++) for (const k of kinds) await timed(k.cmd, k.args, env);
    const samples = kinds.map(() => [] as number[]);
    // Round-robin, so that drift on the machine (other load, caches) hits every command alike.
    for (let i = 0; i < runs; i++) for (const [j, k] of kinds.entries()) samples[j]!.push(await timed(k.cmd, k.args, env));

    // BENCH_SPLIT=0: no split (a build older than the exec agent, whose workspace cannot start one).
    const split = SPLIT ? await execSplit({ home, ws, sshConfig, runs, container }) : undefined;
    const listTrip = await listRoundTrip(home, runs);
    const st = samples.map(stats);
    const f = (ms: number) => ms.toFixed(1).padStart(8);
    const lines = [
      "",
      `nexus exec benchmark — ${version}`,
      ...machineInfo(),
      `workspace       ${ws} (container ${container.slice(0, 12)}, created in ${(createMs / 1000).toFixed(2)} s)`,
      `runs            ${runs} timed per command, after ${WARMUPS} warm-ups, each after a ${SETTLE_MS} ms pause; command: true`,
      `exec path       ${agentOff ? "an SSH session per command (NEXUS_EXEC_AGENT=0)" : "the exec agent (its SSH session only until it answers)"}`,
      `load average    ${loadavg().map((l) => l.toFixed(2)).join(" ")} (at the end)`,
      "",
      `${"command".padEnd(14)}${"median".padStart(8)}${"p90".padStart(8)}${"min".padStart(8)}   (ms)`,
      ...kinds.map((k, j) => `${k.label.padEnd(14)}${f(st[j]!.median)}${f(st[j]!.p90)}${f(st[j]!.min)}`),
      "",
    ];
    const ratio = st[0]!.median / st[1]!.median;
    lines.push(`median(nexus exec) / median(docker exec) = ${ratio.toFixed(3)}   target <= ${TARGET_RATIO}   ${ratio <= TARGET_RATIO ? "PASS" : "MISS"}`);
    lines.push(`median(nexus exec) / median(ssh fresh)   = ${(st[0]!.median / st[2]!.median).toFixed(3)}`);
    // Above the floor: what each command costs beyond the runtime's own start (list and exec: + a round trip).
    const floor = st[3]!.median;
    for (const [j, budget] of [[0, 10], [4, 5], [5, 5], [6, 5]] as const) {
      const over = st[j]!.median - floor;
      const ratio = st[j]!.median / floor;
      // list's budget has one round trip more: its request, timed from this process on a warm client.
      const allowed = j === 6 ? budget + listTrip : budget;
      lines.push(`${kinds[j]!.label.padEnd(14)} - hello-world = ${over.toFixed(1).padStart(6)} ms (${ratio.toFixed(2)}x)   target <= ${budget} ms${j === 6 ? ` + one round trip (${listTrip.toFixed(1)} ms)` : ""}   ${over <= allowed ? "PASS" : "MISS"}`);
    }
    // The runtime's own price for a first request, and what each command that asks the daemon costs beyond it.
    const requestOver = st[7]!.median - floor;
    lines.push("", `hello+request  - hello-world = ${requestOver.toFixed(1).padStart(6)} ms   (the runtime's first request on the daemon's socket, and the daemon's answer to GET /api/v1/version: any command that asks the daemon pays it)`);
    for (const j of [5, 6] as const) lines.push(`${kinds[j]!.label.padEnd(14)} - hello+request = ${(st[j]!.median - st[7]!.median).toFixed(1).padStart(6)} ms`);
    lines.push(`hello+exec     - hello-world = ${(st[8]!.median - floor).toFixed(1).padStart(6)} ms   (the least any client pays for this exec: the runtime's request, the daemon's and the workspace's part)`);
    lines.push(`nexus exec     - hello+exec  = ${(st[0]!.median - st[8]!.median).toFixed(1).padStart(6)} ms   (the CLI's own part: its code, the look at stdin, the answer's events)`);
    // Where nexus exec's time goes: its parts measured apart, in pairs, in this same run.
    if (split) {
      const cliPart = st[0]!.median - split.request;
      const inside = agentOff ? split.channel : split.agent;
      lines.push(
        "",
        "where nexus exec's time goes (medians; the three in-process figures interleaved):",
        `  exec agent in the workspace    ${f(split.agent)} ms  (a request on a channel to its socket opened ahead and kept, as the daemon keeps one, on a pooled connection, from this process: fork, exec true)${agentOff ? "  [not the path now]" : ""}`,
        `  SSH session in the workspace   ${f(split.channel)} ms  (a session channel on a pooled connection, from this process: sshd, PAM, the shell, true)${agentOff ? "" : "  [the fallback]"}`,
        `  agent / SSH session            ${(split.agent / split.channel).toFixed(3)}   (pairwise median of the ratio ${split.agentPaired.toFixed(3)})`,
        `  daemon's own work              ${f(split.request - inside)} ms  (the CLI's request from this process minus the path it takes; pairwise median ${(agentOff ? split.daemonPaired : split.daemonPairedAgent).toFixed(1)})`,
        `  CLI process, start to exit     ${f(cliPart)} ms  (nexus exec minus that request), of which the runtime's own start ${f(floor)} ms (hello-world)`,
      );
    }
    process.stdout.write(lines.join("\n") + "\n");
  } catch (err) {
    failed = true;
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
  } finally {
    failed = cleanup({ created, ws, env, home, repoDir, instance }) || failed;
  }
  return failed ? 1 : 0;
}

/**
 * The daemon's part and the workspace's part of an exec, measured apart from the CLI's start: the
 * request `nexus exec ws -- true` sends, from this process over the daemon's socket; the same
 * command on a session channel of one pooled SSH connection made by this process (no daemon); and
 * over the workspace's exec agent, on a channel to its socket on that connection. Interleaved.
 */
async function execSplit(o: { home: string; ws: string; sshConfig: string; runs: number; container: string }): Promise<{ request: number; channel: number; agent: number; daemonPaired: number; daemonPairedAgent: number; agentPaired: number }> {
  const port = Number(/^Host nexus-\S+[\s\S]*?^\s*Port\s+(\d+)/m.exec(readFileSync(o.sshConfig, "utf8"))?.[1]);
  if (!Number.isInteger(port)) throw new BenchError(`no Port in ${o.sshConfig}`);
  const socket = await agentSocket(o.container);
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
    client.connect({ host: "127.0.0.1", port, username: "nexus", privateKey: readFileSync(join(o.home, "id_ed25519"), "utf8"), readyTimeout: 30_000 });
  });
  const channel = async () => {
    const start = performance.now();
    await new Promise<void>((resolve, reject) =>
      client.exec(`export NEXUS_EXEC_ID=bench; cd /workspace && exec true`, (err, ch) => {
        if (err) return reject(err);
        ch.on("close", () => resolve());
        ch.resume();
        ch.stderr.resume();
      }),
    );
    return performance.now() - start;
  };
  // What the daemon sends the agent for `nexus exec ws -- true` (src/ssh/exec-agent-frames.ts): the request, end of stdin; then until the exit frame.
  const frame = (type: string, body: string) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, "latin1");
    head.writeUInt32BE(Buffer.byteLength(body), 1);
    return Buffer.concat([head, Buffer.from(body)]);
  };
  // As the daemon does (src/ssh/exec-agent.ts), the channel is opened ahead, untimed, and kept by the
  // agent for the next request (stdin's end goes with the request); what is timed is the request on
  // it, to the exit frame. A channel the agent did not keep is closed and the next one opened.
  const openAgentChannel = () =>
    new Promise<ssh2.ClientChannel>((resolve, reject) => client.openssh_forwardOutStreamLocal(socket, (err, ch) => (err ? reject(err) : resolve(ch))));
  let ahead: ssh2.ClientChannel | undefined;
  const agent = async () => {
    const ch = ahead ?? (await openAgentChannel());
    ahead = undefined;
    const start = performance.now();
    const kept = await new Promise<boolean>((resolve, reject) => {
      let seen = Buffer.alloc(0);
      const onClose = () => reject(new BenchError("the agent closed the channel before the exit"));
      const onData = (b: Buffer) => {
        seen = Buffer.concat([seen, b]);
        // Frames until the exit frame (type x): its status must be exit code 0.
        while (seen.length >= 5 && seen.length >= 5 + seen.readUInt32BE(1)) {
          const type = String.fromCharCode(seen[0]!);
          const body = seen.subarray(5, 5 + seen.readUInt32BE(1)).toString();
          seen = seen.subarray(5 + seen.readUInt32BE(1));
          if (type !== "x") continue;
          ch.off("data", onData);
          ch.off("close", onClose);
          const status = JSON.parse(body) as { code?: number; keep?: boolean };
          if (status.code === 0) resolve(status.keep === true);
          else reject(new BenchError(`the agent answered ${body}`));
        }
      };
      ch.on("data", onData);
      ch.on("close", onClose);
      const request = JSON.stringify({ line: "export NEXUS_EXEC_ID=bench; cd /workspace && exec true", tag: "bench", plain: { argv: ["true"], cwd: "/workspace", env: {} }, keep: true });
      ch.write(Buffer.concat([frame("R", request), frame("E", "")]));
    });
    const ms = performance.now() - start;
    if (kept) ahead = ch;
    else {
      const closed = new Promise<void>((resolve) => ch.once("close", () => resolve()));
      ch.end();
      await closed;
      ahead = await openAgentChannel();
    }
    return ms;
  };
  const request = async () => {
    const start = performance.now();
    const res = await fetch(`http://nexus/api/v1/workspaces/${encodeURIComponent(o.ws)}/exec`, {
      method: "POST",
      unix: join(o.home, "daemon.sock"),
      headers: { accept: "application/x-ndjson", "content-type": "application/json", "x-nexus-client": "cli" },
      body: JSON.stringify({ command: "true", args: [] }),
    } as RequestInit);
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"exitCode":0')) throw new BenchError(`exec request answered ${res.status}: ${text.slice(0, 200)}`);
    return performance.now() - start;
  };
  try {
    for (let i = 0; i < WARMUPS; i++) {
      await request();
      await channel();
      await agent();
    }
    const req: number[] = [];
    const ch: number[] = [];
    const ag: number[] = [];
    const diff: number[] = [];
    const diffAgent: number[] = [];
    const ratio: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const r = await request();
      const c = await channel();
      const a = await agent();
      req.push(r);
      ch.push(c);
      ag.push(a);
      diff.push(r - c);
      diffAgent.push(r - a);
      ratio.push(a / c);
      if (interrupted) throw new BenchError("interrupted");
    }
    return { request: stats(req).median, channel: stats(ch).median, agent: stats(ag).median, daemonPaired: stats(diff).median, daemonPairedAgent: stats(diffAgent).median, agentPaired: stats(ratio).median };
  } finally {
    client.end();
  }
}

/**
 * One round trip of `nexus list`'s request (GET /api/v1/workspaces over the daemon's socket), timed
 * from this process after warm-ups, so what is timed is the socket, the daemon's answer and its
 * parsing, not a client's first start: the median of `runs`.
 */
async function listRoundTrip(home: string, runs: number): Promise<number> {
  const once = async () => {
    const start = performance.now();
    const res = await fetch("http://nexus/api/v1/workspaces", { unix: join(home, "daemon.sock"), headers: { accept: "application/json", "x-nexus-client": "cli" } } as RequestInit);
    const body = (await res.json()) as { workspaces?: unknown[] };
    if (res.status !== 200 || !Array.isArray(body.workspaces)) throw new BenchError(`list request answered ${res.status}`);
    return performance.now() - start;
  };
  for (let i = 0; i < WARMUPS; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  return stats(times).median;
}

/**
 * The socket of the workspace's exec agent (the daemon starts it on the first exec; with
 * NEXUS_EXEC_AGENT=0 the bench starts one itself, so both paths are measured in every run).
 */
async function agentSocket(container: string): Promise<string> {
  const find = () => {
    const r = spawnSync("docker", ["exec", container, "sh", "-c", 'p=$(cut -d" " -f1 /run/nexus/secrets/exec-agent/agent.pid 2>/dev/null) && tr "\\0" " " < /proc/$p/cmdline'], { encoding: "utf8" });
    return /python3 - start (\S+\.sock)/.exec(r.stdout ?? "")?.[1];
  };
  const deadline = Date.now() + 60_000;
  let found = find();
  if (!found && agentOff) {
    const user = spawnSync("docker", ["exec", container, "sh", "-c", "stat -c %u /run/nexus/secrets"], { encoding: "utf8" }).stdout.trim();
    const source = EXEC_AGENT_PY;
    // As the workspace user, from a login-like environment (the figure is the agent's, not the login's).
    spawnSync("docker", ["exec", "-i", "-u", user, "-w", "/", container, "python3", "-", "start", "/run/nexus/secrets/exec-agent/agent-bench.sock"], { input: source, encoding: "utf8" });
  }
  while (!(found = find()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (!found) throw new BenchError("the workspace's exec agent did not come up within 60 s");
  return found;
}

/** Destroys the workspace, stops the daemon and removes the temp dirs; returns true when something failed. */
function cleanup(c: { created: boolean; ws: string; env: NodeJS.ProcessEnv; home: string; repoDir: string; instance: string }): boolean {
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
  if (c.created) {
    attempt(`nexus destroy ${c.ws}`, () => {
      const r = spawnSync(NEXUS, ["destroy", c.ws, "--force"], { env: c.env, encoding: "utf8", timeout: 120_000 });
      // A create that failed was rolled back: nothing to destroy is not a cleanup failure.
      if (r.status !== 0 && !/WORKSPACE_NOT_FOUND/.test(`${r.stderr}${r.stdout}`)) {
        throw new Error(`${r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`)} ${`${r.stderr ?? ""}`.trim()}`);
      }
    });
  }
  attempt("nexus daemon stop", () => run(NEXUS, ["daemon", "stop"], { env: c.env, timeoutMs: 30_000 }));
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
