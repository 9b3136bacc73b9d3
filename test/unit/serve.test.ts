// The daemon's server, through the adapter of the runtime that runs this file (Bun under `bun test`,
// Deno under scripts/test-deno.sh, which puts a front before Deno.serve: src/runtime/deno-front.ts): a streamed answer may stay silent longer than a stalled request body may
// (an exec that prints nothing for minutes must not be cut off), and a stalled body is refused.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentRuntime } from "../../src/runtime/index.ts";
import { REQUEST_IDLE_SECONDS } from "../../src/runtime/request-guard.ts";

const runtime = await currentRuntime();

test("a streamed answer silent for longer than the body timeout is not cut off", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nexus-serve-"));
  const sock = join(dir, "s.sock");
  const gapMs = (REQUEST_IDLE_SECONDS + 2) * 1000;
  const server = await runtime.serveUnix(sock, async (req) => {
    await req.text();
    const enc = new TextEncoder();
    return new Response(new ReadableStream({
      async start(c) {
        c.enqueue(enc.encode("first\n"));
        await new Promise((r) => setTimeout(r, gapMs));
        c.enqueue(enc.encode("last\n"));
        c.close();
      },
    }));
  });
  try {
    const res = await runtime.fetchUnix(sock, "http://nexus/x", { method: "POST", body: "{}" });
    expect(await res.text()).toBe("first\nlast\n");
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("a body that stops arriving is refused with the error envelope and the connection closed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nexus-serve-"));
  const sock = join(dir, "s.sock");
  let reached = false;
  const server = await runtime.serveUnix(sock, async () => {
    reached = true;
    return new Response("app");
  });
  try {
    const { reply, closed } = await new Promise<{ reply: string; closed: boolean }>((resolve) => {
      let reply = "";
      const c = connect(sock, () => c.write("POST /x HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a"));
      c.on("data", (b) => (reply += b.toString("latin1")));
      c.on("close", () => resolve({ reply, closed: true }));
      setTimeout(() => (c.destroy(), resolve({ reply, closed: false })), (REQUEST_IDLE_SECONDS + 20) * 1000);
    });
    expect(reply).toStartWith("HTTP/1.1 400");
    expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).error.code).toBe("INVALID_ARGUMENT");
    expect(closed).toBe(true);
    expect(reached).toBe(false);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

/** Sends raw bytes on a fresh connection (unix path or TCP port); answers what came back, and whether the server closed it within `waitMs`. */
function rawExchange(where: string | number, text: string, waitMs: number): Promise<{ reply: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const c = typeof where === "number" ? connect(where, "127.0.0.1") : connect(where);
    let reply = "";
    const timer = setTimeout(() => (c.destroy(), resolve({ reply, closed: false, ms: Date.now() - t0 })), waitMs);
    c.on("data", (b) => (reply += b.toString("latin1")));
    c.on("close", () => (clearTimeout(timer), resolve({ reply, closed: true, ms: Date.now() - t0 })));
    c.on("error", () => {});
    c.write(text);
  });
}

async function bothServers(app: (req: Request) => Response | Promise<Response>) {
  const dir = mkdtempSync(join(tmpdir(), "nexus-serve-"));
  const sock = join(dir, "s.sock");
  const unix = await runtime.serveUnix(sock, app);
  let port = 0;
  let tcp: { stop(): Promise<void> | void } | undefined;
  for (let i = 0; i < 20 && !tcp; i++) {
    port = 20000 + Math.floor(Math.random() * 30000);
    tcp = await runtime.serveTcp("127.0.0.1", port, app).catch(() => undefined);
  }
  return {
    sock,
    port,
    async [Symbol.asyncDispose]() {
      await unix.stop();
      await tcp?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: nexus\r\nConnection: close\r\n\r\n`;

test("encoded path traversal never reaches the app: dot segments, encoded slashes, double encoding, on both listeners", async () => {
  const reached: string[] = [];
  await using s = await bothServers((req) => (reached.push(new URL(req.url).pathname), new Response("app")));
  const refused = [
    "/api/v1/workspaces/ws/services/%2e%2e/restart",
    "/api/v1/workspaces/ws/services/%2E%2e/restart",
    "/api/v1/workspaces/ws/services/.%2e/restart",
    "/api/v1/workspaces/ws/services/../restart",
    "/api/v1/workspaces/ws/checkpoints/%2e%2e",
    "/api/v1/workspaces/ws/checkpoints/%2e%2e/",
    "/api/v1/workspaces/ws/services/%2e/logs",
    "/api/v1/workspaces/ws%2f..%2fother/exec",
    "/api/v1/workspaces/ws/services/a%5c..%5cb/logs",
    "/api/v1/workspaces/ws/services/%252e%252e/restart",
    "/api/v1/workspaces/%252fetc/exec",
    "/api/v1/workspaces/a%00b",
    "/api/v1//workspaces/x/..",
    "/api/v1/workspaces\\..\\tokens",
    "http://nexus/api/v1/workspaces/ws/services/%2e%2e/restart",
    "/a" + "/b".repeat(20),
  ];
  for (const where of [s.sock, s.port]) {
    for (const path of refused) {
      const { reply } = await rawExchange(where, get(path), 10_000);
      expect(`${path} -> ${reply.split("\r\n")[0]}`).toBe(`${path} -> HTTP/1.1 400 Bad Request`);
      expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).error.code).toBe("INVALID_ARGUMENT");
    }
    expect(reached).toEqual([]);
    for (const path of ["/api/v1/workspaces/ws/services/web/logs?tail=%2e%2e", "/", "/api/v1/health"]) {
      const { reply } = await rawExchange(where, get(path), 10_000);
      expect(reply).toStartWith("HTTP/1.1 200");
    }
    expect(reached).toEqual(["/api/v1/workspaces/ws/services/web/logs", "/", "/api/v1/health"]);
    reached.length = 0;
  }
}, 120_000);

test("connections stalled in their request line or headers (first or second request) are cut, and do not hold up other clients", async () => {
  let answered = 0;
  await using s = await bothServers(() => (answered++, new Response("app")));
  const partial = [
    "GET /api/v1/hea",
    "GET /api/v1/health HTTP/1.1\r\nHost: nex",
    "POST /api/v1/tokens HTTP/1.1\r\nHost: nexus\r\nContent-Length: 5\r\n",
    // A whole first request, then half of a second one on the same connection.
    "GET /api/v1/health HTTP/1.1\r\nHost: nexus\r\n\r\nGET /api/v1/hea",
  ];
  const stalled = Array.from({ length: 80 }, (_, i) => rawExchange(i % 2 ? s.port : s.sock, partial[i % partial.length]!, (REQUEST_IDLE_SECONDS + 25) * 1000));
  // Meanwhile, normal requests on both listeners are answered at once.
  for (const where of [s.port, s.sock]) {
    const ok = await rawExchange(where, get("/api/v1/health"), 10_000);
    expect(ok.reply).toStartWith("HTTP/1.1 200");
    expect(ok.ms).toBeLessThan(REQUEST_IDLE_SECONDS * 1000);
  }
  const results = await Promise.all(stalled);
  expect(results.filter((r) => !r.closed)).toEqual([]);
  expect(answered).toBe(2 + 20); // the two normal requests and the 20 whole first ones
}, 120_000);

test("a connection serves one request, so a second one cannot stall there untimed", async () => {
  await using s = await bothServers(() => new Response("app"));
  for (const where of [s.port, s.sock]) {
    const { reply, closed, ms } = await rawExchange(where, "GET /api/v1/health HTTP/1.1\r\nHost: nexus\r\n\r\nGET /api/v1/hea", (REQUEST_IDLE_SECONDS + 25) * 1000);
    expect(reply).toStartWith("HTTP/1.1 200");
    expect(reply.toLowerCase()).toContain("connection: close");
    expect(closed).toBe(true);
    expect(ms).toBeLessThan(REQUEST_IDLE_SECONDS * 1000);
  }
}, 120_000);

test("TCP too: a streamed answer silent for longer than the header timeout is not cut off", async () => {
  const gapMs = (REQUEST_IDLE_SECONDS + 4) * 1000;
  const enc = new TextEncoder();
  await using s = await bothServers(() => new Response(new ReadableStream({
    async start(c) {
      c.enqueue(enc.encode("first\n"));
      await new Promise((r) => setTimeout(r, gapMs));
      c.enqueue(enc.encode("last\n"));
      c.close();
    },
  })));
  const res = await fetch(`http://127.0.0.1:${s.port}/x`, { method: "POST", body: "{}" });
  expect(await res.text()).toBe("first\nlast\n");
}, 120_000);

test("the app gets a declared body whole, and an empty one for a declared length of 0 or none", async () => {
  await using s = await bothServers(async (req) => new Response(`body ${JSON.stringify(req.body === null ? "" : await req.text())}`));
  for (const where of [s.port, s.sock]) {
    const ask = async (head: string) => (await rawExchange(where, `POST /api/v1/x HTTP/1.1\r\nHost: nexus\r\n${head}`, 10_000)).reply;
    expect(await ask('Content-Length: 13\r\n\r\n{"a":"bcdef"}')).toEndWith('body "{\\"a\\":\\"bcdef\\"}"');
    expect(await ask("Content-Length: 0\r\n\r\n")).toEndWith('body ""');
    expect(await ask("\r\n")).toEndWith('body ""');
  }
}, 60_000);

// The app's shortcut past the body limit (api/http/app.ts, a length declared within it) and the
// guard's whole read (request-guard.ts) take the declared length as the body's: the server must
// refuse a length that is not one number before the app sees the request.
test("a Content-Length that is not one plain number never reaches the app", async () => {
  let reached = 0;
  await using s = await bothServers(async () => {
    reached++;
    return new Response("reached");
  });
  for (const where of [s.port, s.sock]) {
    for (const length of ["abc", "-5", "5, 6", "0x10", "1e3"]) {
      const { reply } = await rawExchange(where, `POST /api/v1/x HTTP/1.1\r\nHost: nexus\r\nContent-Length: ${length}\r\n\r\n12345`, 10_000);
      expect({ length, status: reply.split("\r\n")[0] }).toEqual({ length, status: "HTTP/1.1 400 Bad Request" });
    }
    const { reply } = await rawExchange(where, `POST /api/v1/x HTTP/1.1\r\nHost: nexus\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n123456`, 10_000);
    expect(reply.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  }
  expect(reached).toBe(0);
}, 60_000);
