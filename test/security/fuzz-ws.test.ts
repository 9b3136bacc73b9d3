// WebSocket fuzzer (bounded, seeded): random protocol messages to the connection handler over the real
// services. Every message with an id gets one answer with that id (success or an error envelope),
// none is INTERNAL_ERROR, and the handler never throws.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { WsConnection } from "../../src/api/ws/connection.ts";
import { ERROR_CODES } from "../../src/core/errors.ts";
import { WorkspaceFiles } from "../../src/core/files.ts";
import { silentLogger } from "../../src/core/log.ts";
import { WorkspaceMonitor } from "../../src/core/monitor.ts";
import { harness, type Harness } from "./harness.ts";
import { fuzzRuns, fuzzSeed, Gen, rng } from "./fuzz-gen.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;

beforeAll(async () => {
  h = await harness("sec-fuzz-ws");
}, 300_000);

afterAll(async () => {
  await h?.close();
});

const TYPES = ["exec", "fs.readFile", "fs.writeFile", "fs.readdir", "subscribe", "unsubscribe", "cancel", "auth", "session.attach", "session.input", "session.resize", "session.detach", "nope", ""];

test("random WebSocket messages get answers under their own id, never INTERNAL_ERROR", async () => {
  const g = new Gen(rng(fuzzSeed("ws")));
  const sent: Array<{ id?: string; success?: boolean; error?: { code: string } }> = [];
  const ws = h.s.workspaces;
  const conn = new WsConnection(
    { workspaces: ws, sessions: h.s.sessions, files: new WorkspaceFiles(ws), monitor: new WorkspaceMonitor({ workspaces: ws, docker: h.s.docker, events: h.s.events }), events: h.s.events, log: silentLogger },
    { send: (t) => sent.push(JSON.parse(t)), close() {}, bufferedAmount: () => 0 },
    {},
  );
  conn.open();
  const codes = new Set(Object.keys(ERROR_CODES));
  const runs = fuzzRuns();
  for (let i = 0; i < runs; i++) {
    const id = `f${i}`;
    const shape = g.int(6);
    const msg =
      shape === 0
        ? g.body()
        : JSON.stringify({ id, type: g.pick(TYPES), ...(g.int(4) ? { payload: g.int(3) ? { ...g.object(), ...(g.int(2) ? { workspaceId: g.pick(["nope", "%2e%2e", "", "x".repeat(300)]) } : {}) } : g.value() } : {}) });
    const before = sent.length;
    await conn.message(msg);
    for (const m of sent.slice(before)) {
      if (m.error && !codes.has(m.error.code)) throw new Error(`#${i} ${msg.slice(0, 200)} answered code ${m.error.code}`);
      if (m.error?.code === "INTERNAL_ERROR") throw new Error(`#${i} ${msg.slice(0, 200)} answered INTERNAL_ERROR: ${JSON.stringify(m).slice(0, 300)}`);
    }
  }
  expect(sent.length).toBeGreaterThan(0);
  conn.close?.();
}, 600_000);
