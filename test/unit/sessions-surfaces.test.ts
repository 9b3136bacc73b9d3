// Sessions on every surface without Docker: the real core (WorkspaceService, SessionService, store)
// behind the REST app, the WebSocket handler and the gRPC server. Unknown ids answer the same
// NOT_FOUND everywhere; bad input INVALID_ARGUMENT; a paused workspace's sessions list from the index.
// Everything that needs a container is in test/e2e/sessions.test.ts.
import { describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromGrpcError } from "../../src/api/grpc/errors.ts";
import { serveGrpc, workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { createApp } from "../../src/api/http/app.ts";
import { WsConnection } from "../../src/api/ws/connection.ts";
import { parseConfig } from "../../src/config/load.ts";
import { EventBus } from "../../src/core/events.ts";
import { silentLogger } from "../../src/core/log.ts";
import { PortAllocator } from "../../src/core/ports.ts";
import { SessionService } from "../../src/core/sessions/service.ts";
import { WorkspaceService } from "../../src/core/workspaces.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { buildInfo } from "../../src/version.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { appRequester } from "../helpers/http.ts";
import { makeRecord } from "../helpers/records.ts";

const CLIENT_KEY = generateEd25519("nexus-test-client");

async function makeEnv() {
  const dir = tempDir("sessions");
  const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
  const config = parseConfig("", "x.yaml");
  const store = new WorkspaceStore(paths);
  const events = new EventBus();
  const workspaces = new WorkspaceService({
    paths,
    config,
    store,
    docker: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }),
    ssh: new SshPool({ privateKey: CLIENT_KEY.privateKey }),
    ports: new PortAllocator(config.ssh.port_range, () => []),
    events,
    log: silentLogger,
    instance: "test",
    clientKey: CLIENT_KEY,
    hostUser: { uid: 1000, gid: 1000, home: dir.path },
  });
  const sessions = new SessionService({ workspaces, paths, config, events, log: silentLogger });
  const app = createApp({ workspaces, sessions, build: buildInfo(), daemon: { shutdown() {}, pid: 1, startedAt: "2026-01-01T00:00:00.000Z" }, log: silentLogger });
  const sock = join(dir.path, "grpc.sock");
  const server = await serveGrpc(`unix://${sock}`, { workspaces, sessions, files: {} as never, monitor: {} as never, log: silentLogger });
  const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
  const client = new Client(`unix://${sock}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  const sent: any[] = [];
  const ws = new WsConnection({ workspaces, sessions, files: {} as never, monitor: {} as never, events, log: silentLogger }, { send: (t) => sent.push(JSON.parse(t)), close() {}, bufferedAmount: () => 0 }, {});
  ws.open();
  return {
    paths,
    store,
    workspaces,
    sessions,
    request: appRequester(app),
    client,
    ws,
    sent,
    async [Symbol.asyncDispose]() {
      ws.close();
      client.close();
      await server.stop();
      workspaces.shutdown();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const unary = (client: any, method: string, req: object) => new Promise<any>((resolve, reject) => client[method](req, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res))));
const streamError = (client: any, method: string, req: object) =>
  new Promise<grpc.ServiceError | undefined>((resolve) => {
    const call = client[method](req);
    call.on("data", () => {});
    call.on("error", (e: grpc.ServiceError) => resolve(e));
    call.on("end", () => resolve(undefined));
  });

async function notFound(res: Response, id: string) {
  expect(res.status).toBe(404);
  const body = (await res.json()) as { error: { code: string; message: string; suggestion: string; details: unknown } };
  expect(body.error).toEqual({ code: "NOT_FOUND", message: `Session '${id}' doesn't exist`, suggestion: "Run 'nexus sessions list' to see the sessions", retryable: false, details: { sessionId: id } } as never);
}

describe("unknown session ids: NOT_FOUND on every surface", () => {
  test("REST: get, logs, attach, input, delete", async () => {
    await using env = await makeEnv();
    for (const id of ["ses-00000000", "sess-123", "x"]) {
      await notFound(await env.request("GET", `/api/v1/sessions/${id}`), id);
      await notFound(await env.request("GET", `/api/v1/sessions/${id}/logs?tail=5`), id);
      await notFound(await env.request("GET", `/api/v1/sessions/${id}/logs?follow=true`), id);
      await notFound(await env.request("POST", `/api/v1/sessions/${id}/attach`, {}), id);
      await notFound(await env.request("POST", `/api/v1/sessions/${id}/input`, { text: "x" }), id);
      await notFound(await env.request("DELETE", `/api/v1/sessions/${id}`), id);
    }
  });

  test("gRPC: AttachSession and KillSession", async () => {
    await using env = await makeEnv();
    const attach = await streamError(env.client, "AttachSession", { sessionId: "ses-00000000" });
    expect(attach?.code).toBe(grpc.status.NOT_FOUND);
    expect(fromGrpcError(attach!).toJSON()).toMatchObject({ code: "NOT_FOUND", message: "Session 'ses-00000000' doesn't exist", details: { sessionId: "ses-00000000" } });
    const kill = await unary(env.client, "KillSession", { sessionId: "ses-00000000" }).catch((e) => e);
    expect(kill.code).toBe(grpc.status.NOT_FOUND);
    expect(fromGrpcError(kill).code).toBe("NOT_FOUND");
    const empty = await unary(env.client, "KillSession", {}).catch((e) => e);
    expect(empty.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("WebSocket: session.attach answers NOT_FOUND; input to a session not attached here is INVALID_STATE", async () => {
    await using env = await makeEnv();
    await env.ws.message(JSON.stringify({ id: "a", type: "session.attach", payload: { sessionId: "ses-00000000", cols: 80, rows: 24 } }));
    expect(env.sent.find((m) => m.id === "a")).toMatchObject({ success: false, error: { code: "NOT_FOUND", message: "Session 'ses-00000000' doesn't exist" } });
    await env.ws.message(JSON.stringify({ id: "i", type: "session.input", payload: { sessionId: "ses-00000000", data: "x" } }));
    expect(env.sent.find((m) => m.id === "i")).toMatchObject({ success: false, error: { code: "INVALID_STATE" } });
    // Without an id (keystrokes) an error is still reported, under id null.
    await env.ws.message(JSON.stringify({ type: "session.resize", payload: { sessionId: "ses-00000000", cols: 80, rows: 24 } }));
    expect(env.sent.at(-1)).toMatchObject({ id: null, success: false, error: { code: "INVALID_STATE" } });
    await env.ws.message(JSON.stringify({ id: "b", type: "session.attach", payload: { sessionId: "ses-00000000", cols: 3 } }));
    expect(env.sent.find((m) => m.id === "b")).toMatchObject({ success: false, error: { code: "INVALID_ARGUMENT" } });
  });
});

describe("bad input and workspaces", () => {
  test("starting a session: unknown workspace is WORKSPACE_NOT_FOUND; bad fields INVALID_ARGUMENT", async () => {
    await using env = await makeEnv();
    const res = await env.request("POST", "/api/v1/sessions", { workspace: "nope" });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe("WORKSPACE_NOT_FOUND");
    const detached = await env.request("POST", "/api/v1/workspaces/nope/exec", { command: "true", detach: true });
    expect(detached.status).toBe(404);
    for (const body of [{}, { workspace: "w", cols: 5 }, { workspace: "w", env: { "1x": "y" } }, { workspace: "w", extra: 1 }]) {
      const r = await env.request("POST", "/api/v1/sessions", body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.code).toBe("INVALID_ARGUMENT");
    }
    const tail = await env.request("GET", "/api/v1/sessions/ses-00000000/logs?tail=-1");
    expect(tail.status).toBe(400);
    const detachBad = await env.request("POST", "/api/v1/workspaces/nope/exec", { command: "true", detach: "yes" });
    expect(detachBad.status).toBe(400);
  });

  test("a paused workspace lists the sessions it had (stale), without asking the frozen container; a stopped one has none", async () => {
    await using env = await makeEnv();
    const paused = makeRecord({ name: "frozen", status: "paused" });
    const stopped = makeRecord({ name: "cold", status: "stopped" });
    for (const r of [paused, stopped]) {
      env.store.save(r);
      mkdirSync(env.paths.workspaceDir(r.id), { recursive: true });
      const view = { id: r === paused ? "ses-0000abcd" : "ses-0000dcba", workspace_id: r.id, workspace_name: r.name, status: "active", created_at: "2026-01-01T00:00:00.000Z", kind: "command", command: "npm test", exit_code: null, attached_clients: 1, last_output_at: null };
      writeFileSync(join(env.paths.workspaceDir(r.id), "sessions.json"), JSON.stringify({ sessions: { [view.id]: view } }));
    }
    const res = await env.request("GET", "/api/v1/sessions");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sessions: any[] };
    expect(body.sessions).toEqual([{ id: "ses-0000abcd", workspace_id: paused.id, workspace_name: "frozen", status: "active", created_at: "2026-01-01T00:00:00.000Z", kind: "command", command: "npm test", exit_code: null, attached_clients: 0, last_output_at: null, stale: true }]);
    const byWorkspace = (await (await env.request("GET", "/api/v1/sessions?workspace=cold")).json()) as { sessions: unknown[] };
    expect(byWorkspace.sessions).toEqual([]);
    const grpcList = await unary(env.client, "ListSessions", { workspaceId: "frozen" });
    expect(grpcList.sessions).toHaveLength(1);
    expect(grpcList.sessions[0]).toMatchObject({ id: "ses-0000abcd", workspaceId: paused.id, status: "active", workspaceName: "frozen", kind: "command", command: "npm test" });
    expect(Number(grpcList.sessions[0].createdAt.seconds)).toBe(Date.UTC(2026, 0, 1) / 1000);
    const unknownWs = await unary(env.client, "ListSessions", { workspaceId: "nope" }).catch((e) => e);
    expect(unknownWs.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("idle", () => {
  test("status names the session that keeps a workspace awake: recent output while detached; a quiet one does not", async () => {
    await using env = await makeEnv();
    const r = makeRecord({ name: "busy", status: "stopped" });
    env.store.save(r);
    mkdirSync(env.paths.workspaceDir(r.id), { recursive: true });
    const view = (id: string, lastOutput: string) => ({ id, workspace_id: r.id, workspace_name: r.name, status: "active", created_at: "2026-01-01T00:00:00.000Z", kind: "command", command: "npm test", exit_code: null, attached_clients: 0, last_output_at: lastOutput });
    writeFileSync(
      join(env.paths.workspaceDir(r.id), "sessions.json"),
      JSON.stringify({ sessions: { "ses-0000aaaa": view("ses-0000aaaa", new Date().toISOString()), "ses-0000bbbb": view("ses-0000bbbb", "2020-01-01T00:00:00.000Z") } }),
    );
    env.sessions.start();
    try {
      const status = await env.workspaces.status("busy");
      expect(status.idle.keptAwakeBy).toEqual(["session ses-0000aaaa printed output within the idle period"]);
    } finally {
      env.sessions.shutdown();
    }
  });
});

test("a session cannot start in a stopped workspace: INVALID_STATE saying how to start it", async () => {
  await using env = await makeEnv();
  env.store.save(makeRecord({ name: "cold", status: "stopped" }));
  const res = await env.request("POST", "/api/v1/sessions", { workspace: "cold", command: "true" });
  expect(res.status).toBe(409);
  const body = (await res.json()) as { error: { code: string; message: string; suggestion: string } };
  expect(body.error).toMatchObject({ code: "INVALID_STATE", message: "Workspace 'cold' is stopped; it must be running to start a session in it", suggestion: "Start it with 'nexus start cold'" });
});
