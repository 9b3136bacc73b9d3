// `nexus sessions attach` whose stdout is a pipe nobody reads: the CLI stops reading the daemon's
// WebSocket instead of holding the session's output. The compiled CLI used to read on, hold all of it
// in its stdout, and exit with it unwritten (the reader got 64 KiB of 33.8 MB); under Deno a write to
// a full pipe blocks the whole CLI, so its old code stopped reading too. The daemon is a stand-in on the CLI's unix socket that sends numbered lines as session.output, as
// fast as the socket takes them (its own queue up to 1 MiB, as the real daemon's), so the test
// sees how far it got while nothing reads; then the test reads, and every line must come, in order.
// The CLI is the compiled binary (or the source under Deno with NEXUS_E2E_RUNTIME=deno).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { NEXUS_BIN } from "../helpers/bin.ts";
import { requireNexusBin } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const MiB = 1024 * 1024;
const SESSION = "ses-0123abcd";
/** Lines of 11 characters ("L00000001\r\n"), 6,000 to a message: 66 KB a message, 33.8 MB in all. */
const PER_MESSAGE = 6_000;
const MESSAGES = 512;
const LINES = PER_MESSAGE * MESSAGES;
const TOTAL = LINES * 11;
/** What the stand-in daemon keeps queued unsent at most (the real one pauses the terminal past 1 MiB). */
const QUEUE = MiB;

const root = tempDir("attach-bp");
const home = join(root.path, "nexus");
let http: Server;
let wss: WebSocketServer;
/** Characters of output the stand-in has handed to its socket, and whether all was. */
const produced = { chars: 0, done: false };

const line = (n: number) => `L${String(n).padStart(8, "0")}\r\n`;

/** Sends the output as the socket takes it, then the end, as the daemon answers session.attach. */
function attach(ws: WebSocket, id: string): void {
  let next = 0;
  let unsent = 0;
  const pump = () => {
    while (next < MESSAGES && unsent <= QUEUE) {
      const from = next * PER_MESSAGE + 1;
      let data = "";
      for (let n = from; n < from + PER_MESSAGE; n++) data += line(n);
      next++;
      const text = JSON.stringify({ id, type: "session.output", payload: { sessionId: SESSION, data } });
      unsent += text.length;
      produced.chars += data.length;
      ws.send(text, () => {
        unsent -= text.length;
        if (unsent <= QUEUE / 4) pump();
      });
    }
    if (next === MESSAGES && !produced.done) {
      produced.done = true;
      const end = { sessionId: SESSION, reason: "exited", exitCode: 0 };
      ws.send(JSON.stringify({ id, type: "session.exit", payload: end }));
      ws.send(JSON.stringify({ id, success: true, result: end }));
    }
  };
  pump();
}

beforeAll(async () => {
  requireNexusBin();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "token"), "stand-in\n", { mode: 0o600 });
  http = createServer((req, res) => {
    // The CLI asks for the session first (an unknown id fails there); under Deno in a proxy's form (the whole URL).
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    res.writeHead(path === `/api/v1/sessions/${SESSION}` ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: SESSION, workspace_name: "bp", status: "active" }));
  });
  wss = new WebSocketServer({ server: http, path: "/v1/ws" });
  wss.on("connection", (ws) => {
    ws.on("message", (raw) => {
      const m = JSON.parse(String(raw)) as { id?: string; type?: string };
      if (m.type === "auth") ws.send(JSON.stringify({ id: m.id, success: true, result: null }));
      else if (m.type === "session.attach") attach(ws, m.id!);
    });
  });
  await new Promise<void>((resolve) => http.listen(join(home, "daemon.sock"), resolve));
});

afterAll(async () => {
  for (const ws of wss?.clients ?? []) ws.terminate();
  await new Promise((resolve) => wss?.close(resolve));
  await new Promise((resolve) => http?.close(resolve));
  await root[Symbol.asyncDispose]();
});

/** Reads the FIFO's non-blocking end until every writer closed it (EAGAIN: none to read yet). */
async function readToEnd(fd: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(256 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      await new Promise((resolve) => setTimeout(resolve, 2));
      continue;
    }
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

/** The CLI's resident memory, or undefined once it has exited. */
function rssOf(pid: number): number | undefined {
  try {
    const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]; // none once a zombie
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

test("nexus sessions attach into a pipe nobody reads stops reading the daemon; read later, every line comes once, in order", async () => {
  // stdout is a FIFO whose reading end the test holds open, reading nothing until it reads it all.
  const fifo = join(root.path, "stdout.fifo");
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  const holdOpen = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(fifo, constants.O_WRONLY);
  const env: Record<string, string | undefined> = { ...process.env, NEXUS_HOME: home, NO_COLOR: "1" };
  delete env.NEXUS_URL;
  const child = spawn(NEXUS_BIN, ["sessions", "attach", SESSION], {
    env,
    stdio: ["ignore", writeEnd, "pipe"],
  });
  closeSync(writeEnd);
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  let peak = 0; // printed, not checked: a collection moves it either way
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid!) ?? 0)), 20);
  try {
    await until("the attach's first output sent", () => produced.chars, (n) => n > 0 || child.exitCode !== null, { timeoutMs: 120_000, detail: () => stderr });
    if (child.exitCode !== null) throw new Error(`the CLI exited ${child.exitCode}: ${stderr}`);
    // Until the stand-in's sending stands still between two looks (or it sent everything).
    let last = -1;
    const stalled = await until(
      "the stand-in daemon's sending to stand still",
      () => {
        const now = produced.chars;
        const still = now === last;
        last = now;
        return { now, still };
      },
      (s) => s.still || produced.done,
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    console.log(`attach: the daemon's sending stood still at ${(stalled.now / MiB).toFixed(1)} of ${(TOTAL / MiB).toFixed(1)} MiB; the CLI's peak RSS ${(peak / MiB).toFixed(0)} MiB${child.exitCode !== null ? " (it has exited)" : ""}`);
    // What stands between the stand-in and the pipe: its 1 MiB queue, the socket's buffers, the
    // CLI's 1 MiB of unwritten output, the 64 KiB pipe. The old CLI read all 33.8 MB and held it.
    expect(produced.done).toBe(false);
    expect(stalled.now).toBeLessThan(8 * MiB);

    const [code, bytes] = await Promise.all([exit, readToEnd(holdOpen)]);
    expect(code).toBe(0);
    const text = bytes.toString("utf8");
    expect(text.length).toBe(TOTAL);
    let out = 0;
    for (let n = 1; n <= LINES; n++) {
      const want = line(n);
      if (text.slice(out, out + want.length) !== want) throw new Error(`line ${n} is not where it should be (character ${out}): ${JSON.stringify(text.slice(out, out + 40))}`);
      out += want.length;
    }
    expect(stderr).toContain(`[${SESSION} exited with code 0]`);
  } finally {
    clearInterval(sampler);
    if (child.exitCode === null) child.kill("SIGKILL");
    closeSync(holdOpen);
  }
}, 600_000);
