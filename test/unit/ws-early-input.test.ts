// Keys a WebSocket client sends for a terminal it asked to attach, before the attach is made (the CLI
// writes them at once: `echo 'exit 3' | nexus console ws`, or a fast typist): they reach the terminal
// once it is made, in order, with the last window size and a detach sent meanwhile, instead of being
// refused ("not attached") and lost. A fake session service makes the attach wait for the test.
import { describe, expect, test } from "bun:test";
import { WsConnection, WS_LIMITS } from "../../src/api/ws/connection.ts";
import { EventBus } from "../../src/core/events.ts";
import { silentLogger } from "../../src/core/log.ts";
import type { AttachEnd, TerminalAttach, TerminalSize } from "../../src/core/sessions/types.ts";

interface FakeTerminal {
  written: string[];
  sizes: TerminalSize[];
  detached: boolean;
  /** Makes the pending attach answer. */
  make(): void;
}

function connection() {
  const sent: Array<{ id?: string | null; type?: string; success?: boolean; error?: { code: string } }> = [];
  const term: FakeTerminal = { written: [], sizes: [], detached: false, make: () => {} };
  let end: (e: AttachEnd) => void = () => {};
  const attach: TerminalAttach = {
    sessionId: "ses-00000001",
    write: (d) => void term.written.push(String(d)),
    resize: (s) => void term.sizes.push(s),
    detach: () => {
      term.detached = true;
      end({ sessionId: "ses-00000001", reason: "detached", exitCode: null });
    },
    done: new Promise<AttachEnd>((r) => (end = r)),
  };
  const sessions = {
    attach: () => new Promise<TerminalAttach>((resolve) => (term.make = () => resolve(attach))),
  };
  const ws = new WsConnection(
    { workspaces: {} as never, sessions: sessions as never, files: {} as never, monitor: {} as never, events: new EventBus(), log: silentLogger },
    { send: (t) => void sent.push(JSON.parse(t)), close() {}, bufferedAmount: () => 0 },
    {},
  );
  ws.open();
  const send = (m: object) => ws.message(JSON.stringify(m));
  const input = (data: string) => send({ type: "session.input", payload: { sessionId: "ses-00000001", data: Buffer.from(data).toString("base64"), encoding: "base64" } });
  return { ws, sent, term, send, input, end: (e: AttachEnd) => end(e) };
}

/** Lets the connection's awaits run (the fake attach answers only when told). */
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("input before the attach is made", () => {
  test("keys and the window size sent meanwhile reach the terminal once it is made, in order", async () => {
    const c = connection();
    try {
      void c.send({ id: "attach", type: "session.attach", payload: { sessionId: "ses-00000001", cols: 80, rows: 24 } });
      await settle();
      await c.input("exit ");
      await c.input("3\n");
      await c.send({ type: "session.resize", payload: { sessionId: "ses-00000001", cols: 120, rows: 40 } });
      expect(c.term.written).toEqual([]);
      c.term.make();
      await settle();
      expect(c.term.written).toEqual(["exit ", "3\n"]);
      expect(c.term.sizes).toEqual([{ cols: 120, rows: 40 }]);
      // Nothing was refused.
      expect(c.sent.filter((m) => m.success === false)).toEqual([]);
      // After the attach, keys go straight through.
      await c.input("ls\n");
      expect(c.term.written).toEqual(["exit ", "3\n", "ls\n"]);
      c.end({ sessionId: "ses-00000001", reason: "exited", exitCode: 3 });
    } finally {
      c.ws.close();
    }
  });

  test("a detach sent meanwhile detaches the terminal once it is made", async () => {
    const c = connection();
    try {
      void c.send({ id: "attach", type: "session.attach", payload: { sessionId: "ses-00000001", cols: 80, rows: 24 } });
      await settle();
      await c.send({ id: "detach", type: "session.detach", payload: { sessionId: "ses-00000001" } });
      expect(c.term.detached).toBe(false);
      c.term.make();
      await settle();
      expect(c.term.detached).toBe(true);
    } finally {
      c.ws.close();
    }
  });

  test("more than the limit of early keys is refused, not held", async () => {
    const c = connection();
    try {
      void c.send({ id: "attach", type: "session.attach", payload: { sessionId: "ses-00000001", cols: 80, rows: 24 } });
      await settle();
      await c.input("x".repeat(WS_LIMITS.maxEarlyInputBytes));
      await c.input("y");
      expect(c.sent.filter((m) => m.error).map((m) => m.error!.code)).toEqual(["RESOURCE_EXHAUSTED"]);
      c.term.make();
      await settle();
      expect(c.term.written.join("")).toBe("x".repeat(WS_LIMITS.maxEarlyInputBytes));
      c.end({ sessionId: "ses-00000001", reason: "detached", exitCode: null });
    } finally {
      c.ws.close();
    }
  });

  test("input for a session this connection never asked to attach is still refused", async () => {
    const c = connection();
    try {
      await c.input("ls\n");
      expect(c.sent.map((m) => m.error?.code)).toEqual(["INVALID_STATE"]);
    } finally {
      c.ws.close();
    }
  });
});
