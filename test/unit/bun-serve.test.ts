// The daemon's Bun server: a streamed answer may stay silent longer than a stalled request body may
// (an exec that prints nothing for minutes must not be cut off), and a stalled body is refused.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunRuntime, REQUEST_IDLE_SECONDS } from "../../src/runtime/bun.ts";

test("a streamed answer silent for longer than the body timeout is not cut off", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nexus-serve-"));
  const sock = join(dir, "s.sock");
  const gapMs = (REQUEST_IDLE_SECONDS + 2) * 1000;
  const server = await bunRuntime.serveUnix(sock, async (req) => {
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
    const res = await bunRuntime.fetchUnix(sock, "http://nexus/x", { method: "POST", body: "{}" });
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
  const server = await bunRuntime.serveUnix(sock, async () => {
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
