// Telemetry against a real local HTTP server: batches arrive; an endpoint that hangs or answers 500
// changes nothing for the operation (it has its answer while the POST is still open), and the queue
// stays bounded. Nothing is sent unless telemetry.enabled and telemetry.endpoint are both set.
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { OperationTrace } from "../../src/core/trace/recorder.ts";
import { telemetryFromConfig, TelemetryExporter } from "../../src/core/trace/telemetry.ts";
import type { TraceRecord } from "../../src/kernel/trace.ts";
import { TraceLog } from "../../src/store/trace-log.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";

const SOURCE = { version: "1.2.3", runtime: "bun", platform: "linux-x64" };
const servers: Server[] = [];
/** Answers an endpoint holds open: ended after each test, or (under Deno) the open request keeps the file's worker alive. */
const held: ServerResponse[] = [];
afterEach(() => {
  for (const res of held.splice(0)) if (!res.writableEnded) res.end();
  for (const s of servers.splice(0)) s.close();
});

interface Received {
  body: { source: Record<string, string>; operations: Array<Record<string, unknown>> };
  headers: IncomingMessage["headers"];
}

/** A local endpoint; `answer` decides what each POST gets (or holds it open by not answering). */
async function endpoint(answer: (res: ServerResponse, n: number) => void): Promise<{ url: string; received: Received[]; waitFor(n: number): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (b) => (text += b));
    req.on("end", () => {
      received.push({ body: JSON.parse(text), headers: req.headers });
      held.push(res);
      answer(res, received.length);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ops`;
  const waitFor = async (n: number) => void (await until(`${n} batches arrive`, () => received.length, (k) => k >= n, { timeoutMs: 20_000, intervalMs: 10 }));
  return { url, received, waitFor };
}

function rec(i: number): TraceRecord {
  return { id: `op-${i}`, operation: "exec", startedAt: new Date().toISOString(), durationMs: 3, result: i % 2 ? "ok" : "error", ...(i % 2 ? {} : { errorCode: "INVALID_STATE", errorMessage: "secret path /home/me/x" }), surface: "cli", workspace: "my-secret-project", workspaceId: "ws-1" };
}


describe("telemetry", () => {
  test("only with telemetry.enabled true and an endpoint", () => {
    expect(telemetryFromConfig(undefined, { source: SOURCE })).toBeUndefined();
    expect(telemetryFromConfig({ enabled: true }, { source: SOURCE })).toBeUndefined();
    expect(telemetryFromConfig({ endpoint: "http://127.0.0.1:1/x" }, { source: SOURCE })).toBeUndefined();
    expect(telemetryFromConfig({ enabled: false, endpoint: "http://127.0.0.1:1/x" }, { source: SOURCE })).toBeUndefined();
    expect(telemetryFromConfig({ enabled: true, endpoint: "http://127.0.0.1:1/x" }, { source: SOURCE })).toBeInstanceOf(TelemetryExporter);
    const c = parseConfig("telemetry:\n  enabled: true\n  endpoint: https://telemetry.example.com/v1\n", "x.yaml");
    expect(c.telemetry).toEqual({ enabled: true, endpoint: "https://telemetry.example.com/v1" });
    expect(() => parseConfig("telemetry:\n  endpoint: not a url\n", "x.yaml")).toThrow(/telemetry.endpoint/);
  });

  test("records arrive in batches, without names, paths or messages", async () => {
    const ep = await endpoint((res) => res.writeHead(204).end());
    const t = new TelemetryExporter({ endpoint: ep.url, source: SOURCE, batchSize: 3, flushMs: 50 });
    for (let i = 0; i < 7; i++) t.push(rec(i));
    await ep.waitFor(3);
    expect(ep.received.map((r) => r.body.operations.length)).toEqual([3, 3, 1]);
    expect(ep.received.flatMap((r) => r.body.operations.map((o) => o.id))).toEqual(["op-0", "op-1", "op-2", "op-3", "op-4", "op-5", "op-6"]);
    const first = ep.received[0]!;
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.body.source).toEqual({ name: "nexus", ...SOURCE });
    expect(first.body.operations[0]).toEqual({ id: "op-0", operation: "exec", startedAt: expect.any(String), durationMs: 3, result: "error", errorCode: "INVALID_STATE", surface: "cli", workspaceId: "ws-1" });
    expect(JSON.stringify(ep.received)).not.toContain("secret");
    await until("all sent", () => t.counts.sent, (n) => n === 7, { timeoutMs: 20_000, intervalMs: 10 });
    await t.close();
  });

  for (const [name, answer] of [
    ["hangs", () => {}],
    ["answers 500", (res: ServerResponse) => res.writeHead(500).end("down")],
  ] as const) {
    test(`an endpoint that ${name} changes nothing for the operation`, async () => {
      const ep = await endpoint(answer);
      await using dir = tempDir("telemetry");
      const exporter = new TelemetryExporter({ endpoint: ep.url, source: SOURCE, batchSize: 1, flushMs: 10, timeoutMs: 300 });
      const trace = new OperationTrace({ log: new TraceLog(join(dir.path, "trace")), sink: exporter });
      // An operation: its span ends, the caller goes on; the POST for it is made after.
      const span = trace.begin("exec", "cli", { workspace: "demo" });
      span.end({ exitCode: 0 });
      await ep.waitFor(1);
      // The POST is open (hang) or failed (500): the next operation records the same way, and the
      // local history has both before the POST is given up.
      trace.begin("stop", "cli").end({});
      expect((await trace.list()).length).toBe(2);
      await until("the failed POST to be given up", () => exporter.counts.failedBatches, (n) => n >= 1, { timeoutMs: 20_000, intervalMs: 10 });
      expect(exporter.counts.sent).toBe(0);
      expect((await trace.list()).map((r) => [r.operation, r.result])).toEqual([["stop", "ok"], ["exec", "ok"]]);
      await exporter.close();
    });
  }

  test("the queue is bounded while the endpoint hangs: the oldest records are dropped", async () => {
    const ep = await endpoint(() => {});
    const t = new TelemetryExporter({ endpoint: ep.url, source: SOURCE, batchSize: 2, flushMs: 10, maxQueue: 5, timeoutMs: 200 });
    t.push(rec(0));
    t.push(rec(1));
    await ep.waitFor(1); // that batch is in flight and hangs
    for (let i = 2; i < 30; i++) t.push(rec(i));
    // 28 pushed behind the hanging batch, 5 kept.
    expect(t.counts.dropped).toBe(23);
    await until("the timeout", () => t.counts.failedBatches, (n) => n >= 1, { timeoutMs: 20_000, intervalMs: 10 });
    await ep.waitFor(2);
    expect(ep.received[1]!.body.operations.map((o) => o.id)).toEqual(["op-25", "op-26"]);
    await t.close();
  });
});
