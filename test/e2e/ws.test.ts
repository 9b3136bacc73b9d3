// WebSocket /v1/ws and REST over TCP against the compiled daemon: auth, files, exec streaming,
// events, limits, malformed input. Real Docker, temporary NEXUS_HOME and git repository.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { sign } from "hono/jwt";
import WebSocket from "ws";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("ws");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "src/a.txt": "A\n" });
let daemon: TestDaemon;

class Conn {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  closed: { code: number; reason: string } | undefined;
  #waiters: Array<() => void> = [];
  #seq = 0;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on("message", (m) => {
      this.messages.push(JSON.parse(String(m)));
      this.#wake();
    });
    this.ws.on("close", (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.#wake();
    });
    this.ws.on("error", () => {});
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  opened(): Promise<void> {
    return this.ws.readyState === WebSocket.OPEN ? Promise.resolve() : new Promise((r, j) => (this.ws.once("open", () => r()), this.ws.once("error", j)));
  }

  /** The first message (kept ones included) matching pred, removed from the queue. */
  async next(pred: (m: any) => boolean, timeoutMs = 30_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message in ${timeoutMs} ms; have ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  async waitClosed(timeoutMs = 30_000): Promise<{ code: number; reason: string }> {
    return (await until("the socket closes", () => this.closed, Boolean, { timeoutMs, intervalMs: 50 }))!;
  }

  send(raw: unknown): void {
    this.ws.send(typeof raw === "string" ? raw : JSON.stringify(raw));
  }

  async request(type: string, payload?: unknown): Promise<any> {
    const id = `r${++this.#seq}`;
    this.send({ id, type, payload });
    return this.next((m) => m.id === id && "success" in m);
  }

  close() {
    this.ws.close();
  }
}

const tcpUrl = (q = "") => `ws://127.0.0.1:${daemon.port}/v1/ws${q}`;

async function authed(q = "?workspace=w1"): Promise<Conn> {
  const c = new Conn(tcpUrl(q));
  await c.opened();
  c.send({ type: "auth", token: daemon.token() });
  expect((await c.next((m) => m.type === "auth")).success).toBe(true);
  return c;
}

function rest(method: string, path: string, opts: { token?: string | null; body?: string } = {}): Promise<Response> {
  const token = opts.token === undefined ? daemon.token() : opts.token;
  return fetch(`http://127.0.0.1:${daemon.port}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
}

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon(home);
});

afterAll(async () => {
  try {
    if (daemon?.alive()) await rest("DELETE", "/api/v1/workspaces/w1?force=true").catch(() => {});
  } finally {
    await daemon?.stop();
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
});

describe("REST over TCP", () => {
  test("no token or a wrong one: 401 AUTHENTICATION_FAILED; the daemon token or a JWT: served", async () => {
    for (const token of [null, "wrong", "a.b.c"]) {
      const r = await rest("GET", "/api/v1/workspaces", { token });
      expect(r.status).toBe(401);
      expect(((await r.json()) as any).error.code).toBe("AUTHENTICATION_FAILED");
    }
    expect((await rest("GET", "/api/v1/workspaces")).status).toBe(200);
    const minted = await rest("POST", "/api/v1/tokens", { body: JSON.stringify({ ttl: "10m" }) });
    expect(minted.status).toBe(201);
    const { token, expiresAt } = (await minted.json()) as { token: string; expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000);
    expect((await rest("GET", "/api/v1/workspaces", { token })).status).toBe(200);
    const expired = await sign({ sub: "nexus", exp: Math.floor(Date.now() / 1000) - 10 }, daemon.token(), "HS256");
    const r = await rest("GET", "/api/v1/workspaces", { token: expired });
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.message).toContain("expired");
    const noExp = await sign({ sub: "nexus" }, daemon.token(), "HS256");
    expect((await rest("GET", "/api/v1/workspaces", { token: noExp })).status).toBe(401);
    const otherKey = await sign({ sub: "nexus", exp: Math.floor(Date.now() / 1000) + 60 }, "not-the-daemon-token-at-all-0123456789", "HS256");
    expect((await rest("GET", "/api/v1/workspaces", { token: otherKey })).status).toBe(401);
  });

  test("create over TCP; malformed bodies give the taxonomy's errors", async () => {
    const bad = await rest("POST", "/api/v1/workspaces", { body: "{not json" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe("INVALID_ARGUMENT");
    const wrongType = await rest("POST", "/api/v1/workspaces", { body: JSON.stringify({ name: 42 }) });
    expect(wrongType.status).toBe(400);
    const badTtl = await rest("POST", "/api/v1/tokens", { body: JSON.stringify({ ttl: "soon" }) });
    expect(badTtl.status).toBe(400);
    const r = await rest("POST", "/api/v1/workspaces", { body: JSON.stringify({ name: "w1", path: repo }) });
    expect(r.status).toBe(201);
    const ws = (await r.json()) as { worktreePath: string; status: string };
    expect(ws.status).toBe("running");
    // Run as root (CI), the container user (uid 1000) cannot write a root-owned worktree (README's limitation).
    if (process.getuid?.() === 0) execFileSync("chmod", ["-R", "a+rwX", ws.worktreePath]);
  }, 600_000);
});

describe("WebSocket auth", () => {
  test("a request before auth is refused and the connection closed", async () => {
    const c = new Conn(tcpUrl());
    await c.opened();
    c.send({ id: "x", type: "fs.readdir", payload: { path: "." } });
    const m = await c.next((m) => m.success === false);
    expect(m.error.code).toBe("AUTHENTICATION_FAILED");
    expect((await c.waitClosed()).code).toBe(4401);
  });

  test("a wrong token, an expired JWT, and no token are refused", async () => {
    const expired = await sign({ sub: "nexus", exp: Math.floor(Date.now() / 1000) - 5 }, daemon.token(), "HS256");
    for (const token of ["wrong", expired, undefined]) {
      const c = new Conn(tcpUrl());
      await c.opened();
      c.send({ type: "auth", ...(token ? { token } : {}) });
      const m = await c.next((m) => m.success === false);
      expect(m.error.code).toBe("AUTHENTICATION_FAILED");
      await c.waitClosed();
    }
  });

  test("the right token (daemon token or JWT) is accepted, on TCP and on the unix socket", async () => {
    const c = await authed();
    expect((await c.request("fs.readdir", { path: "." })).success).toBe(true);
    c.close();
    const jwt = ((await (await rest("POST", "/api/v1/tokens", { body: "{}" })).json()) as { token: string }).token;
    const u = new Conn(`ws+unix://${join(home, "daemon.sock")}:/v1/ws?workspace=w1`);
    await u.opened();
    u.send({ id: "early", type: "fs.readdir", payload: { path: "." } });
    expect((await u.next(() => true)).error.code).toBe("AUTHENTICATION_FAILED");
    await u.waitClosed();
    const u2 = new Conn(`ws+unix://${join(home, "daemon.sock")}:/v1/ws?workspace=w1`);
    await u2.opened();
    u2.send({ type: "auth", token: jwt });
    expect((await u2.next((m) => m.type === "auth")).success).toBe(true);
    expect((await u2.request("fs.readFile", { path: "README.md" })).result.content).toBe("# fixture\n");
    u2.close();
  });
});

describe("WebSocket requests", () => {
  test("fs.writeFile / fs.readFile in utf8 and base64, fs.readdir (recursive)", async () => {
    const c = await authed();
    try {
      const w = await c.request("fs.writeFile", { path: "notes/hello.txt", content: "héllo\n" });
      expect(w).toMatchObject({ success: true, result: { path: "/workspace/notes/hello.txt", bytesWritten: 7 } });
      const bin = Buffer.from([0, 1, 2, 254, 255]);
      expect((await c.request("fs.writeFile", { path: "notes/bin.dat", content: bin.toString("base64"), encoding: "base64" })).success).toBe(true);
      expect((await c.request("fs.readFile", { path: "notes/hello.txt" })).result).toMatchObject({ content: "héllo\n", encoding: "utf8", size: 7 });
      expect((await c.request("fs.readFile", { path: "/workspace/notes/bin.dat", encoding: "base64" })).result.content).toBe(bin.toString("base64"));
      const top = (await c.request("fs.readdir", { path: "." })).result.entries.map((e: any) => `${e.type}:${e.path}`);
      expect(top).toContain("directory:notes");
      expect(top).toContain("file:README.md");
      expect(top).not.toContain("file:notes/hello.txt");
      const all = (await c.request("fs.readdir", { path: "/workspace", recursive: true })).result.entries.map((e: any) => e.path);
      expect(all).toContain("notes/hello.txt");
      expect(all).toContain("src/a.txt");
      const missing = await c.request("fs.readFile", { path: "nope.txt" });
      expect(missing.error.code).toBe("NOT_FOUND");
      // The workspace from the payload instead of the URL.
      const other = new Conn(tcpUrl(""));
      await other.opened();
      other.send({ type: "auth", token: daemon.token() });
      await other.next((m) => m.type === "auth");
      expect((await other.request("fs.readFile", { path: "src/a.txt", workspaceId: "w1" })).result.content).toBe("A\n");
      expect((await other.request("fs.readFile", { path: "src/a.txt" })).error.code).toBe("INVALID_ARGUMENT");
      other.close();
    } finally {
      c.close();
    }
  }, 60_000);

  test("paths outside /workspace are refused: ../, absolute outside, symlink out", async () => {
    const c = await authed();
    try {
      expect((await c.request("exec", { command: "ln", args: ["-sfn", "/etc", "/workspace/escape"] })).result.exitCode).toBe(0);
      for (const path of ["../etc/passwd", "/etc/passwd", "notes/../../etc/passwd", "escape/passwd", "/workspace/escape/hostname"]) {
        expect((await c.request("fs.readFile", { path })).error.code).toBe("PERMISSION_DENIED");
        expect((await c.request("fs.writeFile", { path, content: "x" })).error.code).toBe("PERMISSION_DENIED");
      }
      expect((await c.request("fs.readdir", { path: "escape" })).error.code).toBe("PERMISSION_DENIED");
      expect((await c.request("fs.readdir", { path: "/" })).error.code).toBe("PERMISSION_DENIED");
      const host = await c.request("exec", { command: "cat", args: ["/etc/hostname"] });
      expect(host.success).toBe(true); // exec itself is not confined: it is a shell in the workspace
      // stdin is closed at once (cat ends), or holds the payload's 'stdin'.
      expect((await c.request("exec", { command: "cat" })).result.exitCode).toBe(0);
      expect((await c.request("exec", { command: "sh", args: ["-c", "wc -c; exit 2"], stdin: "hello" })).result.exitCode).toBe(2);
    } finally {
      c.close();
    }
  }, 60_000);

  test("exec streams exec.stdout / exec.stderr as they come, then exec.exit and the answer", async () => {
    const c = await authed();
    try {
      const started = Date.now();
      c.send({ id: "e1", type: "exec", payload: { command: "sh", args: ["-c", "for i in 1 2 3 4; do echo o$i; echo e$i >&2; sleep 0.3; done; exit 4"] } });
      const first = await c.next((m) => m.id === "e1" && m.type === "exec.stdout");
      const firstAt = Date.now();
      const done = await c.next((m) => m.id === "e1" && "success" in m);
      const doneAt = Date.now();
      expect(first.payload.data).toBe("o1\n");
      expect(doneAt - firstAt).toBeGreaterThan(700);
      expect(firstAt - started).toBeLessThan(doneAt - started);
      const out = [first, ...c.messages.filter((m) => m.id === "e1" && m.type === "exec.stdout")].map((m) => m.payload.data).join("");
      const err = c.messages.filter((m) => m.id === "e1" && m.type === "exec.stderr").map((m) => m.payload.data).join("");
      expect(out).toBe("o1\no2\no3\no4\n");
      expect(err).toBe("e1\ne2\ne3\ne4\n");
      expect(c.messages.find((m) => m.id === "e1" && m.type === "exec.exit").payload.exitCode).toBe(4);
      expect(done).toMatchObject({ success: true, result: { exitCode: 4 } });
      // cancel kills a running command
      c.send({ id: "long", type: "exec", payload: { command: "sleep", args: ["300"] } });
      const running = async () => (await c.request("exec", { command: "pgrep", args: ["-f", "^sleep 300"] })).result?.exitCode;
      await until("the command runs", running, (code) => code === 0);
      expect((await c.request("cancel", { requestId: "long" })).result.cancelled).toBe(true);
      expect((await c.next((m) => m.id === "long" && "success" in m)).error).toMatchObject({ code: "CANCELLED", details: { requestId: "long" } });
    } finally {
      c.close();
    }
  }, 60_000);

  test("events: workspace.status for the connection's workspace, and workspace.stats", async () => {
    const c = await authed();
    try {
      expect((await rest("POST", "/api/v1/workspaces/w1/pause", { body: "{}" })).status).toBe(202);
      expect((await c.next((m) => m.type === "workspace.status" && m.payload.status === "paused")).payload.name).toBe("w1");
      expect((await rest("POST", "/api/v1/workspaces/w1/resume", { body: "{}" })).status).toBe(200);
      expect((await c.next((m) => m.type === "workspace.status" && m.payload.status === "running")).payload.workspaceId).toMatch(/^ws-/);
      const stats = await c.next((m) => m.type === "workspace.stats", 20_000);
      expect(stats.payload.memoryUsedBytes).toBeGreaterThan(0);
      // subscribe on a connection with no workspace
      const s = new Conn(tcpUrl(""));
      await s.opened();
      s.send({ type: "auth", token: daemon.token() });
      await s.next((m) => m.type === "auth");
      expect((await s.request("subscribe", { workspaceId: "w1", stats: false })).result.status).toBe("running");
      await rest("POST", "/api/v1/workspaces/w1/pause", { body: "{}" });
      expect((await s.next((m) => m.type === "workspace.status" && m.payload.status === "paused")).payload.name).toBe("w1");
      await rest("POST", "/api/v1/workspaces/w1/resume", { body: "{}" });
      await s.next((m) => m.type === "workspace.status" && m.payload.status === "running");
      s.close();
    } finally {
      c.close();
    }
  }, 60_000);

  test("malformed, wrong-typed, unknown and huge messages get errors and the connection stays", async () => {
    const c = await authed();
    try {
      c.send("{nope");
      expect((await c.next((m) => m.success === false)).error.code).toBe("INVALID_ARGUMENT");
      c.send("[1,2,3]");
      expect((await c.next((m) => m.success === false)).error.code).toBe("INVALID_ARGUMENT");
      expect((await c.request("fs.readFile", { path: 42 })).error).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect((await c.request("fs.readFile", { path: "a", encoding: "latin1" })).error.code).toBe("INVALID_ARGUMENT");
      expect((await c.request("fs.readdir", { path: ".", recursive: "yes" })).error.code).toBe("INVALID_ARGUMENT");
      expect((await c.request("exec", { command: "" })).error.code).toBe("INVALID_ARGUMENT");
      expect((await c.request("rm -rf", {})).error.code).toBe("INVALID_ARGUMENT");
      c.send({ id: "big", type: "fs.writeFile", payload: { path: "big.txt", content: "x".repeat(2 * 1024 * 1024) } });
      const big = await c.next((m) => m.success === false);
      expect(big.error.code).toBe("RESOURCE_EXHAUSTED");
      expect(big.id).toBe("big");
      expect(c.closed).toBeUndefined();
      // Too many requests at once
      for (let i = 0; i < 20; i++) c.send({ id: `s${i}`, type: "exec", payload: { command: "sleep", args: ["1"] } });
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await c.next((m) => m.id === `s${i}` && "success" in m));
      expect(answers.filter((a) => a.error?.code === "RESOURCE_EXHAUSTED").length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.success).length).toBeGreaterThan(0);
      expect((await c.request("fs.readFile", { path: "README.md" })).success).toBe(true);
    } finally {
      c.close();
    }
    expect(daemon.alive()).toBe(true);
    expect((await rest("GET", "/api/v1/workspaces/w1")).status).toBe(200);
  }, 60_000);

  test("a client that stops reading exec output pauses the command (not cut off, not buffered): it reads on later, and leaving kills the command", async () => {
    // A separate process with a raw socket that really stops reading (small receive buffer, sleeps),
    // then reads 16 MiB more and goes away, saying how many bytes it got.
    const frames = [JSON.stringify({ type: "auth", token: daemon.token() }), JSON.stringify({ id: "flood", type: "exec", payload: { command: "sh", args: ["-c", "head -c 300000000 /dev/zero | tr '\\0' a"] } })];
    const script = `
import socket, sys, os, time, json, base64
frames = json.loads(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /v1/ws?workspace=w1 HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n" % key).encode())
for f in frames:
    p = f.encode(); m = os.urandom(4)
    head = bytes([0x81, 0x80 | len(p)]) if len(p) < 126 else bytes([0x81, 0x80 | 126, len(p) >> 8, len(p) & 255])
    s.sendall(head + m + bytes(b ^ m[i % 4] for i, b in enumerate(p)))
time.sleep(10)
n = 0
s.settimeout(60)
while n < 16 * 1024 * 1024:
    d = s.recv(1 << 20)
    if not d: break
    n += len(d)
print(n)
s.close()
`;
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      const child = spawn("python3", ["-c", script, String(daemon.port), JSON.stringify(frames)], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (b) => (stdout += b));
      child.stderr!.on("data", (b) => (stderr += b));
      child.on("close", () => resolve({ stdout, stderr }));
    });
    expect(r.stderr).toBe("");
    // Not cut off for being slow: the output waited for it (test/e2e/backpressure.test.ts measures the daemon meanwhile).
    expect(Number(r.stdout.trim())).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(daemon.alive()).toBe(true);
    const again = await authed();
    expect((await again.request("fs.readFile", { path: "README.md" })).success).toBe(true);
    const left = async () => {
      const res = await again.request("exec", { command: "sh", args: ["-c", "ps -eo args | grep -c '^head -c 300000000' || true"] });
      return (await again.next((m) => m.id === res.id && m.type === "exec.stdout").catch(() => ({ payload: { data: "?" } }))).payload.data.trim();
    };
    expect(await until("the flood killed after its reader left", left, (n) => n === "0", { timeoutMs: 60_000, intervalMs: 250 })).toBe("0");
    again.close();
  }, 180_000);

  test("destroy over TCP", async () => {
    expect((await rest("DELETE", "/api/v1/workspaces/w1?force=true")).status).toBe(204);
  }, 120_000);
});
