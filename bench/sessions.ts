// Sessions: attach → first screen, `sessions logs --tail 50`, and `exec --detach` start, each beside
// `docker exec` doing the same thing to the same tmux server in the same run. Prints figures; never
// fails on a miss (goal: attach ≤ 30 ms).
//
//   npm run build && bun bench/sessions.ts          (BENCH_RUNS=N timed runs of each, default 20)
//
// attach is timed twice: the whole CLI (`nexus sessions attach` in a PTY, from spawn to the screen's
// last line on it; `docker exec -it … tmux attach` the same way) and the daemon alone (a WebSocket
// client already connected: session.attach → the screen's last line). Everything it makes (NEXUS_HOME,
// repository, workspace, daemon) is temporary and removed at the end, even on failure.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { instanceId } from "../src/docker/labels.ts";

const ROOT = join(import.meta.dir, "..");
const NEXUS = join(ROOT, "dist", "nexus");
const WARMUPS = 2;
const RUNS = Number(process.env.BENCH_RUNS || 20);
const GOAL_ATTACH_MS = 30;
/** The last line the session printed: the screen is there when it shows. */
const MARK = "bench-screen-ready";

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: "utf8", timeout: opts.timeoutMs ?? 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status}`} ${r.stderr ?? ""}`.trim());
  return r.stdout;
}

function timedSync(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t = performance.now();
  run(cmd, args, { env });
  return performance.now() - t;
}

/** Spawns `argv` on a PTY (script(1)) and resolves with the ms until `MARK` shows on it; then ends it. */
function timeToScreen(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn("script", ["-qfc", argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" "), "/dev/null"], { env: { ...env, TERM: "xterm-256color" }, stdio: ["pipe", "pipe", "ignore"] });
    let seen = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")}: no screen within 20 s; got ${JSON.stringify(seen.slice(-300))}`));
    }, 20_000);
    child.stdout.on("data", (b: Buffer) => {
      seen += b.toString("utf8");
      if (seen.includes(MARK)) {
        const ms = performance.now() - t;
        clearTimeout(timer);
        child.once("exit", () => resolve(ms));
        child.kill("SIGKILL"); // the client goes away; the session stays
      }
    });
  });
}

/** A WebSocket client of the daemon, authenticated, reused for every daemon-side attach. */
async function wsClient(home: string): Promise<{ attach(id: string): Promise<number>; close(): void }> {
  const ws = new WebSocket(`ws+unix://${join(home, "daemon.sock")}:/v1/ws`);
  await new Promise<void>((r, j) => (ws.once("open", () => r()), ws.once("error", j)));
  const waiters = new Map<string, (m: any) => void>();
  ws.on("message", (raw) => {
    const m = JSON.parse(String(raw));
    waiters.get(m.id)?.(m);
  });
  ws.send(JSON.stringify({ id: "auth", type: "auth", token: readFileSync(join(home, "token"), "utf8").trim() }));
  await new Promise<void>((r) => waiters.set("auth", () => r()));
  let seq = 0;
  return {
    attach: (id) =>
      new Promise((resolve) => {
        const req = `a${++seq}`;
        const t = performance.now();
        let text = "";
        let ms = 0;
        waiters.set(req, (m) => {
          if (m.type === "session.output" && !ms) {
            text += m.payload.data;
            if (text.includes(MARK)) {
              ms = performance.now() - t;
              ws.send(JSON.stringify({ id: `d${seq}`, type: "session.detach", payload: { sessionId: id } }));
            }
          } else if ("success" in m) {
            waiters.delete(req);
            resolve(ms);
          }
        });
        ws.send(JSON.stringify({ id: req, type: "session.attach", payload: { sessionId: id, cols: 120, rows: 40, scrollback: 0 } }));
      }),
    close: () => ws.close(),
  };
}

function stats(samples: number[]): { median: number; p90: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, p90: s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!, min: s[0]! };
}

async function main(): Promise<number> {
  if (!existsSync(NEXUS)) {
    process.stderr.write(`bench: ${NEXUS} is missing; run 'npm run build' first\n`);
    return 2;
  }
  const home = mkdtempSync(join(tmpdir(), "nexus-bench-ses-"));
  const repo = mkdtempSync(join(tmpdir(), "nexus-bench-ses-repo-"));
  const env: NodeJS.ProcessEnv = { ...process.env, NEXUS_HOME: home };
  delete env.NEXUS_URL;
  delete env.NEXUS_TOKEN;
  const ws = `bses-${process.pid}`;
  let failed = false;
  try {
    const gitEnv = { ...env, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@x.invalid", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@x.invalid" };
    run("git", ["init", "-q", "-b", "main"], { cwd: repo, env: gitEnv });
    writeFileSync(join(repo, "README.md"), "# bench\n");
    run("git", ["add", "."], { cwd: repo, env: gitEnv });
    run("git", ["commit", "-qm", "i"], { cwd: repo, env: gitEnv });
    process.stderr.write(`bench: creating workspace ${ws}\n`);
    run(NEXUS, ["create", ws], { cwd: repo, env, timeoutMs: 600_000 });
    const container = run("docker", ["ps", "-q", "--filter", `label=dev.nexus.workspace.name=${ws}`, "--filter", `label=dev.nexus.instance=${instanceId(home)}`]).trim();
    if (!container || container.includes("\n")) throw new Error(`expected one container for ${ws}`);
    // A session with 500 lines of scrollback and the marker as its last line.
    const id = run(NEXUS, ["exec", "--detach", ws, "--", "sh", "-c", `seq 1 500; echo ${MARK}; exec sleep 100000`], { env }).trim();
    const deadline = Date.now() + 30_000;
    while (!run(NEXUS, ["sessions", "logs", id, "--tail", "1"], { env }).includes(MARK)) {
      if (Date.now() > deadline) throw new Error("the bench session printed nothing");
    }
    const dx = (...args: string[]) => ["docker", "exec", "-u", "nexus", ...args];
    const client = await wsClient(home);
    let n = 0;
    const kinds: Array<{ label: string; time: () => Promise<number> | number }> = [
      { label: "attach: nexus sessions attach (CLI, PTY)", time: () => timeToScreen([NEXUS, "sessions", "attach", id], env) },
      { label: "attach: docker exec -it tmux attach (PTY)", time: () => timeToScreen([...dx("-it", container, "tmux", "-L", "nexus", "-u", "attach", "-t", id)], env) },
      { label: "attach: daemon only (WS session.attach)", time: () => client.attach(id) },
      { label: "logs --tail 50: nexus sessions logs", time: () => timedSync(NEXUS, ["sessions", "logs", id, "--tail", "50"], env) },
      { label: "logs --tail 50: docker exec capture-pane", time: () => timedSync("docker", dx(container, "tmux", "-L", "nexus", "capture-pane", "-p", "-J", "-t", `${id}:`, "-S", "-50").slice(1), env) },
      { label: "start: nexus exec --detach -- true", time: () => timedSync(NEXUS, ["exec", "--detach", ws, "--", "true"], env) },
      { label: "start: docker exec tmux new-session -d", time: () => timedSync("docker", dx(container, "tmux", "-L", "nexus", "new-session", "-d", "-s", `bench-${++n}`, "true").slice(1), env) },
    ];
    process.stderr.write(`bench: ${WARMUPS} warm-ups, then ${RUNS} timed runs of each (interleaved)\n`);
    for (let i = 0; i < WARMUPS; i++) for (const k of kinds) await k.time();
    const samples = kinds.map(() => [] as number[]);
    for (let i = 0; i < RUNS; i++) for (const [j, k] of kinds.entries()) samples[j]!.push(await k.time());
    client.close();
    const st = samples.map(stats);
    const f = (ms: number) => ms.toFixed(1).padStart(8);
    const width = Math.max(...kinds.map((k) => k.label.length)) + 2;
    const lines = [
      "",
      `sessions benchmark — ${run(NEXUS, ["version"], { env }).split("\n")[0]}; nproc ${run("nproc", []).trim()}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
      `runs: ${RUNS} timed per row after ${WARMUPS} warm-ups, interleaved; session with 500 lines of scrollback`,
      "",
      `${"".padEnd(width)}${"median".padStart(8)}${"p90".padStart(8)}${"min".padStart(8)}   (ms)`,
      ...kinds.map((k, j) => `${k.label.padEnd(width)}${f(st[j]!.median)}${f(st[j]!.p90)}${f(st[j]!.min)}`),
      "",
      `attach, daemon only: median ${st[2]!.median.toFixed(1)} ms   goal <= ${GOAL_ATTACH_MS} ms   ${st[2]!.median <= GOAL_ATTACH_MS ? "PASS" : "MISS"}`,
      `attach, whole CLI / docker exec -it: ${(st[0]!.median / st[1]!.median).toFixed(2)}`,
      `logs --tail 50 / docker exec: ${(st[3]!.median / st[4]!.median).toFixed(2)}`,
      `exec --detach / docker exec: ${(st[5]!.median / st[6]!.median).toFixed(2)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } catch (err) {
    failed = true;
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  } finally {
    spawnSync(NEXUS, ["destroy", ws, "--force"], { env, timeout: 120_000 });
    spawnSync(NEXUS, ["daemon", "stop"], { env, timeout: 30_000 });
    const left = spawnSync("docker", ["ps", "-aq", "--filter", `label=dev.nexus.instance=${instanceId(home)}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    if (left.length) spawnSync("docker", ["rm", "-f", ...left]);
    const vols = spawnSync("docker", ["volume", "ls", "-q", "--filter", `label=dev.nexus.instance=${instanceId(home)}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    if (vols.length) spawnSync("docker", ["volume", "rm", "-f", ...vols]);
    rmSync(home, { recursive: true, force: true });
    rmSync(repo, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

process.exit(await main());
