// The operation history: the JSON-lines file (rotation, torn lines, prune), the stats, and the
// recording at the façade through the real REST app (real service and store; an engine address that
// does not exist, so nothing reaches Docker).
import { describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/api/http/app.ts";
import { parseConfig } from "../../src/config/load.ts";
import { EventBus } from "../../src/core/events.ts";
import { silentLogger } from "../../src/core/log.ts";
import { PortAllocator } from "../../src/core/ports.ts";
import { tracedFacades } from "../../src/core/trace/facades.ts";
import { OperationTrace } from "../../src/core/trace/recorder.ts";
import { percentile, traceStats } from "../../src/core/trace/stats.ts";
import { withSurface } from "../../src/core/trace/surface.ts";
import { WorkspaceService } from "../../src/core/workspaces.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import type { TraceRecord } from "../../src/kernel/trace.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { TraceLog } from "../../src/store/trace-log.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { buildInfo } from "../../src/version.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { appRequester } from "../helpers/http.ts";
import { makeRecord } from "../helpers/records.ts";

const CLIENT_KEY = generateEd25519("nexus-test-client");

function rec(i: number, over: Partial<TraceRecord> = {}): TraceRecord {
  return { id: `op-${i}`, operation: "exec", startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), durationMs: i, result: "ok", surface: "rest", ...over };
}

describe("the history file", () => {
  test("appends lines, reads them back oldest first, and skips a line torn by a crash", async () => {
    await using dir = tempDir("trace");
    const log = new TraceLog(dir.path);
    await log.append([rec(1), rec(2)]);
    appendFileSync(log.file, '{"id":"op-torn","operat');
    appendFileSync(log.file, "\n");
    await log.append([rec(3)]);
    expect((await log.read()).map((r) => r.id)).toEqual(["op-1", "op-2", "op-3"]);
  });

  test("its folder, made at the first append, is made again when it was removed meanwhile", async () => {
    await using dir = tempDir("trace");
    const log = new TraceLog(join(dir.path, "trace"));
    await log.append([rec(1)]);
    expect(statSync(log.dir).mode & 0o777).toBe(0o700);
    rmSync(log.dir, { recursive: true, force: true });
    await log.append([rec(2)]);
    expect(statSync(log.dir).mode & 0o777).toBe(0o700);
    expect((await log.read()).map((r) => r.id)).toEqual(["op-2"]);
    await log.append([rec(3)]);
    expect((await log.read()).map((r) => r.id)).toEqual(["op-2", "op-3"]);
  });

  test("rotates by size and keeps a bounded number of files", async () => {
    await using dir = tempDir("trace");
    const log = new TraceLog(dir.path, { maxBytes: 600, keep: 2 });
    for (let i = 0; i < 60; i++) await log.append([rec(i)]);
    const files = readdirSync(dir.path).sort();
    expect(files).toEqual(["operations.1.jsonl", "operations.2.jsonl", "operations.jsonl"]);
    for (const f of files) expect(readFileSync(join(dir.path, f)).length).toBeLessThanOrEqual(600);
    const ids = (await log.read()).map((r) => Number(r.id.slice(3)));
    // The newest survive, in order; the oldest rotated out.
    expect(ids[ids.length - 1]).toBe(59);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids[0]).toBeGreaterThan(0);
  });

  test("prune removes what started before a date, in every file", async () => {
    await using dir = tempDir("trace");
    const log = new TraceLog(dir.path, { maxBytes: 400, keep: 3 });
    for (let i = 0; i < 12; i++) await log.append([rec(i)]);
    const removed = await log.prune(new Date(Date.UTC(2026, 0, 1, 0, 0, 8)));
    expect(removed).toBe(8);
    expect((await log.read()).map((r) => r.id)).toEqual(["op-8", "op-9", "op-10", "op-11"]);
    await log.append([rec(12)]);
    expect((await log.read()).map((r) => r.id).at(-1)).toBe("op-12");
  });
});

describe("stats", () => {
  test("nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBe(0);
  });

  test("count, errors by code, p50/p95 per operation", () => {
    const s = traceStats([rec(1), rec(2), rec(3), rec(4, { operation: "create", result: "error", errorCode: "INVALID_STATE" }), rec(5, { operation: "create" })]);
    expect(s.total).toBe(5);
    expect(s.since).toBe(rec(1).startedAt);
    expect(s.operations).toEqual([
      { operation: "exec", count: 3, errors: 0, errorCodes: {}, p50Ms: 2, p95Ms: 3, maxMs: 3 },
      { operation: "create", count: 2, errors: 1, errorCodes: { INVALID_STATE: 1 }, p50Ms: 4, p95Ms: 5, maxMs: 5 },
    ]);
  });
});

function makeApp() {
  const dir = tempDir("trace-app");
  const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
  const config = parseConfig("", "x.yaml");
  const store = new WorkspaceStore(paths);
  const workspaces = new WorkspaceService({
    paths,
    config,
    store,
    docker: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }),
    ssh: new SshPool({ privateKey: CLIENT_KEY.privateKey }),
    ports: new PortAllocator(config.ssh.port_range, () => []),
    events: new EventBus(),
    log: silentLogger,
    instance: "test",
    clientKey: CLIENT_KEY,
    hostUser: { uid: 1000, gid: 1000, home: dir.path },
  });
  const trace = new OperationTrace({ log: new TraceLog(paths.trace) });
  const traced = tracedFacades({ workspaces }, trace);
  const app = createApp({ workspaces: traced.workspaces, trace, build: buildInfo(), daemon: { shutdown: () => {}, pid: 1, startedAt: "2026-01-01T00:00:00.000Z" }, log: silentLogger });
  return { dir, paths, store, workspaces, traced, trace, request: appRequester(app) };
}

describe("recording at the façade", () => {
  test("each operation through REST leaves one record: surface, workspace, result and error code", async () => {
    const env = makeApp();
    await using _ = env.dir;
    const r = makeRecord({ name: "demo", status: "stopped" });
    env.store.save(r);
    // A stopped workspace refuses exec: an operation that ran and failed.
    const exec = await env.request("POST", `/api/v1/workspaces/demo/exec`, { command: "true" });
    expect(exec.status).toBe(409);
    const missing = await env.request("POST", "/api/v1/workspaces/nope/stop", {}, { "x-nexus-client": "cli" });
    expect(missing.status).toBe(404);
    // A view is no operation: not recorded.
    expect((await env.request("GET", "/api/v1/workspaces/demo")).status).toBe(200);
    const list = (await (await env.request("GET", "/api/v1/trace")).json()) as { operations: TraceRecord[] };
    expect(list.operations).toHaveLength(2);
    const [stop, ex] = list.operations;
    expect(stop).toMatchObject({ operation: "stop", surface: "cli", result: "error", errorCode: "WORKSPACE_NOT_FOUND", workspace: "nope" });
    expect(ex).toMatchObject({ operation: "exec", surface: "rest", result: "error", errorCode: "INVALID_STATE", workspace: "demo", workspaceId: r.id });
    expect(ex!.id).toMatch(/^op-[0-9a-z]+-[0-9a-f]{6}$/);
    expect(ex!.durationMs).toBeGreaterThanOrEqual(0);
    // The file under NEXUS_HOME/trace holds them as JSON lines.
    expect(readFileSync(join(env.paths.trace, "operations.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    // show, list --workspace, --limit, stats, export, prune
    expect(await (await env.request("GET", `/api/v1/trace/${ex!.id}`)).json()).toEqual(ex!);
    expect((await env.request("GET", "/api/v1/trace/op-nothing")).status).toBe(404);
    expect(((await (await env.request("GET", "/api/v1/trace?workspace=demo")).json()) as { operations: unknown[] }).operations).toHaveLength(1);
    expect(((await (await env.request("GET", `/api/v1/trace?workspace=${r.id}`)).json()) as { operations: unknown[] }).operations).toHaveLength(1);
    expect(((await (await env.request("GET", "/api/v1/trace?limit=1")).json()) as { operations: TraceRecord[] }).operations.map((o) => o.id)).toEqual([stop!.id]);
    expect((await env.request("GET", "/api/v1/trace?limit=0")).status).toBe(400);
    const stats = (await (await env.request("GET", "/api/v1/trace/stats")).json()) as { total: number; operations: Array<{ operation: string; errorCodes: Record<string, number> }> };
    expect(stats.total).toBe(2);
    expect(stats.operations.find((o) => o.operation === "exec")!.errorCodes).toEqual({ INVALID_STATE: 1 });
    const exported = await (await env.request("GET", "/api/v1/trace/export")).text();
    expect(exported.trim().split("\n").map((l) => JSON.parse(l).id)).toEqual([ex!.id, stop!.id]);
    expect((await env.request("GET", "/api/v1/trace/export?format=csv")).status).toBe(400);
    expect((await env.request("DELETE", "/api/v1/trace?olderThan=soon")).status).toBe(400);
    expect(await (await env.request("DELETE", "/api/v1/trace?olderThan=1d")).json()).toMatchObject({ removed: 0 });
    expect(await (await env.request("DELETE", "/api/v1/trace?olderThan=0s")).json()).toMatchObject({ removed: 2 });
    expect(((await (await env.request("GET", "/api/v1/trace")).json()) as { operations: unknown[] }).operations).toHaveLength(0);
  });

  test("a hook the workspace does not define is refused (NOT_FOUND) and not recorded; a defined one is", async () => {
    const env = makeApp();
    await using _ = env.dir;
    const bare = makeRecord({ name: "bare", status: "running", mountPath: join(env.dir.path, "bare") });
    mkdirSync(bare.mountPath, { recursive: true });
    const hooked = makeRecord({ name: "hooked", status: "stopped", mountPath: join(env.dir.path, "hooked") });
    mkdirSync(join(hooked.mountPath, ".nexus"), { recursive: true });
    writeFileSync(join(hooked.mountPath, ".nexus", "workspace.yaml"), "hooks:\n  post-attach: echo attached\n");
    env.store.save(bare);
    env.store.save(hooked);
    // What every interactive console or ssh asks: nothing to run, and the answer stays NOT_FOUND.
    const none = await env.request("POST", "/api/v1/workspaces/bare/hooks/post-attach", {}, { "x-nexus-client": "cli" });
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "NOT_FOUND", message: "Workspace 'bare' has no post-attach hook" });
    await expect(withSurface("grpc", () => env.traced.workspaces.runHook("bare", "post-start"))).rejects.toMatchObject({ code: "NOT_FOUND" });
    // A defined hook is an operation, whatever its outcome (here refused: the workspace is stopped).
    expect((await env.request("POST", "/api/v1/workspaces/hooked/hooks/post-attach", {}, { "x-nexus-client": "cli" })).status).toBe(409);
    // So are a hook name that does not exist and an unknown workspace.
    expect((await env.request("POST", "/api/v1/workspaces/bare/hooks/post-nothing", {})).status).toBe(400);
    expect((await env.request("POST", "/api/v1/workspaces/nope/hooks/post-attach", {})).status).toBe(404);
    const ops = await env.trace.list();
    expect(ops.map((o) => [o.operation, o.workspace, o.errorCode])).toEqual([
      ["hook", "nope", "WORKSPACE_NOT_FOUND"],
      ["hook", "bare", "INVALID_ARGUMENT"],
      ["hook", "hooked", "INVALID_STATE"],
    ]);
  });

  test("the wrapped façade is the same object to its callers: views pass through, private state works", async () => {
    const env = makeApp();
    await using _ = env.dir;
    env.store.save(makeRecord({ name: "one" }));
    expect(env.traced.workspaces.list().map((w) => w.name)).toEqual(["one"]);
    expect(env.traced.workspaces).toBeInstanceOf(WorkspaceService);
    // Called outside any transport: the daemon's own work.
    await env.traced.workspaces.destroy("nobody").catch(() => {});
    await withSurface("grpc", () => env.traced.workspaces.pause("nobody").catch(() => {}));
    const ops = await env.trace.list();
    expect(ops.map((o) => [o.operation, o.surface])).toEqual([["pause", "grpc"], ["destroy", "daemon"]]);
  });

  test("an operation whose error cannot be shown is left out with a warning; the others are written", async () => {
    await using dir = tempDir("trace-bad-error");
    const warned: string[] = [];
    const trace = new OperationTrace({ log: new TraceLog(join(dir.path, "t")), logger: { ...silentLogger, warn: (m: string) => void warned.push(m) } });
    const hostile = { toString: () => { throw new Error("no text"); } };
    trace.begin("exec", "rest", { workspace: "a" }).end({ error: hostile });
    trace.begin("stop", "cli", { workspace: "b" }).end({});
    await trace.flush();
    expect((await trace.export()).map((r) => r.operation)).toEqual(["stop"]);
    expect(warned).toEqual(["operation history: a record could not be made: no text"]);
  });

  test("NEXUS_TRACE=off: the façades are not wrapped and nothing is written", async () => {
    await using dir = tempDir("trace-off");
    const trace = new OperationTrace({ log: new TraceLog(join(dir.path, "t")), enabled: false });
    const workspaces = {} as WorkspaceService;
    expect(tracedFacades({ workspaces }, trace).workspaces).toBe(workspaces);
    trace.begin("exec", "rest").end({});
    await trace.flush();
    expect(existsSync(join(dir.path, "t"))).toBe(false);
  });
});
