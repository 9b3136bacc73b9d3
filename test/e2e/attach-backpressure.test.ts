// `nexus sessions attach` whose stdout is a pipe nobody reads: the CLI stops reading the daemon's
// WebSocket instead of holding the session's output. The compiled CLI used to read on, hold all of it
// in its stdout, and exit with it unwritten (the reader got 64 KiB of 33.8 MB); under Deno a write to
// a full pipe blocks the whole CLI, so its old code stopped reading too. The daemon is a stand-in on the CLI's unix socket that sends numbered lines as session.output, as
// fast as the socket takes them (its own queue up to 1 MiB, as the real daemon's), so the test
// sees how far it got while nothing reads; then the test reads, and every line must come, in order.
// The CLI is the compiled binary (or the source under Deno with NEXUS_E2E_RUNTIME=deno).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
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

/** Whether the stand-in got a session.detach (the CLI read the detach key from its stdin). */
const detaching = { seen: false };

/**
 * Sends the output as the socket takes it, then the end, as the daemon answers session.attach;
 * stops sending at a detach, and ends the attach as detached. Answers what session.detach calls.
 */
function attach(ws: WebSocket, id: string): () => void {
  let next = 0;
  let unsent = 0;
  const finish = (reason: "exited" | "detached") => {
    produced.done = true;
    const end = { sessionId: SESSION, reason, exitCode: reason === "exited" ? 0 : null };
    ws.send(JSON.stringify({ id, type: "session.exit", payload: end }));
    ws.send(JSON.stringify({ id, success: true, result: end }));
  };
  const pump = () => {
    while (!produced.done && next < MESSAGES && unsent <= QUEUE) {
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
    if (next === MESSAGES && !produced.done) finish("exited");
  };
  pump();
  return () => {
    if (produced.done) return;
    detaching.seen = true;
    finish("detached");
  };
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
    let detach = () => {};
    ws.on("message", (raw) => {
      const m = JSON.parse(String(raw)) as { id?: string; type?: string };
      if (m.type === "auth") ws.send(JSON.stringify({ id: m.id, success: true, result: null }));
      else if (m.type === "session.attach") detach = attach(ws, m.id!);
      else if (m.type === "session.detach") detach();
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

/** An attach whose stdout the test reads nothing of until `readAll`: a FIFO, or a terminal. */
interface UnreadAttach {
  child: ChildProcess;
  exit: Promise<number>;
  stderr: () => string;
  /** The CLI's peak resident memory sampled so far, where its pid is known (printed, not checked: a collection moves it either way). */
  peak: () => number | undefined;
  /** Sends the detach key (Ctrl-\, the default) to the CLI's stdin. */
  detachKey(): void;
  /** Reads stdout to its end (every writer gone) while the CLI exits: its exit code and the text. */
  readAll(): Promise<[number, string]>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DETACH_KEY = 0x1c;

function spawnAttach(command: string, args: string[], stdio: StdioOptions) {
  const env: Record<string, string | undefined> = { ...process.env, NEXUS_HOME: home, NO_COLOR: "1" };
  delete env.NEXUS_URL;
  produced.chars = 0;
  produced.done = false;
  detaching.seen = false;
  const child = spawn(command, args, { env, stdio });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  // Once its output is all read too ("close", not "exit").
  const exit = new Promise<number>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exit;
    }
  };
  return { child, exit, stderr: () => stderr, stop };
}

/** stdout is a FIFO whose reading end the test holds open, reading nothing until it reads it all. */
function attachIntoUnreadPipe(name: string, stdin: "ignore" | "pipe"): UnreadAttach {
  const fifo = join(root.path, `${name}.fifo`);
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  const holdOpen = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(fifo, constants.O_WRONLY);
  const a = spawnAttach(NEXUS_BIN, ["sessions", "attach", SESSION], [stdin, writeEnd, "pipe"]);
  closeSync(writeEnd);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(a.child.pid!) ?? 0)), 20);
  return {
    ...a,
    peak: () => peak,
    detachKey: () => void a.child.stdin!.write(Buffer.from([DETACH_KEY])),
    readAll: () => Promise.all([a.exit, readToEnd(holdOpen).then((b) => b.toString("utf8"))]),
    async [Symbol.asyncDispose]() {
      clearInterval(sampler);
      await a.stop();
      closeSync(holdOpen);
    },
  };
}

/**
 * A terminal nobody reads (scrolled back, a stalled link): the CLI's stdin and stdout are a
 * pseudo-terminal whose other side a holder keeps unread; told "key" it types the detach key, told
 * "read" it reads the terminal to its end onto its stdout and exits with the CLI's code.
 */
const TERMINAL_HOLDER = `
import os, subprocess, sys, termios
master, slave = os.openpty()
# Output as sent: no \\n to \\r\\n (raw mode under Bun and Deno leaves that to the terminal).
attrs = termios.tcgetattr(slave)
attrs[1] &= ~termios.OPOST
termios.tcsetattr(slave, termios.TCSANOW, attrs)
cli = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=slave)
os.close(slave)
for cmd in sys.stdin:
    if cmd.strip() == "key":
        os.write(master, bytes([${DETACH_KEY}]))
    elif cmd.strip() == "read":
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's side closed it
                break
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        sys.exit(cli.wait())
cli.kill()  # the test ended early
sys.exit(cli.wait())
`;

function attachOnUnreadTerminal(): UnreadAttach {
  const a = spawnAttach("python3", ["-c", TERMINAL_HOLDER, NEXUS_BIN, "sessions", "attach", SESSION], ["pipe", "pipe", "pipe"]);
  const out: Buffer[] = [];
  a.child.stdout!.on("data", (b: Buffer) => out.push(b));
  return {
    ...a,
    peak: () => undefined,
    detachKey: () => void a.child.stdin!.write("key\n"),
    async readAll() {
      a.child.stdin!.write("read\n");
      const code = await a.exit;
      return [code, Buffer.concat(out).toString("utf8")];
    },
    async [Symbol.asyncDispose]() {
      // The holder ends the CLI once its stdin ends; a SIGKILL of the holder alone would leave the CLI behind.
      a.child.stdin!.end();
      try {
        await until("the terminal holder to end the CLI and exit", () => a.child.exitCode ?? a.child.signalCode, (v) => v !== null, { timeoutMs: 30_000 });
      } finally {
        await a.stop();
      }
    },
  };
}

/** Waits for the first output, then until the stand-in's sending stands still between two looks (or it sent everything). */
async function sendingStandsStill(a: UnreadAttach): Promise<number> {
  await until("the attach's first output sent", () => produced.chars, (n) => n > 0 || a.child.exitCode !== null, { timeoutMs: 120_000, detail: a.stderr });
  if (a.child.exitCode !== null) throw new Error(`the CLI exited ${a.child.exitCode}: ${a.stderr()}`);
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
  const peak = a.peak();
  console.log(`attach: the daemon's sending stood still at ${(stalled.now / MiB).toFixed(1)} of ${(TOTAL / MiB).toFixed(1)} MiB${peak ? `; the CLI's peak RSS ${(peak / MiB).toFixed(0)} MiB` : ""}${a.child.exitCode !== null ? " (it has exited)" : ""}`);
  return stalled.now;
}

/** Every line from the first, once, in order, `chars` characters of them. */
function expectLinesInOrder(text: string, chars: number): void {
  expect(text.length).toBe(chars);
  let out = 0;
  for (let n = 1; out < chars; n++) {
    const want = line(n);
    if (text.slice(out, out + want.length) !== want) throw new Error(`line ${n} is not where it should be (character ${out}): ${JSON.stringify(text.slice(out, out + 40))}`);
    out += want.length;
  }
}

test("nexus sessions attach into a pipe nobody reads stops reading the daemon; read later, every line comes once, in order", async () => {
  await using a = attachIntoUnreadPipe("stdout", "ignore");
  const stalled = await sendingStandsStill(a);
  // What stands between the stand-in and the pipe: its 1 MiB queue, the socket's buffers, the
  // CLI's 1 MiB of unwritten output, the 64 KiB pipe. The old CLI read all 33.8 MB and held it.
  expect(produced.done).toBe(false);
  expect(stalled).toBeLessThan(8 * MiB);

  const [code, text] = await a.readAll();
  expect(code).toBe(0);
  expectLinesInOrder(text, TOTAL);
  expect(a.stderr()).toContain(`[${SESSION} exited with code 0]`);
}, 600_000);

// Under Deno the CLI wrote to stdout on its one thread and waited there while the pipe or terminal
// was full: nothing else ran, so the detach key on stdin was not read until somebody read stdout.
for (const [where, open] of [
  ["a full pipe nobody reads", () => attachIntoUnreadPipe("stdout-detach", "pipe")],
  ["a terminal nobody reads", attachOnUnreadTerminal],
] as const) {
  test(`nexus sessions attach reads the detach key while its stdout is ${where}; what was sent is written after, in order`, async () => {
    await using a = open();
    await sendingStandsStill(a);
    expect(produced.done).toBe(false);
    a.detachKey();
    await until("the stand-in daemon to get session.detach while the CLI's stdout is full", () => detaching.seen, Boolean, { timeoutMs: 30_000, detail: a.stderr });

    const [code, text] = await a.readAll();
    expect({ code, stderr: a.stderr() }).toEqual({ code: 0, stderr: expect.stringContaining(`[detached from ${SESSION};`) });
    expectLinesInOrder(text, produced.chars);
  }, 600_000);
}
