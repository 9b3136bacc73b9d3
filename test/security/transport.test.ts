// Low list, on the compiled daemon's TCP listener: a web page's WebSocket is refused, and half-sent
// requests do not hold a connection for ever.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { tempDir } from "../helpers/fixtures.ts";

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
