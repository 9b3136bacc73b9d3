// Back-pressure beyond exec (backpressure.test.ts), against the compiled daemon, real Docker and sshd:
// a reader that stops reading stops the source in the workspace (its writes block behind the SSH
// window) instead of the daemon queueing what it reads; on reading again it gets all of it, byte for
// byte. Service logs with follow (REST NDJSON, gRPC GetServiceLogs, `nexus services logs -f` into a
// pipe): the source is the log's reader (nexus-supervise logs); gRPC StreamFile: the file's `cat`.
// A reader that goes away while the source waits still stops it. A WebSocket terminal attach
// (session.attach) that stops reading during a flood has the daemon stop taking its terminal's
// output from the workspace (its SSH connection receives nothing more), instead of queueing the
// screen until it closes the connection 8 MiB behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { TMUX } from "../../src/core/sessions/tmux.ts";
import { BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { requireE2E } from "../helpers/cli.ts";

slowTests();

const MiB = 1024 * 1024;
/**
 * Log lines the generator prints per run: 100000 of 128 digits, 15.6 MB of log with the supervisor's
 * timestamps (about 22 MB as NDJSON). A follower reads the kept log without loss while it is at most
 * one rotation (8 MiB) behind, so a run stays under two log files.
 */
const LOG_LINES = 100_000;
const logLine = (i: number) => String(i).padStart(128, "0");
const LOG_SHA = (() => {
  const h = createHash("sha256");
  for (let i = 1; i <= LOG_LINES; i += 10_000) h.update(Array.from({ length: Math.min(10_000, LOG_LINES - i + 1) }, (_, k) => logLine(i + k) + "\n").join(""));
  return h.digest("hex");
})();
/** Log bytes of one run: `<24-char timestamp> O <line>\n`. */
const LOG_RUN_BYTES = LOG_LINES * (24 + 3 + 128 + 1);

/** The file StreamFile reads: `seq 1 6500000`, 50.9 MB. */
const SEQ_LAST = 6_500_000;
const FILE = (() => {
  const parts: string[] = [];
  for (let i = 1; i <= SEQ_LAST; i += 100_000) parts.push(Array.from({ length: Math.min(100_000, SEQ_LAST - i + 1) }, (_, k) => i + k).join("\n") + "\n");
  return Buffer.from(parts.join(""));
})();
const FILE_SHA = createHash("sha256").update(FILE).digest("hex");

// Each surface's service prints LOG_LINES lines each time /tmp/go-<name> appears, then waits again.
const GEN = `#!/bin/sh
while :; do
  while [ ! -e "/tmp/go-$1" ]; do sleep 0.1; done
  rm -f "/tmp/go-$1"
  python3 -c 'import sys
w = sys.stdout.write
for i in range(1, ${LOG_LINES + 1}): w("%0128d\\n" % i)
sys.stdout.flush()'
done
`;
const SERVICES = ["rest", "grpc", "cli"];
const YAML = "services:\n" + SERVICES.map((s) => `  ${s}:\n    command: sh /workspace/gen.sh ${s}\n`).join("");

const root = tempDir("backpressure-sources");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "gen.sh": GEN, ".nexus/workspace.yaml": YAML });
const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
let daemon: TestDaemon;
let client: grpc.Client & Record<string, any>;

function rest(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${daemon.port}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${daemon.token()}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function sh(script: string, ...args: string[]): Promise<string> {
  const r = await rest("POST", "/api/v1/workspaces/bps/exec", { command: "sh", args: ["-c", script, "sh", ...args] });
  const body = (await r.json()) as { stdout: string; exitCode: number };
  expect(body.exitCode).toBe(0);
  return body.stdout;
}

/**
 * A source in the workspace, found by its command line: the bytes it has written so far, or
 * undefined when none runs; and whether it is behind what it reads (its file's read position before
 * the file's end, or still on a log file rotated away). The patterns are quoted apart so the probing
 * script's own command line does not match.
 */
interface Source {
  what: string;
  written(): Promise<number | undefined>;
  behind(): Promise<boolean>;
}
const FIND = (pattern: string, then: string) => `for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in ${pattern}) ${then};; esac; done`;
/** Per open file of the source under $2: its path, read position, and the size of the file now at $3. */
const POSITIONS = `for fd in $p/fd/*; do l=$(readlink $fd); case "$l" in "$2"*) echo "$l $(awk '/^pos:/ {print $2}' $p/fdinfo/\${fd##*/}) $(stat -c %s "$3")";; esac; done`;
async function behindIn(pattern: string, arg: string, under: string, current: string): Promise<boolean> {
  const rows = (await sh(FIND(pattern, POSITIONS), arg, under, current)).trim().split("\n").filter(Boolean);
  return rows.some((row) => {
    const [path, pos, size] = row.split(" ");
    return path !== current || Number(pos) < Number(size);
  });
}
/** A service's log reader: also whether it holds the log open at its end, where a follower with tail 0 starts. */
interface LogSource extends Source {
  atEnd(): Promise<boolean>;
}
const logReader = (service: string): LogSource => {
  const pattern = `*nexus-super"vise logs $1 "*`;
  const log = `/home/nexus/.local/state/nexus/services/${service}/service.log`;
  return {
    what: `the log reader of ${service}`,
    written: async () => first(await sh(FIND(pattern, `awk '/^wchar/ {print $2}' $p/io`), service)),
    behind: () => behindIn(pattern, service, log, log),
    atEnd: async () => (await sh(FIND(pattern, POSITIONS), service, log, log)).split("\n").some((row) => {
      const [path, pos, size] = row.split(" ");
      return path === log && pos !== "" && Number(pos) === Number(size);
    }),
  };
};
const fileReader: Source = {
  what: "the file's cat",
  written: async () => first(await sh(FIND(`"cat -- /workspace/big."*`, `awk '/^wchar/ {print $2}' $p/io`))),
  behind: () => behindIn(`"cat -- /workspace/big."*`, "", "/workspace/big.txt", "/workspace/big.txt"),
};
function first(out: string): number | undefined {
  const t = out.trim();
  return t === "" ? undefined : Number(t.split("\n")[0]);
}

/** A reader the test can hold: `received` counts the payload bytes that came so far. */
interface SlowReader {
  received(): number;
  pause(): void;
  resume(): void;
  /** Resolves at the end (a follower: once it has every line of the run, then it goes away): the bytes, or the error answered. */
  done: Promise<{ output: Buffer; error?: string }>;
  disconnect(): void;
}

/** Service log lines to bytes: a follower never ends by itself, so the reader leaves after the run's last line. */
function lineCollector(leave: () => void) {
  const parts: string[] = [];
  let size = 0;
  let count = 0;
  return {
    add(message: string) {
      parts.push(message + "\n");
      size += message.length + 1;
      if (++count === LOG_LINES) leave();
    },
    size: () => size,
    complete: () => count >= LOG_LINES,
    output: () => Buffer.from(parts.join("")),
  };
}

/**
 * The events of an NDJSON answer of the daemon, over its unix socket, read only while not paused: a
 * reader that stalls. Over the unix socket because loopback TCP would hold ~10 MiB of the stream in its
 * buffers, outside the daemon and before the source in the workspace is held.
 */
function pausableEvents(path: string, signal: AbortSignal, onEvent: (e: any) => void): { done: Promise<void>; pause(): void; resume(): void } {
  let paused = false;
  let wake: (() => void) | undefined;
  const done = (async () => {
    const res = await fetch(`http://nexus${path}`, { unix: join(home, "daemon.sock"), signal } as RequestInit);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      while (paused) await new Promise<void>((r) => (wake = r));
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const split = pending.split("\n");
      pending = split.pop()!;
      for (const line of split) if (line) onEvent(JSON.parse(line));
    }
  })();
  return {
    done,
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      wake?.();
    },
  };
}

function restLogs(service: string): SlowReader {
  const abort = new AbortController();
  const lines = lineCollector(() => abort.abort());
  let error: string | undefined;
  const events = pausableEvents(`/api/v1/workspaces/bps/services/${service}/logs?follow=true&tail=0`, abort.signal, (e) => {
    if (e.type === "log" && e.level === "info") lines.add(e.message);
    else if (e.type === "error") error = e.error.code;
  });
  const done = events.done
    .catch((err: unknown) => {
      if (!lines.complete() && !abort.signal.aborted) error = String(err);
    })
    .then(() => ({ output: lines.output(), ...(error ? { error } : {}) }));
  return {
    received: lines.size,
    pause: events.pause,
    resume: events.resume,
    done,
    disconnect: () => {
      abort.abort();
      events.resume();
    },
  };
}

function grpcLogs(service: string): SlowReader {
  const stream = client.GetServiceLogs({ workspaceId: "bps", serviceName: service, follow: true, tail: 0 }) as grpc.ClientReadableStream<any>;
  let left = false;
  const lines = lineCollector(() => {
    left = true;
    stream.cancel();
  });
  const done = new Promise<{ output: Buffer; error?: string }>((resolve) => {
    stream.on("data", (m) => {
      if (m.level === "info") lines.add(m.message);
    });
    stream.on("error", (e: grpc.ServiceError) => resolve({ output: lines.output(), ...(left && e.code === grpc.status.CANCELLED ? {} : { error: grpc.status[e.code] }) }));
    stream.on("end", () => resolve({ output: lines.output() }));
  });
  return { received: lines.size, pause: () => stream.pause(), resume: () => stream.resume(), done, disconnect: () => stream.cancel() };
}

/** `nexus services logs bps cli --tail 0 -f` into a pipe: `<timestamp> <message>` lines. */
function cliLogs(service: string): SlowReader {
  const child = spawn(BIN, ["services", "logs", "bps", service, "--tail", "0", "-f"], { env: { ...process.env, NEXUS_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
  let left = false;
  const lines = lineCollector(() => {
    left = true;
    child.kill("SIGKILL");
  });
  let pending = "";
  let stderr = "";
  child.stderr!.on("data", (b) => (stderr += b));
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => {
    pending += s;
    const split = pending.split("\n");
    pending = split.pop()!;
    for (const line of split) {
      const sp = line.indexOf(" ");
      const message = line.slice(sp + 1);
      if (/^\d{128}$/.test(message)) lines.add(message);
    }
  });
  const done = new Promise<{ output: Buffer; error?: string }>((resolve) => {
    child.on("close", (code) => resolve({ output: lines.output(), ...(left ? {} : { error: `exit ${code}: ${stderr}` }) }));
  });
  return { received: lines.size, pause: () => child.stdout!.pause(), resume: () => child.stdout!.resume(), done, disconnect: () => child.kill("SIGKILL") };
}

function grpcFile(): SlowReader {
  const stream = client.StreamFile({ workspaceId: "bps", path: "big.txt" }) as grpc.ClientReadableStream<any>;
  const parts: Buffer[] = [];
  let size = 0;
  let offsetsOk = true;
  let eof = false;
  const done = new Promise<{ output: Buffer; error?: string }>((resolve) => {
    stream.on("data", (m) => {
      if (Number(m.offset) !== size) offsetsOk = false;
      parts.push(m.data);
      size += m.data.length;
      if (m.eof) eof = true;
    });
    stream.on("error", (e: grpc.ServiceError) => resolve({ output: Buffer.concat(parts), error: grpc.status[e.code] }));
    stream.on("end", () => resolve({ output: Buffer.concat(parts), ...(offsetsOk && eof ? {} : { error: `offsets ${offsetsOk}, eof ${eof}` }) }));
  });
  return { received: () => size, pause: () => stream.pause(), resume: () => stream.resume(), done, disconnect: () => stream.cancel() };
}

/**
 * Reads a little, then stops reading until the source's writes have stopped too (its byte count
 * stands still between two looks): by then it must be far from done and still there.
 */
async function stall(surface: string, r: SlowReader, source: Source, total: number, bound: number): Promise<void> {
  await until(`${surface}: the first MiB`, () => r.received(), (n) => n >= MiB, { timeoutMs: 120_000, intervalMs: 20 });
  r.pause();
  let last = -1;
  const written = await until(
    `${surface}: ${source.what}'s writes to stand still`,
    async () => {
      const now = await source.written();
      const still = now !== undefined && now === last;
      last = now ?? -1;
      return { now, still };
    },
    (s) => s.still || s.now === undefined,
    { timeoutMs: 180_000, intervalMs: 300 },
  );
  console.log(`${surface}: stalled after ${(r.received() / MiB).toFixed(1)} MiB read; ${source.what} wrote ${((written.now ?? 0) / MiB).toFixed(1)} MiB of ${(total / MiB).toFixed(1)} MiB`);
  // Still there, and blocked far from done: without back-pressure it reads and writes all of it (the daemon queues).
  expect(written.now).toBeDefined();
  expect(written.now!).toBeLessThan(bound);
  expect(await source.behind()).toBe(true);
}

/**
 * The log reader holds the log at its end, then the service prints a run. A follower with tail 0
 * starts where the log ends when it opens it: a run begun as soon as its process is there (before
 * python has loaded it) lost its first lines, hundreds of them on a loaded machine.
 */
async function startRun(service: string, source: LogSource): Promise<void> {
  await until(`${source.what} to hold the log at its end`, () => source.atEnd(), Boolean, { timeoutMs: 60_000, intervalMs: 200 });
  await sh(`touch /tmp/go-$1`, service);
}

interface Path {
  surface: string;
  open(): SlowReader;
  source: Source;
  /** Starts what the reader reads, once it is open. */
  begin(): Promise<void>;
  sha: string;
  bytes: number;
  /** What the source writes in all, and the bound on what it may have written while the reader stalls. */
  total: number;
  bound: number;
}

const logPath = (surface: string, service: string, open: (s: string) => SlowReader): Path => ({
  surface,
  open: () => open(service),
  source: logReader(service),
  begin: () => startRun(service, logReader(service)),
  sha: LOG_SHA,
  bytes: LOG_LINES * 129,
  total: LOG_RUN_BYTES,
  // What fits between the log reader and a stalled client: the SSH window (2 MiB), the daemon's high-water
  // mark (1 MiB), loopback socket and client buffers (about 9 MiB in all seen here). Without back-pressure it
  // writes the whole run (14.9 MiB) while the client reads nothing.
  bound: 13 * MiB,
});
const PATHS = {
  restLogs: logPath("REST service logs", "rest", restLogs),
  grpcLogs: logPath("gRPC GetServiceLogs", "grpc", grpcLogs),
  cliLogs: logPath("nexus services logs -f", "cli", cliLogs),
  grpcFile: { surface: "gRPC StreamFile", open: grpcFile, source: fileReader, begin: async () => {}, sha: FILE_SHA, bytes: FILE.length, total: FILE.length, bound: 24 * MiB } satisfies Path,
};

async function readsAllAfterStalling(p: Path): Promise<void> {
  const r = p.open();
  try {
    await p.begin();
    await stall(p.surface, r, p.source, p.total, p.bound);
  } catch (err) {
    r.disconnect(); // its source would wait on, for the next test to count
    throw err;
  }
  r.resume();
  // A follower never ends by itself: it leaves once it has the run's last line. Lines lost (a log
  // reader skipping a rotated file) would keep it waiting, so the wait has a deadline of its own.
  let finished = false;
  void r.done.then(() => (finished = true));
  await until(`${p.surface}: all ${p.bytes} bytes`, () => finished, Boolean, { timeoutMs: 180_000, intervalMs: 100, detail: () => `${r.received()} bytes came` }).catch((err: unknown) => {
    r.disconnect();
    throw err;
  });
  const end = await r.done;
  expect(end.error).toBeUndefined();
  expect(end.output.length).toBe(p.bytes);
  expect(createHash("sha256").update(end.output).digest("hex")).toBe(p.sha);
  await until(`${p.surface}: ${p.source.what} gone after the reader left`, () => p.source.written(), (n) => n === undefined, { timeoutMs: 60_000, intervalMs: 250 });
}

async function disconnectStops(p: Path): Promise<void> {
  const r = p.open();
  try {
    await p.begin();
    await stall(p.surface, r, p.source, p.total, p.bound);
  } finally {
    r.disconnect();
  }
  await r.done.catch(() => {});
  await until(`${p.surface}: ${p.source.what} gone after the reader went away`, () => p.source.written(), (n) => n === undefined, { timeoutMs: 60_000, intervalMs: 250 });
  expect(daemon.alive()).toBe(true);
}

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon(home);
  client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as typeof client;
  const r = await rest("POST", "/api/v1/workspaces", { name: "bps", path: repo });
  expect(r.status).toBe(201);
  const ws = (await r.json()) as { worktreePath: string };
  writeFileSync(join(ws.worktreePath, "big.txt"), FILE);
  // Run as root (CI), the container user (uid 1000) cannot write a root-owned worktree (README's limitation).
  if (process.getuid?.() === 0) execFileSync("chmod", ["-R", "a+rwX", ws.worktreePath]);
  const services = await until(
    "the generators to run",
    async () => ((await (await rest("GET", "/api/v1/workspaces/bps/services")).json()) as { services: Array<{ status: string }> }).services,
    (s) => s.length === SERVICES.length && s.every((x) => x.status === "running"),
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  expect(services.length).toBe(SERVICES.length);
}, 600_000);

afterAll(async () => {
  try {
    if (daemon?.alive()) await rest("DELETE", "/api/v1/workspaces/bps?force=true").catch(() => {});
  } finally {
    client?.close();
    await daemon?.stop();
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
});

describe("a slow reader gets all of it byte for byte, while the source in the workspace waits", () => {
  test("REST service logs (follow)", () => readsAllAfterStalling(PATHS.restLogs), 600_000);
  test("gRPC GetServiceLogs (follow)", () => readsAllAfterStalling(PATHS.grpcLogs), 600_000);
  test("nexus services logs -f into a pipe", () => readsAllAfterStalling(PATHS.cliLogs), 600_000);
  test("gRPC StreamFile (50.9 MB)", () => readsAllAfterStalling(PATHS.grpcFile), 600_000);
});

/** Whether tmux has a terminal client of the session (the daemon's attach). */
async function attached(sessionId: string): Promise<boolean> {
  return (await sh(`${TMUX} list-clients -t "=$1" -F x 2>/dev/null; true`, sessionId)).includes("x");
}

/**
 * Bytes the daemon has received so far on the TCP connections it opened (its SSH connections to the
 * workspace; not the test's REST requests, which come to its own port), by the kernel's count
 * (ss, tcp_info's bytes_received), whether or not the daemon has read them yet. Summed as each
 * connection grows, so a connection that closes takes nothing away.
 */
function daemonReceived(): () => number {
  const pid = readFileSync(join(home, "daemon.pid"), "utf8").trim();
  const seen = new Map<string, number>();
  let total = 0;
  return () => {
    const lines = execFileSync("ss", ["-tinpH"]).toString().split("\n");
    for (let i = 0; i < lines.length - 1; i++) {
      if (!lines[i]!.includes(`pid=${pid},`)) continue;
      const [, , , local, peer] = lines[i]!.trim().split(/\s+/);
      if (local!.endsWith(`:${daemon.port}`)) continue;
      const got = Number(/bytes_received:(\d+)/.exec(lines[i + 1]!)?.[1] ?? 0);
      const key = `${local} ${peer}`;
      total += Math.max(0, got - (seen.get(key) ?? 0));
      seen.set(key, got);
    }
    return total;
  };
}

/** How long the daemon must take (almost) nothing from the workspace, the flood going on, to count as holding the terminal. */
const HELD_MS = 3_000;
/** What "almost nothing" allows over HELD_MS: the probes' own exec output and SSH's messages. */
const HELD_SLACK = 64 * 1024;

test("WebSocket session.attach: a terminal that stops reading during a flood has the daemon stop taking the screen from the workspace, stays attached, then sees the end", async () => {
  // A flood until the test ends it: tmux never runs out of screen to write while the client is paused.
  const flood = `while [ ! -e /tmp/go-session ]; do sleep 0.1; done; while [ ! -e /tmp/stop-session ]; do seq 1 100000; done; echo END-OF-RUN; exec sleep 600`;
  await sh("rm -f /tmp/go-session /tmp/stop-session");
  const created = await rest("POST", "/api/v1/sessions", { workspace: "bps", command: "sh", args: ["-c", flood] });
  expect(created.status).toBe(201);
  const sessionId = ((await created.json()) as { id: string }).id;
  // Over the unix socket: loopback TCP's buffers would hold ~10 MiB of the screen outside the daemon.
  const ws = new WebSocket(`ws+unix://${join(home, "daemon.sock")}:/v1/ws?workspace=bps`);
  let text = "";
  let size = 0;
  let closed: number | undefined;
  let detached: { success: boolean } | undefined;
  const others: string[] = [];
  const said = () => `other messages: ${others.join(" | ")}; closed: ${closed}`;
  ws.on("message", (raw) => {
    const m = JSON.parse(String(raw));
    if (m.type === "session.output") {
      size += m.payload.data.length;
      text = (text + m.payload.data).slice(-64 * 1024); // the screen's end is what is looked for
    } else {
      if (m.id === "d") detached = m;
      others.push(String(raw).slice(0, 300));
    }
  });
  ws.on("close", (code) => (closed = code));
  ws.on("error", () => {});
  try {
    await new Promise<void>((resolve) => ws.on("open", () => resolve()));
    ws.send(JSON.stringify({ type: "auth", token: daemon.token() }));
    ws.send(JSON.stringify({ id: "a", type: "session.attach", payload: { sessionId, cols: 120, rows: 40, readOnly: true } }));
    await until("the attach's first screen", () => size, (n) => n > 0 || closed !== undefined || others.some((o) => o.includes('"id":"a"')), { timeoutMs: 120_000, intervalMs: 50, detail: said });
    if (size === 0) throw new Error(`no screen: ${said()}`);
    await sh("touch /tmp/go-session");
    await until("the flood on the screen", () => size, (n) => n >= 256 * 1024, { timeoutMs: 120_000, intervalMs: 20, detail: said });
    ws.pause();
    // The daemon stops reading the terminal's SSH channel once the client is behind, so once the SSH
    // window is spent its connection receives nothing more (tmux keeps the rest in its own memory).
    // A daemon that read on would take the flood for as long as it lasts, queueing it for the client
    // (and close the connection 8 MiB behind): 3 of 3 runs failed so, 5 of 5 passed with it.
    const received = daemonReceived();
    const atPause = received();
    let mark = { bytes: atPause, at: Date.now() };
    const held = await until(
      `the daemon to take nothing more from the workspace for ${HELD_MS / 1000} s while the client reads nothing`,
      async () => {
        if (!(await attached(sessionId))) throw new Error(`the daemon let the terminal go while the client was paused: ${said()}`);
        const bytes = received();
        if (bytes - mark.bytes > HELD_SLACK) mark = { bytes, at: Date.now() };
        return { bytes, stillMs: Date.now() - mark.at };
      },
      (r) => r.stillMs >= HELD_MS,
      { timeoutMs: 45_000, intervalMs: 250, detail: () => `the daemon took ${((received() - atPause) / MiB).toFixed(1)} MiB from the workspace since the pause; ${said()}` },
    );
    const since = held.bytes - atPause;
    console.log(`session.attach: paused after ${(size / MiB).toFixed(1)} MiB read; the daemon then took ${(since / MiB).toFixed(1)} MiB from the workspace, then nothing for ${HELD_MS / 1000} s of flood`);
    // Between the daemon and the client: the client's socket and the daemon's 1 MiB queue; the SSH window (2 MiB) on the way in.
    expect(since).toBeLessThan(8 * MiB);
    await sh("touch /tmp/stop-session");
    ws.resume();
    await until("END-OF-RUN on the screen", () => text.includes("END-OF-RUN") || closed !== undefined, Boolean, { timeoutMs: 120_000, intervalMs: 100, detail: () => `${size} characters came; ${said()}` });
    // Without back-pressure the daemon queued the screen and closed the connection (1013, client too slow).
    expect(closed).toBeUndefined();
    expect(text).toContain("END-OF-RUN");
    ws.send(JSON.stringify({ id: "d", type: "session.detach", payload: { sessionId } }));
    await until("the detach's answer", () => detached, Boolean, { timeoutMs: 60_000, intervalMs: 50 });
    expect(detached!.success).toBe(true);
  } finally {
    ws.terminate();
    await rest("DELETE", `/api/v1/sessions/${sessionId}`).catch(() => {});
    await sh("touch /tmp/stop-session").catch(() => {});
  }
}, 600_000);

test("REST session logs -f: a reader that stalls in 29.7 MB of a 1000-column session's output gets every line, then the exit code", async () => {
  // The session prints it all first: the follower then reads the session's output log 1 MiB at a
  // time, one read as the reader takes the last (a live follower: test/e2e/sessions.test.ts).
  const LINES = 30_000;
  const expected = createHash("sha256");
  for (let i = 1; i <= LINES; i++) expected.update(String(i).padStart(990, "0") + "\n");
  const created = await rest("POST", "/api/v1/sessions", {
    workspace: "bps",
    command: "python3",
    args: ["-c", `import sys\nfor i in range(1, ${LINES + 1}): sys.stdout.write("%0990d\\n" % i)`],
    cols: 1000,
    rows: 20,
  });
  expect(created.status).toBe(201);
  const sessionId = ((await created.json()) as { id: string }).id;
  await until("the session to finish", async () => ((await (await rest("GET", `/api/v1/sessions/${sessionId}`)).json()) as { status: string }).status, (st) => st === "exited", { timeoutMs: 300_000, intervalMs: 500 });
  const abort = new AbortController();
  const got = createHash("sha256");
  let lines = 0;
  let size = 0;
  let end: { reason?: string; exitCode?: number; error?: string } | undefined;
  const events = pausableEvents(`/api/v1/sessions/${sessionId}/logs?follow=true&tail=100000`, abort.signal, (e) => {
    if (e.type === "line" && /^\d{990}$/.test(e.line)) {
      got.update(e.line + "\n");
      lines++;
      size += e.line.length + 1;
    } else if (e.type === "result") end = e;
    else if (e.type === "error") end = { error: e.error.code };
  });
  try {
    await until("the first MiB", () => size, (n) => n >= MiB, { timeoutMs: 120_000, intervalMs: 20 });
    events.pause();
    // Held until what the reader was given stands still: the daemon is waiting for it, not reading on.
    let last = -1;
    await until("the stream to stand still", () => {
      const still = size === last;
      last = size;
      return still;
    }, Boolean, { timeoutMs: 60_000, intervalMs: 1000 });
    console.log(`session logs -f: stalled after ${(size / MiB).toFixed(1)} MiB read of ${((LINES * 991) / MiB).toFixed(1)} MiB`);
    events.resume();
    await until("the stream's end", () => end, Boolean, { timeoutMs: 180_000, intervalMs: 100, detail: () => `${lines} lines came` });
    // Without back-pressure and bounded reads the follower took it at once, which the shell's 4 MiB cap cut.
    expect(end).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(lines).toBe(LINES);
    expect(got.digest("hex")).toBe(expected.digest("hex"));
  } finally {
    abort.abort();
    await events.done.catch(() => {});
    await rest("DELETE", `/api/v1/sessions/${sessionId}`).catch(() => {});
  }
}, 600_000);

describe("a slow reader that goes away while the source waits stops the source", () => {
  test("REST service logs (follow)", () => disconnectStops(PATHS.restLogs), 300_000);
  test("gRPC GetServiceLogs (follow)", () => disconnectStops(PATHS.grpcLogs), 300_000);
  test("nexus services logs -f", () => disconnectStops(PATHS.cliLogs), 300_000);
  test("gRPC StreamFile", () => disconnectStops(PATHS.grpcFile), 300_000);
});
