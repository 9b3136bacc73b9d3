// The port forwarding routes through app.request(), and the /proc/net/tcp reader. Real service,
// store and allocator; an engine address that does not exist, so nothing here reaches Docker or SSH
// (a forward of a stopped workspace listens, and closes every connection).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/api/http/app.ts";
import { parseConfig } from "../../src/config/load.ts";
import { EventBus } from "../../src/core/events.ts";
import { PortForwards } from "../../src/core/forwards.ts";
import { listeningOn, parseProcNetTcp } from "../../src/core/listeners.ts";
import { silentLogger } from "../../src/core/log.ts";
import { canBind, PortAllocator } from "../../src/core/ports.ts";
import { WorkspaceService } from "../../src/core/workspaces.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { buildInfo } from "../../src/version.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";
import { appRequester } from "../helpers/http.ts";

const CLIENT_KEY = generateEd25519("nexus-test-client");

function makeEnv() {
  const dir = tempDir("ports-app");
  const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
  const config = parseConfig("", "x.yaml");
  const store = new WorkspaceStore(paths);
  let forwards: PortForwards | undefined;
  const ports = new PortAllocator(config.ssh.port_range, (): number[] => [...store.list().flatMap((r) => [r.ports.ssh]), ...(forwards?.hostPorts() ?? [])]);
  const events = new EventBus();
  const workspaces = new WorkspaceService({
    paths,
    config,
    store,
    docker: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }),
    ssh: new SshPool({ privateKey: CLIENT_KEY.privateKey }),
    ports,
    events,
    log: silentLogger,
    instance: "test",
    clientKey: CLIENT_KEY,
    hostUser: { uid: 1000, gid: 1000, home: dir.path },
  });
  forwards = new PortForwards({ workspaces, ports, events, paths, log: silentLogger });
  const fw = forwards;
  const app = createApp({ workspaces, forwards: fw, build: buildInfo(), daemon: { shutdown: () => {}, pid: 1, startedAt: "2026-01-01T00:00:00.000Z" }, log: silentLogger });
  const request = appRequester(app);
  return {
    paths,
    store,
    forwards: fw,
    request,
    saveStopped: (name: string) => {
      const r = makeRecord({ name, status: "stopped" });
      store.save(r);
      return r;
    },
    async [Symbol.asyncDispose]() {
      fw.shutdown();
      workspaces.shutdown();
      await dir[Symbol.asyncDispose]();
    },
  };
}

async function errorOf(res: Response, status: number, code: string) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: Record<string, unknown> } };
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  return body.error;
}

describe("POST /api/v1/workspaces/{id}/ports", () => {
  test("an unknown workspace is 404 WORKSPACE_NOT_FOUND on every port route", async () => {
    await using env = makeEnv();
    for (const [method, path, body] of [
      ["POST", "/api/v1/workspaces/ghost/ports", { containerPort: 3000 }],
      ["GET", "/api/v1/workspaces/ghost/ports", undefined],
      ["POST", "/api/v1/workspaces/ghost/ports/pf-1/public", undefined],
      ["DELETE", "/api/v1/workspaces/ghost/ports/pf-1", undefined],
    ] as const) {
      const e = await errorOf(await env.request(method, path, body), 404, "WORKSPACE_NOT_FOUND");
      expect(e.details).toEqual({ workspaceName: "ghost" });
    }
  });

  test("a bad body is 400 INVALID_ARGUMENT naming the field", async () => {
    await using env = makeEnv();
    env.saveStopped("web");
    for (const [body, field, text] of [
      [{}, "containerPort", "missing field 'containerPort'"],
      [{ containerPort: "3000" }, "containerPort", "containerPort must be a number"],
      [{ containerPort: 3000.5 }, "containerPort", "whole number"],
      [{ containerPort: 70000 }, "containerPort", "1-65535"],
      [{ containerPort: 3000, hostPort: 0 }, "hostPort", "1-65535"],
      [{ containerPort: 3000, visibility: "world" }, "visibility", "visibility must be 'private' or 'public'"],
      [{ containerPort: 3000, hosts: 1 }, "hosts", "unknown field 'hosts'"],
    ] as const) {
      const e = await errorOf(await env.request("POST", "/api/v1/workspaces/web/ports", body), 400, "INVALID_ARGUMENT");
      expect(e.details).toEqual({ field });
      expect(e.message).toContain(text);
    }
    await errorOf(await env.request("POST", "/api/v1/workspaces/web/ports", "{nope"), 400, "INVALID_ARGUMENT");
    const t = await errorOf(await env.request("POST", "/api/v1/workspaces/web/ports", { containerPort: 3000, temporary: true }), 400, "INVALID_ARGUMENT");
    expect(t.details).toEqual({ field: "temporary" });
  });

  test("201 with the forward, 200 when asked again; listed; made public; deleted with 204", async () => {
    await using env = makeEnv();
    const r = env.saveStopped("web");
    const res = await env.request("POST", "/api/v1/workspaces/web/ports", { containerPort: 3000 });
    expect(res.status).toBe(201);
    const f = (await res.json()) as { id: string; hostPort: number; bindAddress: string; created: boolean; workspaceId: string };
    expect(f).toMatchObject({ workspaceId: r.id, containerPort: 3000, visibility: "private", bindAddress: "127.0.0.1", created: true });
    expect(await canBind(f.hostPort)).toBe(false);
    expect(JSON.parse(readFileSync(join(env.paths.workspaceDir(r.id), "forwards.json"), "utf8")).forwards).toHaveLength(1);

    const again = await env.request("POST", "/api/v1/workspaces/web/ports", { containerPort: 3000 });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(f.id);

    const list = (await (await env.request("GET", "/api/v1/workspaces/web/ports")).json()) as { ports: Array<Record<string, unknown>> };
    expect(list.ports).toEqual([expect.objectContaining({ kind: "forward", id: f.id, listening: null, hint: expect.stringContaining("nexus start web") })]);

    const pub = await env.request("POST", `/api/v1/workspaces/web/ports/${f.id}/public`);
    expect(pub.status).toBe(200);
    expect(await pub.json()).toMatchObject({ id: f.id, visibility: "public", bindAddress: "0.0.0.0", message: expect.stringContaining("other machines") });

    expect((await env.request("DELETE", "/api/v1/workspaces/web/ports/3000")).status).toBe(204);
    expect(await canBind(f.hostPort)).toBe(true);
    await errorOf(await env.request("DELETE", `/api/v1/workspaces/web/ports/${f.id}`), 404, "NOT_FOUND");
  });

  test("a streamed temporary forward sends one forward event and goes when the client does", async () => {
    await using env = makeEnv();
    const r = env.saveStopped("web");
    const res = await env.request("POST", "/api/v1/workspaces/web/ports", { containerPort: 3000, temporary: true }, { accept: "application/x-ndjson" });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = JSON.parse(new TextDecoder().decode((await reader.read()).value).trim()) as { type: string; id: string; hostPort: number; temporary: boolean };
    expect(first).toMatchObject({ type: "forward", temporary: true });
    expect(env.forwards.forwardsOf(r.id).map((f) => f.id)).toEqual([first.id]);
    expect(existsSync(join(env.paths.workspaceDir(r.id), "forwards.json")) ? JSON.parse(readFileSync(join(env.paths.workspaceDir(r.id), "forwards.json"), "utf8")).forwards : []).toEqual([]);
    await reader.cancel();
    for (let i = 0; i < 40 && env.forwards.forwardsOf(r.id).length > 0; i++) await new Promise((ok) => setTimeout(ok, 25));
    expect(env.forwards.forwardsOf(r.id)).toEqual([]);
    expect(await canBind(first.hostPort)).toBe(true);
  });

  test("a fixed host port held by another forward is 409 PORT_CONFLICT with a free port suggested", async () => {
    await using env = makeEnv();
    env.saveStopped("a");
    env.saveStopped("b");
    const f = (await (await env.request("POST", "/api/v1/workspaces/a/ports", { containerPort: 3000 })).json()) as { hostPort: number };
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces/b/ports", { containerPort: 3000, hostPort: f.hostPort }), 409, "PORT_CONFLICT");
    expect(e.details).toMatchObject({ hostPort: f.hostPort, containerPort: 3000, suggestedPort: expect.any(Number) });
    expect(e.details!.suggestedPort).not.toBe(f.hostPort);
  });
});

describe("parseProcNetTcp", () => {
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0",
    "   1: 00000000:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0",
    "   2: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 100 0 0 10 0",
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4 1 0 100 0 0 10 0",
    "   1: 00000000000000000000000000000000:0BB9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5 1 0 100 0 0 10 0",
    "   2: 0000000000000000FFFF00000100007F:0BBA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 6 1 0 100 0 0 10 0",
  ].join("\n");

  test("reads listening sockets (state 0A) of both files, with their addresses", () => {
    expect(parseProcNetTcp(text)).toEqual([
      { address: "127.0.0.1", port: 8000, loopback: true },
      { address: "0.0.0.0", port: 8001, loopback: false },
      { address: "::1", port: 3000, loopback: true },
      { address: "::", port: 3001, loopback: false },
      { address: "::ffff:127.0.0.1", port: 3002, loopback: true },
    ]);
  });

  test("tells loopback-only from reachable, and nothing from something", () => {
    const l = parseProcNetTcp(text);
    expect(listeningOn(l, 8000)).toEqual({ listening: true, loopbackOnly: true, addresses: ["127.0.0.1"] });
    expect(listeningOn(l, 8001)).toEqual({ listening: true, loopbackOnly: false, addresses: ["0.0.0.0"] });
    expect(listeningOn(l, 9)).toEqual({ listening: false, loopbackOnly: false, addresses: [] });
    // Loopback on v4 and any on v6: reachable.
    expect(listeningOn([...l, { address: "::", port: 8000, loopback: false }], 8000).loopbackOnly).toBe(false);
  });
});
