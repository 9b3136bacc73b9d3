// The WebSocket protocol handler (src/api/ws/connection.ts) with a fake socket and a fake core: no
// Docker, no network. The e2e test (test/e2e/ws.test.ts) runs the same protocol against the daemon.
import { describe, expect, test } from "bun:test";
import { leadingId, WS_LIMITS, WsConnection, type WsConnectionDeps } from "../../src/api/ws/connection.ts";
import { EventBus } from "../../src/core/events.ts";
import type { Logger } from "../../src/core/log.ts";

function connection(exec: (signal?: AbortSignal) => Promise<{ exitCode: number }>, opts: { workspace?: string } = { workspace: "w1" }) {
  const sent: any[] = [];
  const errors: string[] = [];
  const log: Logger = { info() {}, warn() {}, error: (l: string) => void errors.push(l) };
  const deps = {
    workspaces: {
      resolve: (ref: string) => ({ id: `ws-${ref}`, name: ref, status: "running" }),
      exec: (_ref: string, _input: unknown, streams: { signal?: AbortSignal }) => exec(streams.signal),
    },
    files: {},
    monitor: {},
    events: new EventBus(),
    log,
  } as unknown as WsConnectionDeps;
  const conn = new WsConnection(deps, { send: (t) => sent.push(JSON.parse(t)), close() {}, bufferedAmount: () => 0 }, opts);
  conn.open();
  return { conn, sent, errors, events: (deps as unknown as { events: EventBus }).events };
}

describe("WsConnection", () => {
  test("a cancelled exec answers CANCELLED, not an internal error, and logs no error", async () => {
    const { conn, sent, errors } = connection(
      (signal) => new Promise((_, reject) => signal!.addEventListener("abort", () => reject(signal!.reason), { once: true })),
    );
    const running = conn.message(JSON.stringify({ id: "long", type: "exec", payload: { command: "sleep", args: ["300"] } }));
    await conn.message(JSON.stringify({ id: "c", type: "cancel", payload: { requestId: "long" } }));
    await running;
    expect(sent.find((m) => m.id === "c")).toMatchObject({ success: true, result: { cancelled: true } });
    expect(sent.find((m) => m.id === "long")).toMatchObject({ success: false, error: { code: "CANCELLED", retryable: false, details: { requestId: "long" } } });
    expect(errors).toEqual([]);
  });

  test("a message over the size limit is answered with RESOURCE_EXHAUSTED under its own id", async () => {
    const { conn, sent } = connection(async () => ({ exitCode: 0 }));
    const big = JSON.stringify({ id: "big", type: "fs.writeFile", payload: { path: "a", content: "x".repeat(WS_LIMITS.maxMessageBytes) } });
    await conn.message(big);
    await conn.message(new TextEncoder().encode(big.replace('"big"', '"big2"')).buffer);
    expect(sent.map((m) => [m.id, m.error?.code])).toEqual([
      ["big", "RESOURCE_EXHAUSTED"],
      ["big2", "RESOURCE_EXHAUSTED"],
    ]);
  });

  test("leadingId reads the id only when it leads the message", () => {
    expect(leadingId(' { "id" : "r-1", "type": "exec"')).toBe("r-1");
    expect(leadingId('{"type":"exec","id":"r-1"}')).toBeNull();
    expect(leadingId('{"id":5}')).toBeNull();
    expect(leadingId(new TextEncoder().encode('{"id":"bin"}'))).toBe("bin");
  });

  test("events of every workspace reach a client that never subscribed; subscribe narrows them", async () => {
    const { conn, sent, events } = connection(async () => ({ exitCode: 0 }), {});
    const status = (workspaceId: string) => events.publish({ type: "workspace.status", payload: { workspaceId, status: "running" } } as never);
    status("ws-a");
    status("ws-b");
    expect(sent.filter((m) => m.type === "workspace.status").map((m) => m.payload.workspaceId)).toEqual(["ws-a", "ws-b"]);
    await conn.message(JSON.stringify({ id: "s", type: "subscribe", payload: { workspaceId: "a", stats: false } }));
    expect(sent.find((m) => m.id === "s")).toMatchObject({ success: true });
    status("ws-a");
    status("ws-b");
    expect(sent.filter((m) => m.type === "workspace.status").map((m) => m.payload.workspaceId)).toEqual(["ws-a", "ws-b", "ws-a"]);
    conn.close();
  });

  test("?workspace= narrows from the start", () => {
    const { conn, sent, events } = connection(async () => ({ exitCode: 0 }));
    events.publish({ type: "workspace.status", payload: { workspaceId: "ws-other", status: "running" } } as never);
    events.publish({ type: "workspace.status", payload: { workspaceId: "ws-w1", status: "running" } } as never);
    expect(sent.filter((m) => m.type === "workspace.status").map((m) => m.payload.workspaceId)).toEqual(["ws-w1"]);
    conn.close();
  });
});
