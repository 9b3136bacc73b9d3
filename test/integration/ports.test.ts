// Port forwarding against the real engine: forwards added at run time reach a server bound to
// 127.0.0.1 inside, survive a daemon restart and workspace stop/start, and go with the workspace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { WorkspaceEvent } from "../../src/core/events.ts";
import { PortForwards } from "../../src/core/forwards.ts";
import { parseProcNetTcp } from "../../src/core/listeners.ts";
import { silentLogger } from "../../src/core/log.ts";
import { canBind, PortAllocator } from "../../src/core/ports.ts";
import type { Services } from "../../src/daemon/services.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("ports");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "hello.txt": "hello from the workspace\n" });
const paths = nexusPaths({ NEXUS_HOME: home });
let s: Services;
let events: WorkspaceEvent[] = [];

function services(): Services {
  const built = serviceGraph(home);
  built.events.subscribe((e) => events.push(e));
  return built;
}


const run = (script: string) => s.workspaces.execCollect("fwd", { command: "sh", args: ["-c", script] });
/** A server inside that outlives the exec which started it. */
const startServer = (port: number, bind = "127.0.0.1") =>
  run(`setsid -f sh -c 'cd /workspace && exec python3 -m http.server ${port} --bind ${bind}' >/dev/null 2>&1; for i in $(seq 50); do grep -qi ':${port.toString(16).toUpperCase().padStart(4, "0")} .* 0A ' /proc/net/tcp /proc/net/tcp6 && exit 0; sleep 0.1; done; exit 1`);
const fetchText = async (port: number) => (await fetch(`http://127.0.0.1:${port}/hello.txt`, { signal: AbortSignal.timeout(10_000) })).text();
/** Addresses the host listens on for `port`, from the host's /proc/net/tcp. */
const hostListeners = (port: number) => parseProcNetTcp(readFileSync("/proc/net/tcp", "utf8") + readFileSync("/proc/net/tcp6", "utf8")).filter((l) => l.port === port).map((l) => l.address);

function occupy(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ host, port, exclusive: true }, () => resolve(srv));
  });
}

/** A port outside the workspace range that binds now. */
async function freePortOutsideRange(): Promise<number> {
  for (let p = 41000; p < 42000; p++) if (await canBind(p)) return p;
  throw new Error("no free port");
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = services();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "fwd", path: repo, ports: [8000] });
  expect((await startServer(8000)).exitCode).toBe(0);
}, 600_000);

afterAll(async () => {
  s?.forwards.shutdown();
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("a forward added at run time", () => {
  test("reaches a server bound to 127.0.0.1 inside, on 127.0.0.1 of the host; asking again returns it", async () => {
    const f = await s.forwards.add("fwd", { containerPort: 8000 });
    expect(f).toMatchObject({ created: true, containerPort: 8000, visibility: "private", bindAddress: "127.0.0.1", url: `http://localhost:${f.hostPort}` });
    expect(f.id).toMatch(/^pf-/);
    expect(f.hostPort).toBeGreaterThanOrEqual(32800);
    expect(f.message).toContain(`-> fwd:8000`);
    expect(await fetchText(f.hostPort)).toBe("hello from the workspace\n");
    expect(hostListeners(f.hostPort)).toEqual(["127.0.0.1"]);

    const again = await s.forwards.add("fwd", { containerPort: 8000 });
    expect(again).toMatchObject({ id: f.id, hostPort: f.hostPort, created: false });
    expect(events.filter((e) => e.type === "port.forward")).toEqual([{ type: "port.forward", payload: { workspaceId: f.workspaceId, action: "added", forward: expect.objectContaining({ id: f.id }) } }]);
    expect(JSON.parse(readFileSync(join(paths.workspaceDir(f.workspaceId), "forwards.json"), "utf8")).forwards[0]).toMatchObject({ id: f.id, hostPort: f.hostPort });
  });

  test("the listing shows the published port as loopback-only with a hint, and the forward as working", async () => {
    const ports = await s.forwards.list("fwd");
    const published = ports.find((p) => p.kind === "published")!;
    expect(published).toMatchObject({ id: "published-8000", containerPort: 8000, listening: true, loopbackOnly: true, addresses: ["127.0.0.1"] });
    expect(published.hint).toContain("bind it to 0.0.0.0");
    const forward = ports.find((p) => p.kind === "forward")!;
    expect(forward).toMatchObject({ containerPort: 8000, listening: true, loopbackOnly: true, connections: 0 });
    expect(forward.hint).toBeUndefined();
  });

  test("a server bound to 0.0.0.0 is not flagged; a port nobody listens on says so", async () => {
    expect((await startServer(8001, "0.0.0.0")).exitCode).toBe(0);
    expect(await s.forwards.probe("fwd", 8001)).toEqual({ listening: true, loopbackOnly: false, addresses: ["0.0.0.0"] });
    const none = await s.forwards.add("fwd", { containerPort: 9999 });
    expect((await s.forwards.list("fwd")).find((p) => p.id === none.id)).toMatchObject({ listening: false, hint: expect.stringContaining("Nothing listens on port 9999") });
    const err = await expectError(s.workspaces.openTunnel("fwd", 9999), "INVALID_STATE");
    expect(err.message).toBe("Nothing listens on port 9999 inside workspace 'fwd'");
    // A connection to such a forward is closed, not left hanging.
    await expect(fetch(`http://127.0.0.1:${none.hostPort}/`, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
    await s.forwards.remove("fwd", "9999");
    expect(await canBind(none.hostPort)).toBe(true);
  });

  test("an open forwarded connection keeps the workspace awake", async () => {
    const f = await s.forwards.add("fwd", { containerPort: 8000 });
    const sock = connect(f.hostPort, "127.0.0.1");
    try {
      await new Promise<void>((resolve, reject) => sock.once("connect", () => resolve()).once("error", reject));
      const awake = await until("the forwarded connection is seen", async () => (await s.workspaces.status("fwd")).idle.keptAwakeBy, (a) => a.includes("1 forwarded connection"));
      expect(awake).toContain("1 forwarded connection");
      await s.workspaces.update("fwd", { idleTimeout: 1 });
      await new Promise((r) => setTimeout(r, 1500));
      expect(await s.workspaces.checkIdle()).toEqual([]);
    } finally {
      sock.destroy();
      await s.workspaces.update("fwd", { idleTimeout: 0 });
    }
  });
});

describe("host ports", () => {
  test("a fixed host port that is taken is PORT_CONFLICT with a free port suggested", async () => {
    const port = await freePortOutsideRange();
    const holder = await occupy("127.0.0.1", port);
    try {
      const err = await expectError(s.forwards.add("fwd", { containerPort: 8001, hostPort: port }), "PORT_CONFLICT");
      const suggested = err.details?.suggestedPort as number;
      expect(typeof suggested).toBe("number");
      expect(err.suggestion).toContain(String(suggested));
      expect(err.details).toMatchObject({ hostPort: port, containerPort: 8001 });
      expect(err.retryable).toBe(true);
      const ok = await s.forwards.add("fwd", { containerPort: 8001, hostPort: suggested });
      expect(ok.hostPort).toBe(suggested);
      await s.forwards.remove("fwd", ok.id);
    } finally {
      holder.close();
    }
  });

  test("a fixed host port for a container port already forwarded makes a second forward", async () => {
    const port = await freePortOutsideRange();
    const first = s.forwards.forwardsOf(s.store.findByName("fwd")!.id).find((f) => f.containerPort === 8000)!;
    const second = await s.forwards.add("fwd", { containerPort: 8000, hostPort: port });
    expect(second).toMatchObject({ created: true, hostPort: port });
    expect(second.id).not.toBe(first.id);
    expect(await fetchText(port)).toBe("hello from the workspace\n");
    await s.forwards.remove("fwd", second.id);
  });

  test("an allocated port taken meanwhile is retried on a new port, and the answer says which", async () => {
    // A range of two ports; the first is held on 127.0.0.2, so the allocator (which probes 127.0.0.1)
    // hands it out, and listening on all interfaces finds it taken.
    let start = 42000;
    while (!((await canBind(start)) && (await canBind(start + 1)))) start += 2;
    const holder = await occupy("127.0.0.2", start);
    const own = new PortForwards({ workspaces: s.workspaces, ports: new PortAllocator({ start, end: start + 1 }, () => []), events: s.events, paths, log: silentLogger });
    try {
      const f = await own.add("fwd", { containerPort: 8001, visibility: "public" });
      expect(f).toMatchObject({ hostPort: start + 1, retriedFrom: start });
      expect(f.message).toContain(`host port ${start} was taken meanwhile, so ${start + 1} is used instead`);
      await own.remove("fwd", f.id);
    } finally {
      own.shutdown();
      holder.close();
    }
  });
});

describe("public forwards", () => {
  test("making a forward public rebinds it on all interfaces and says so", async () => {
    const f = s.forwards.forwardsOf(s.store.findByName("fwd")!.id).find((x) => x.containerPort === 8000)!;
    events = [];
    const pub = await s.forwards.makePublic("fwd", f.id);
    expect(pub).toMatchObject({ id: f.id, hostPort: f.hostPort, visibility: "public", bindAddress: "0.0.0.0" });
    expect(pub.message).toContain("other machines");
    expect(hostListeners(f.hostPort)).toEqual(["0.0.0.0"]);
    expect(await fetchText(f.hostPort)).toBe("hello from the workspace\n");
    expect(events.map((e) => e.payload.action)).toEqual(["public"]);
    // Again: nothing changes.
    expect((await s.forwards.makePublic("fwd", "8000")).bindAddress).toBe("0.0.0.0");
  });

  test("a public forward can be asked for directly", async () => {
    const f = await s.forwards.add("fwd", { containerPort: 8001, visibility: "public" });
    expect(hostListeners(f.hostPort)).toEqual(["0.0.0.0"]);
    expect(f.message).toContain("PUBLIC");
    await s.forwards.remove("fwd", f.id);
    expect(hostListeners(f.hostPort)).toEqual([]);
  });
});

describe("temporary forwards", () => {
  test("last while held, are never persisted, and go when the holder does", async () => {
    const held = await s.forwards.hold("fwd", { containerPort: 8001 });
    expect(held.forward.temporary).toBe(true);
    expect(await fetchText(held.forward.hostPort)).toBe("hello from the workspace\n");
    const saved = JSON.parse(readFileSync(join(paths.workspaceDir(held.forward.workspaceId), "forwards.json"), "utf8")).forwards;
    expect(saved.map((f: { id: string }) => f.id)).not.toContain(held.forward.id);
    const stop = new AbortController();
    const ended = held.until(stop.signal);
    stop.abort();
    expect(await ended).toEqual({ reason: "the client went away" });
    expect(s.forwards.forwardsOf(held.forward.workspaceId).map((f) => f.id)).not.toContain(held.forward.id);
    expect(await canBind(held.forward.hostPort)).toBe(true);
  });

  test("a temporary forward of an already forwarded port reuses it and leaves it in place", async () => {
    const held = await s.forwards.hold("fwd", { containerPort: 8000 });
    expect(held.forward.temporary).toBeUndefined();
    const stop = new AbortController();
    const ended = held.until(stop.signal);
    stop.abort();
    await ended;
    expect(s.forwards.forwardsOf(held.forward.workspaceId).map((f) => f.id)).toContain(held.forward.id);
  });
});

describe("across restarts", () => {
  test("forwards come back in a new service graph reading the same NEXUS_HOME (daemon restart)", async () => {
    const before = s.forwards.forwardsOf(s.store.findByName("fwd")!.id);
    expect(before.length).toBeGreaterThan(0);
    s.forwards.shutdown();
    s.workspaces.shutdown();
    for (const f of before) expect(await canBind(f.hostPort, f.bindAddress)).toBe(true);

    s = services();
    await s.workspaces.reconcile();
    await s.forwards.restore();
    const after = s.forwards.forwardsOf(s.store.findByName("fwd")!.id);
    expect(after.map((f) => [f.id, f.hostPort, f.bindAddress]).sort()).toEqual(before.map((f) => [f.id, f.hostPort, f.bindAddress]).sort());
    const f = after.find((x) => x.containerPort === 8000)!;
    expect(await fetchText(f.hostPort)).toBe("hello from the workspace\n");
    // The allocator sees restored ports as taken.
    const fresh = await s.forwards.add("fwd", { containerPort: 8001 });
    expect(after.map((x) => x.hostPort)).not.toContain(fresh.hostPort);
    await s.forwards.remove("fwd", fresh.id);
  });

  test("a forward whose host port another program took meanwhile moves to a new port at restore", async () => {
    const f = await s.forwards.add("fwd", { containerPort: 8001 });
    s.forwards.shutdown();
    s.workspaces.shutdown();
    const holder = await occupy("127.0.0.1", f.hostPort);
    try {
      events = [];
      s = services();
      await s.workspaces.reconcile();
      await s.forwards.restore();
      const moved = s.forwards.forwardsOf(f.workspaceId).find((x) => x.id === f.id)!;
      expect(moved.hostPort).not.toBe(f.hostPort);
      expect(await fetchText(moved.hostPort)).toBe("hello from the workspace\n");
      expect(events.find((e) => e.type === "port.forward")?.payload).toMatchObject({ action: "added", message: `Host port ${f.hostPort} was taken; the forward moved to ${moved.hostPort}` });
      await s.forwards.remove("fwd", f.id);
    } finally {
      holder.close();
    }
  });

  test("a connection to a paused workspace resumes it; a stopped one closes it; after start it works again", async () => {
    const f = s.forwards.forwardsOf(s.store.findByName("fwd")!.id).find((x) => x.containerPort === 8000)!;
    await s.workspaces.pause("fwd");
    expect(await fetchText(f.hostPort)).toBe("hello from the workspace\n");
    expect(s.store.findByName("fwd")!.status).toBe("running");

    await s.workspaces.stop("fwd", { timeoutSeconds: 1 });
    await expect(fetch(`http://127.0.0.1:${f.hostPort}/`, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
    expect((await s.forwards.list("fwd")).find((p) => p.id === f.id)).toMatchObject({ listening: null, hint: expect.stringContaining("nexus start fwd") });

    await s.workspaces.start("fwd");
    expect((await startServer(8000)).exitCode).toBe(0);
    expect(await fetchText(f.hostPort)).toBe("hello from the workspace\n");
  }, 120_000);
});

describe("errors", () => {
  test("an unknown workspace is WORKSPACE_NOT_FOUND; an unknown forward is NOT_FOUND", async () => {
    await expectError(s.forwards.add("nope", { containerPort: 3000 }), "WORKSPACE_NOT_FOUND");
    await expectError(s.forwards.list("nope"), "WORKSPACE_NOT_FOUND");
    await expectError(s.forwards.remove("fwd", "pf-nothing"), "NOT_FOUND");
    const published = await expectError(s.forwards.makePublic("fwd", "8000-not"), "NOT_FOUND");
    expect(published.suggestion).toContain("nexus ports fwd");
  });
});

describe("destroy", () => {
  test("removes the workspace's forwards and frees their ports", async () => {
    const id = s.store.findByName("fwd")!.id;
    const before = s.forwards.forwardsOf(id);
    expect(before.length).toBeGreaterThan(0);
    events = [];
    await s.workspaces.destroy("fwd", { force: true });
    expect(await until("the forwards are removed", () => s.forwards.forwardsOf(id), (f) => f.length === 0, 30_000)).toEqual([]);
    for (const f of before) expect(await canBind(f.hostPort, f.bindAddress)).toBe(true);
    expect(events.filter((e) => e.type === "port.forward").map((e) => e.payload.action)).toEqual(before.map(() => "removed"));
    expect(existsSync(paths.workspaceDir(id))).toBe(false);
    expect(leftovers(home)).toEqual({ containers: [], volumes: [] });
  });
});
