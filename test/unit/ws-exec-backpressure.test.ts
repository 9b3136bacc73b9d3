// Exec output over the WebSocket (src/api/ws/connection.ts) waits for a slow reader: past
// execPauseAbove queued bytes the output callback answers with a promise (the SSH channel then
// pauses), settled once the queue is below execResumeBelow, the request is cancelled, or the socket closes.
import { describe, expect, test } from "bun:test";
import { WS_LIMITS, WsConnection, type WsConnectionDeps } from "../../src/api/ws/connection.ts";
import { EventBus } from "../../src/core/events.ts";
import type { Logger } from "../../src/core/log.ts";

type Streams = { onStdout: (b: Buffer) => unknown; onStderr: (b: Buffer) => unknown; signal: AbortSignal };

function connection() {
  const sent: any[] = [];
  const sock = { buffered: 0, closed: undefined as number | undefined };
  let streams!: Streams;
  let finish!: () => void;
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const deps = {
    workspaces: {
      resolve: (ref: string) => ({ id: `ws-${ref}`, name: ref, status: "running" }),
      exec: (_ref: string, _input: unknown, s: Streams) => {
        streams = s;
        ready();
        return new Promise((resolve, reject) => {
          finish = () => resolve({ exitCode: 0 });
          s.signal.addEventListener("abort", () => reject(s.signal.reason), { once: true });
        });
      },
    },
    files: {},
    monitor: {},
    events: new EventBus(),
    log: { info() {}, warn() {}, error() {} } as Logger,
  } as unknown as WsConnectionDeps;
  const conn = new WsConnection(deps, { send: (t) => sent.push(JSON.parse(t)), close: (code) => void (sock.closed = code), bufferedAmount: () => sock.buffered }, { workspace: "w1" });
  conn.open();
  const running = conn.message(JSON.stringify({ id: "x", type: "exec", payload: { command: "yes" } }));
  return { sent, sock, started, conn, running, streams: () => streams, finish: () => finish() };
}

/** Waits for a condition, up to a deadline. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe("WebSocket exec back-pressure", () => {
  test("output is sent at once while the socket keeps up: no promise, no pause", async () => {
    const c = connection();
    await c.started;
    expect(c.streams().onStdout(Buffer.from("hello"))).toBeUndefined();
    c.sock.buffered = WS_LIMITS.execPauseAbove;
    expect(c.streams().onStderr(Buffer.from("oops"))).toBeUndefined();
    c.finish();
    await c.running;
    expect(c.sent.filter((m) => m.type?.startsWith("exec.")).map((m) => [m.type, m.payload.data ?? m.payload.exitCode])).toEqual([
      ["exec.stdout", "hello"],
      ["exec.stderr", "oops"],
      ["exec.exit", 0],
    ]);
  });

  test("past the pause mark the callback answers a promise that settles only once the queue is below the resume mark", async () => {
    const c = connection();
    await c.started;
    c.sock.buffered = WS_LIMITS.execPauseAbove + 1;
    const behind = c.streams().onStdout(Buffer.from("a"));
    expect(behind).toBeInstanceOf(Promise);
    let settled = false;
    void (behind as Promise<void>).then(() => (settled = true));
    // Draining, but not yet below the resume mark: still waiting (it looks again every drainPollMs).
    c.sock.buffered = WS_LIMITS.execResumeBelow + 1;
    const polled = Date.now();
    await until(() => Date.now() - polled > 20 * WS_LIMITS.drainPollMs, "a few polls");
    expect(settled).toBe(false);
    c.sock.buffered = WS_LIMITS.execResumeBelow;
    await behind;
    expect(c.sock.closed).toBeUndefined(); // waiting, never dropped
    c.finish();
    await c.running;
    expect(c.sent.find((m) => m.id === "x" && "success" in m)).toMatchObject({ success: true });
  });

  test("a cancel settles a waiting callback and the command is aborted", async () => {
    const c = connection();
    await c.started;
    c.sock.buffered = WS_LIMITS.execPauseAbove + 1;
    const behind = c.streams().onStdout(Buffer.from("a")) as Promise<void>;
    await c.conn.message(JSON.stringify({ id: "c", type: "cancel", payload: { requestId: "x" } }));
    await behind;
    expect(c.streams().signal.aborted).toBe(true);
    await c.running;
    expect(c.sent.find((m) => m.id === "x" && "success" in m)).toMatchObject({ success: false, error: { code: "CANCELLED" } });
  });

  test("the connection closing settles a waiting callback and aborts the command", async () => {
    const c = connection();
    await c.started;
    c.sock.buffered = WS_LIMITS.execPauseAbove + 1;
    const behind = c.streams().onStdout(Buffer.from("a")) as Promise<void>;
    c.conn.close();
    await behind;
    expect(c.streams().signal.aborted).toBe(true);
    await c.running;
  });

  test("output that did not wait still closes a connection past the hard limit", async () => {
    const c = connection();
    await c.started;
    c.sock.buffered = WS_LIMITS.closeAbove + 1;
    expect(c.streams().onStdout(Buffer.from("a"))).toBeUndefined();
    expect(c.sock.closed).toBe(1013);
    await c.running;
  });
});
