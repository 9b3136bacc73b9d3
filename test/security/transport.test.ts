// Low list, on the compiled daemon's TCP listener: a web page's WebSocket is refused, and half-sent
// requests do not hold a connection for ever.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("sec-transport");
let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startDaemon(join(root.path, "nexus"));
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
  await root[Symbol.asyncDispose]();
});

/** Sends `text` on a fresh TCP connection; answers what came back and whether the server closed it in time. */
function exchange(port: number, text: string, waitMs: number): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let reply = "";
    let closed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ reply, closed });
    }, waitMs);
    sock.on("data", (b) => (reply += b.toString("latin1")));
    sock.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve({ reply, closed });
    });
    sock.on("error", () => {});
    sock.write(text);
  });
}

const upgrade = (port: number, origin?: string) =>
  `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${origin ? `Origin: ${origin}\r\n` : ""}\r\n`;

test("the WebSocket on TCP refuses a browser Origin that is not the daemon's own", async () => {
  const evil = await exchange(daemon.port, upgrade(daemon.port, "http://evil.example"), 5_000);
  expect(evil.reply).toStartWith("HTTP/1.1 403");
  const own = await exchange(daemon.port, upgrade(daemon.port, `http://127.0.0.1:${daemon.port}`), 2_000);
  expect(own.reply).toStartWith("HTTP/1.1 101");
  const cli = await exchange(daemon.port, upgrade(daemon.port), 2_000);
  expect(cli.reply).toStartWith("HTTP/1.1 101");
}, 60_000);

test("a half-sent body is refused and its connection closed, not held for ever", async () => {
  const body = await exchange(daemon.port, `POST /api/v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${daemon.token()}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tt`, 45_000);
  expect(body.reply).toStartWith("HTTP/1.1 400");
  expect(body.reply).toContain("stopped arriving");
  expect(body.closed).toBe(true);
  expect(daemon.alive()).toBe(true);
}, 120_000);

test("encoded path traversal is refused with INVALID_ARGUMENT on both listeners, before any route runs", async () => {
  const sock = join(daemon.home, "daemon.sock");
  const attacks = [
    "POST /api/v1/workspaces/ws/services/%2e%2e/restart",
    "DELETE /api/v1/workspaces/ws/checkpoints/%2E%2E",
    "DELETE /api/v1/workspaces/ws/checkpoints/%2e%2e/",
    "POST /api/v1/workspaces/ws%2f..%2f..%2fdaemon/shutdown",
    "POST /api/v1/workspaces/ws/services/%252e%252e/restart",
    "POST /api/v1/workspaces/x/..\\..\\daemon\\shutdown",
  ];
  for (const where of [daemon.port, sock] as const) {
    for (const line of attacks) {
      const text = `${line} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${daemon.token()}\r\nContent-Length: 0\r\n\r\n`;
      const { reply } = await (typeof where === "number" ? exchange(where, text, 10_000) : exchangeUnix(where, text, 10_000));
      expect(`${line} -> ${reply.split("\r\n")[0]}`).toBe(`${line} -> HTTP/1.1 400 Bad Request`);
      expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).error.code).toBe("INVALID_ARGUMENT");
    }
  }
  expect(daemon.alive()).toBe(true);
}, 120_000);

test("stalled headers, on a first or a kept-alive second request, are cut on both listeners while others are served", async () => {
  const sock = join(daemon.home, "daemon.sock");
  const health = `GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${daemon.token()}\r\n\r\n`;
  const stalled = Array.from({ length: 40 }, (_, i) => {
    const text = i % 2 ? "GET /api/v1/hea" : `${health}GET /api/v1/hea`;
    return i % 4 < 2 ? exchange(daemon.port, text, 45_000) : exchangeUnix(sock, text, 45_000);
  });
  const ok = await exchange(daemon.port, health, 10_000);
  expect(ok.reply).toStartWith("HTTP/1.1 200");
  const okUnix = await exchangeUnix(sock, health, 10_000);
  expect(okUnix.reply).toStartWith("HTTP/1.1 200");
  const results = await Promise.all(stalled);
  expect(results.filter((r) => !r.closed).length).toBe(0);
  expect(daemon.alive()).toBe(true);
}, 120_000);

function exchangeUnix(path: string, text: string, waitMs: number): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(path);
    let reply = "";
    const timer = setTimeout(() => (sock.destroy(), resolve({ reply, closed: false })), waitMs);
    sock.on("data", (b) => (reply += b.toString("latin1")));
    sock.on("close", () => (clearTimeout(timer), resolve({ reply, closed: true })));
    sock.on("error", () => {});
    sock.write(text);
  });
}
