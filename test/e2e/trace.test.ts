// The operation history against the compiled daemon and a real workspace: one record per operation
// whichever door it came through (CLI, REST, gRPC, WebSocket), `nexus trace list|show|stats|export|prune`,
// and telemetry batches reaching a local HTTP endpoint when config.yaml turns it on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import type { TraceRecord, TraceStats } from "../../src/kernel/trace.ts";
import { E2E_RUNTIME } from "../helpers/bin.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";
import { nexusRunner, requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("trace");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
let daemon: TestDaemon;
let endpoint: Server;
const batches: Array<{ source: Record<string, string>; operations: Array<Record<string, unknown>> }> = [];

const nexus = nexusRunner({ home, cwd: repo });

beforeAll(async () => {
  requireE2E();
  endpoint = createServer((req, res) => {
    let text = "";
    req.on("data", (b) => (text += b));
    req.on("end", () => {
      batches.push(JSON.parse(text));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "config.yaml"), `telemetry:\n  enabled: true\n  endpoint: http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/ops\n`);
  daemon = await startDaemon(home);
});

afterAll(async () => {
  try {
    if (daemon?.alive()) nexus(["destroy", "t1", "--force"]);
  } finally {
    await daemon?.stop();
    endpoint?.close();
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
});

describe("nexus trace", () => {
  test("create, exec through every surface, stop and destroy each leave one record", async () => {
    expect(nexus(["create", "t1"]).code).toBe(0);
    expect(nexus(["exec", "t1", "--", "sh", "-c", "exit 3"]).code).toBe(3);
    // REST without the CLI's header
    const rest = await fetch("http://nexus/api/v1/workspaces/t1/exec", { unix: join(home, "daemon.sock"), method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ command: "true" }) } as RequestInit);
    expect(((await rest.json()) as { exitCode: number }).exitCode).toBe(0);
    // gRPC
    const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
    const client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    await new Promise<void>((resolve, reject) => {
      const s = client.ExecStream({ workspaceId: "t1", command: "true" });
      s.on("data", () => {});
      s.on("end", resolve);
      s.on("error", reject);
    });
    client.close();
    // WebSocket (TCP, token)
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/v1/ws?workspace=t1`);
    const answers: any[] = [];
    ws.on("message", (m) => answers.push(JSON.parse(String(m))));
    await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
    ws.send(JSON.stringify({ type: "auth", token: daemon.token() }));
    ws.send(JSON.stringify({ id: "e1", type: "exec", payload: { command: "true" } }));
    await until("the exec answer", () => answers, (all) => all.some((a) => a.id === "e1" && "success" in a), { intervalMs: 20 });
    ws.close();
    // An operation that fails
    expect(nexus(["start", "nope"]).code).not.toBe(0);
    expect(nexus(["stop", "t1"]).code).toBe(0);
    expect(nexus(["destroy", "t1", "--force"]).code).toBe(0);

    const list = nexus(["trace", "list", "--json"]);
    expect(list.code).toBe(0);
    const ops = (JSON.parse(list.stdout) as { operations: TraceRecord[] }).operations.reverse();
    expect(ops.map((o) => [o.operation, o.surface, o.result])).toEqual([
      ["create", "cli", "ok"],
      ["exec", "cli", "ok"],
      ["exec", "rest", "ok"],
      ["exec", "grpc", "ok"],
      ["exec", "ws", "ok"],
      ["start", "cli", "error"],
      ["stop", "cli", "ok"],
      ["destroy", "cli", "ok"],
    ]);
    const [create, cliExec] = ops;
    expect(create!.workspace).toBe("t1");
    expect(create!.workspaceId).toMatch(/^ws-/);
    expect(cliExec).toMatchObject({ exitCode: 3, workspace: "t1", workspaceId: create!.workspaceId });
    expect(ops[5]).toMatchObject({ errorCode: "WORKSPACE_NOT_FOUND", workspace: "nope" });
    expect(create!.durationMs).toBeGreaterThan(ops[2]!.durationMs);

    // list (table, --workspace, --limit), show, stats, export
    const table = nexus(["trace", "list", "--workspace", "t1", "--limit", "2"]).stdout.trim().split("\n");
    expect(table[0]).toMatch(/^ID\s+STARTED\s+OPERATION\s+WORKSPACE\s+SURFACE\s+DURATION\s+RESULT$/);
    expect(table.slice(1).map((l) => l.split(/\s+/)[3])).toEqual(["destroy", "stop"]);
    expect(nexus(["trace", "show", cliExec!.id]).stdout).toContain("exitCode      3");
    expect(nexus(["trace", "show", "op-none"]).code).not.toBe(0);
    const stats = JSON.parse(nexus(["trace", "stats", "--json"]).stdout) as TraceStats;
    expect(stats.total).toBe(8);
    expect(stats.operations.find((o) => o.operation === "exec")).toMatchObject({ count: 4, errors: 0 });
    expect(stats.operations.find((o) => o.operation === "start")).toMatchObject({ count: 1, errors: 1, errorCodes: { WORKSPACE_NOT_FOUND: 1 } });
    expect(nexus(["trace", "stats"]).stdout).toMatch(/exec\s+4\s+0\s+\d/);
    const exported = nexus(["trace", "export", "--format", "jsonl"]).stdout.trim().split("\n").map((l) => JSON.parse(l).id);
    expect(exported).toEqual(ops.map((o) => o.id));
    expect(nexus(["trace", "export", "--format", "csv"]).code).toBe(2);

    // telemetry: the same operations reached the endpoint, batched, without names
    const sent = async () => batches.flatMap((b) => b.operations.map((o) => o.id));
    await until("eight operations reach the endpoint", sent, (ids) => ids.length >= 8, 30_000).catch(() => undefined); // the comparison below says what came
    expect(await sent()).toEqual(ops.map((o) => o.id));
    expect(batches[0]!.source).toMatchObject({ name: "nexus", runtime: E2E_RUNTIME });
    expect(JSON.stringify(batches)).not.toContain('"t1"');

    // prune
    expect(nexus(["trace", "prune", "--older-than", "1h"]).stdout).toContain("Removed 0 operations");
    expect(nexus(["trace", "prune", "--older-than", "0s"]).stdout).toContain("Removed 8 operations");
    expect(nexus(["trace", "list"]).stdout).toBe("No operations recorded yet\n");
  }, 900_000);
});
