// The REST app through app.request(): real service, store, ports and keys; a Docker engine address
// that does not exist, so nothing here ever reaches Docker or SSH.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createApp } from "../../src/api/http/app.ts";
import { parseConfig } from "../../src/config/load.ts";
import { EventBus, type WorkspaceEvent } from "../../src/core/events.ts";
import { silentLogger } from "../../src/core/log.ts";
import { canBind, PortAllocator } from "../../src/core/ports.ts";
import type { WorkspaceRecord } from "../../src/core/types.ts";
import { WorkspaceService } from "../../src/core/workspaces.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { buildInfo } from "../../src/version.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";
import { appRequester } from "../helpers/http.ts";
import { slowTests } from "../helpers/timeout.ts";
import { setTimeout as sleep } from "node:timers/promises";

slowTests();

const CLIENT_KEY = generateEd25519("nexus-test-client");

function makeEnv(configText = "") {
  const dir = tempDir("app");
  const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
  const config = parseConfig(configText, "x.yaml");
  const store = new WorkspaceStore(paths);
  const ports = new PortAllocator(config.ssh.port_range, () => store.list().flatMap((r) => [r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)]));
  const events = new EventBus();
  const published: WorkspaceEvent[] = [];
  events.subscribe((e) => published.push(e));
  const ssh = new SshPool({ privateKey: CLIENT_KEY.privateKey });
  const service = new WorkspaceService({
    paths,
    config,
    store,
    docker: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }),
    ssh,
    ports,
    events,
    log: silentLogger,
    instance: "test",
    clientKey: CLIENT_KEY,
    hostUser: { uid: 1000, gid: 1000, home: dir.path },
  });
  const shutdowns: number[] = [];
  const app = createApp({
    workspaces: service,
    build: buildInfo(),
    daemon: { shutdown: () => shutdowns.push(Date.now()), pid: 4242, startedAt: "2026-01-01T00:00:00.000Z" },
    log: silentLogger,
  });
  const request = appRequester(app);
  return {
    dir: dir.path,
    paths,
    store,
    ports,
    service,
    published,
    shutdowns,
    app,
    request,
    async [Symbol.asyncDispose]() {
      service.shutdown();
      await dir[Symbol.asyncDispose]();
    },
  };
}

async function errorOf(res: Response, status: number, code: string): Promise<{ code: string; message: string; suggestion?: string; retryable: boolean; details?: Record<string, unknown> }> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  const body = (await res.json()) as { error: { code: string; message: string; suggestion?: string; retryable: boolean; details?: Record<string, unknown> } };
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.retryable).toBe("boolean");
  return body.error;
}

/** Nothing of a workspace may remain after a create that failed. */
function expectNothingLeft(env: ReturnType<typeof makeEnv>, repo?: string, name?: string): void {
  expect(env.store.list()).toEqual([]);
  expect(new WorkspaceStore(env.paths).load()).toEqual([]);
  expect(existsSync(env.paths.workspaces) ? readdirSync(env.paths.workspaces) : []).toEqual([]);
  if (repo && name) {
    expect(existsSync(join(repo, ".worktree", name))).toBe(false);
    expect(git(repo, "branch", "--list", `nexus/${name}`)).toBe("");
    expect(git(repo, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree "))).toEqual([`worktree ${repo}`]);
    expect(git(repo, "status", "--porcelain")).toBe("");
  }
}

/** A port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen({ port: 0, host: "127.0.0.1" }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `size` consecutive ports that all bind right now. */
async function freeWindow(size: number): Promise<{ start: number; end: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 20000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all(Array.from({ length: size }, (_, i) => canBind(start + i)));
    if (ok.every(Boolean)) return { start, end: start + size - 1 };
  }
  throw new Error(`no ${size} free consecutive ports`);
}

function saveRecord(env: ReturnType<typeof makeEnv>, over: Partial<WorkspaceRecord> = {}): WorkspaceRecord {
  const r = makeRecord(over);
  env.store.save(r);
  return r;
}

describe("system routes", () => {
  test("GET /api/v1/version has version, commit and pid", async () => {
    await using env = makeEnv();
    const res = await env.request("GET", "/api/v1/version");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ version: buildInfo().version, commit: buildInfo().commit, pid: 4242, startedAt: "2026-01-01T00:00:00.000Z" });
    expect(typeof body.version).toBe("string");
    expect(typeof body.commit).toBe("string");
  });

  test("GET /api/v1/health", async () => {
    await using env = makeEnv();
    const res = await env.request("GET", "/api/v1/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("POST /api/v1/daemon/shutdown answers 202 first, then stops the daemon", async () => {
    await using env = makeEnv();
    const res = await env.request("POST", "/api/v1/daemon/shutdown");
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: "stopping" });
    expect(env.shutdowns).toHaveLength(0);
    await sleep(50);
    expect(env.shutdowns).toHaveLength(1);
  });

  test("an unknown route is 404 NOT_FOUND as JSON", async () => {
    await using env = makeEnv();
    for (const [method, path] of [
      ["GET", "/api/v1/nope"],
      ["GET", "/"],
      ["GET", "/api/v2/workspaces"],
      ["PUT", "/api/v1/workspaces"],
      ["DELETE", "/api/v1/version"],
    ] as const) {
      const e = await errorOf(await env.request(method, path), 404, "NOT_FOUND");
      expect(e.message).toBe(`No route ${method} ${path}`);
      expect(e.retryable).toBe(false);
    }
  });

  test("spec routes not implemented yet answer 501 UNIMPLEMENTED naming the feature", async () => {
    await using env = makeEnv();
    for (const [method, path, feature] of [
      ["GET", "/api/v1/workspaces/x/checkpoints", "checkpoints"],
      ["POST", "/api/v1/checkpoints/c1/restore", "checkpoint restore"],
      ["GET", "/api/v1/workspaces/x/sync/conflicts", "file sync"],
    ] as const) {
      const e = await errorOf(await env.request(method, path), 501, "UNIMPLEMENTED");
      expect(e.details).toEqual({ feature });
      expect(e.message).toContain("not implemented");
    }
  });
});

describe("GET /api/v1/workspaces", () => {
  test("is 200 {workspaces: []} when there are none", async () => {
    await using env = makeEnv();
    const res = await env.request("GET", "/api/v1/workspaces");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ workspaces: [] });
  });

  test("lists records in the spec's shape, with the ssh port first", async () => {
    await using env = makeEnv();
    const r = saveRecord(env, { name: "listed", ports: { ssh: 32801, services: [{ name: "web", containerPort: 3000, hostPort: 32802 }] } });
    const body = (await (await env.request("GET", "/api/v1/workspaces")).json()) as { workspaces: Array<Record<string, unknown>> };
    expect(body.workspaces).toHaveLength(1);
    expect(body.workspaces[0]).toMatchObject({ id: r.id, name: "listed", status: "running", backend: "docker" });
    expect(body.workspaces[0]!.ports).toEqual([
      { name: "ssh", containerPort: 22, hostPort: 32801 },
      { name: "web", containerPort: 3000, hostPort: 32802 },
    ]);
  });

  test("filters by status and backend", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "up", status: "running" });
    saveRecord(env, { name: "down", status: "stopped" });
    const names = async (q: string) =>
      ((await (await env.request("GET", `/api/v1/workspaces${q}`)).json()) as { workspaces: Array<{ name: string }> }).workspaces.map((w) => w.name);
    expect(await names("?status=running")).toEqual(["up"]);
    expect(await names("?status=stopped")).toEqual(["down"]);
    expect(await names("?status=paused")).toEqual([]);
    expect((await names("?backend=docker")).sort()).toEqual(["down", "up"]);
  });

  test("label_selector filters by labels; the view carries them; a bad selector is 400", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "web", labels: { team: "web", env: "dev" } });
    saveRecord(env, { name: "db", labels: { team: "db", gpu: "" } });
    saveRecord(env, { name: "plain" });
    const names = async (selector: string) =>
      ((await (await env.request("GET", `/api/v1/workspaces?label_selector=${encodeURIComponent(selector)}`)).json()) as { workspaces: Array<{ name: string }> }).workspaces.map((w) => w.name).sort();
    expect(await names("team=web")).toEqual(["web"]);
    expect(await names("team!=web")).toEqual(["db", "plain"]);
    expect(await names("gpu")).toEqual(["db"]);
    expect(await names("!gpu")).toEqual(["plain", "web"]);
    expect(await names("team in (web,db),env notin (prod)")).toEqual(["db", "web"]);
    const one = (await (await env.request("GET", "/api/v1/workspaces/web")).json()) as { labels: Record<string, string> };
    expect(one.labels).toEqual({ team: "web", env: "dev" });
    const plain = (await (await env.request("GET", "/api/v1/workspaces/plain")).json()) as { labels: Record<string, string> };
    expect(plain.labels).toEqual({});
    const bad = await errorOf(await env.request("GET", `/api/v1/workspaces?label_selector=${encodeURIComponent("team in web")}`), 400, "INVALID_ARGUMENT");
    expect(bad.message).toBe("Invalid label_selector 'team in web': expected '(' after in/notin at position 9, found 'web'");
  });

  test("create refuses bad labels with 400 before making anything", async () => {
    await using env = makeEnv();
    const bad = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "l1", labels: { "bad key": "x" } }), 400, "INVALID_ARGUMENT");
    expect(bad.message).toContain("labels: label key 'bad key'");
    const badValue = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "l1", labels: { team: 3 } }), 400, "INVALID_ARGUMENT");
    expect(badValue.message).toContain("label values must be strings");
    expect(env.store.list()).toEqual([]);
  });
});

describe("a workspace that does not exist", () => {
  test("GET is 404 with exactly the spec's §3.6 body", async () => {
    await using env = makeEnv();
    const res = await env.request("GET", "/api/v1/workspaces/xyz");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({
      error: {
        code: "WORKSPACE_NOT_FOUND",
        message: "Workspace 'xyz' doesn't exist",
        suggestion: "Run 'nexus list' to see available workspaces",
        retryable: false,
        details: { workspaceName: "xyz" },
      },
    });
  });

  test("status, exec and delete are 404 WORKSPACE_NOT_FOUND", async () => {
    await using env = makeEnv();
    expect((await errorOf(await env.request("GET", "/api/v1/workspaces/nope/status"), 404, "WORKSPACE_NOT_FOUND")).details).toEqual({ workspaceName: "nope" });
    expect((await errorOf(await env.request("POST", "/api/v1/workspaces/nope/exec", { command: "ls" }), 404, "WORKSPACE_NOT_FOUND")).details).toEqual({ workspaceName: "nope" });
    expect((await errorOf(await env.request("DELETE", "/api/v1/workspaces/nope"), 404, "WORKSPACE_NOT_FOUND")).details).toEqual({ workspaceName: "nope" });
    expect((await errorOf(await env.request("DELETE", "/api/v1/workspaces/nope?force=true"), 404, "WORKSPACE_NOT_FOUND")).details).toEqual({ workspaceName: "nope" });
  });

  test("every spec route taking a workspace id answers 404 (or 501 while not implemented), never 5xx", async () => {
    await using env = makeEnv();
    for (const [method, path, body] of [
      ["GET", "/api/v1/workspaces/ghost", undefined],
      ["PATCH", "/api/v1/workspaces/ghost", { displayName: "x" }],
      ["DELETE", "/api/v1/workspaces/ghost", undefined],
      ["POST", "/api/v1/workspaces/ghost/start", undefined],
      ["POST", "/api/v1/workspaces/ghost/stop", { timeout: 30 }],
      ["POST", "/api/v1/workspaces/ghost/pause", { timeout: 60 }],
      ["POST", "/api/v1/workspaces/ghost/resume", { blocking: true, timeout: 120 }],
      ["POST", "/api/v1/workspaces/ghost/switch", undefined],
      ["POST", "/api/v1/workspaces/ghost/exec", { command: "npm", args: ["test"] }],
      ["GET", "/api/v1/workspaces/ghost/status", undefined],
    ] as const) {
      const res = await env.request(method, path, body);
      const json = (await res.json()) as { error?: { code: string; details?: unknown } };
      const got = { route: `${method} ${path}`, status: res.status, code: json.error?.code };
      if (res.status === 501) expect(got).toEqual({ route: got.route, status: 501, code: "UNIMPLEMENTED" });
      else expect(got).toEqual({ route: got.route, status: 404, code: "WORKSPACE_NOT_FOUND" });
    }
  });

  test("a streamed exec of an unknown workspace still reports WORKSPACE_NOT_FOUND", async () => {
    await using env = makeEnv();
    const res = await env.request("POST", "/api/v1/workspaces/nope/exec", { command: "ls" }, { accept: "application/x-ndjson" });
    const text = await res.text();
    // Either as an HTTP error, or as the stream's error event.
    const codes = res.status === 404 ? [JSON.parse(text).error.code] : text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.type === "error").map((e) => e.error.code);
    expect(codes).toEqual(["WORKSPACE_NOT_FOUND"]);
  });

  test("a name with URL-encoded characters is looked up as given", async () => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("GET", "/api/v1/workspaces/a%20b"), 404, "WORKSPACE_NOT_FOUND");
    expect(e.details).toEqual({ workspaceName: "a b" });
  });
});

describe("a workspace on record", () => {
  test("GET and status find it by id and by name", async () => {
    await using env = makeEnv();
    const r = saveRecord(env, { name: "found", status: "stopped", ports: { ssh: 32890, services: [{ name: "port-3000", containerPort: 3000, hostPort: 32891 }] } });
    for (const ref of [r.id, r.name]) {
      const got = (await (await env.request("GET", `/api/v1/workspaces/${ref}`)).json()) as Record<string, unknown>;
      expect(got).toMatchObject({ id: r.id, name: "found", status: "stopped", branch: r.branch, worktreePath: r.mountPath });
      const res = await env.request("GET", `/api/v1/workspaces/${ref}/status`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        workspaceId: r.id,
        name: "found",
        status: "stopped",
        backend: "docker",
        containerId: null,
        ports: { ssh: 32890, services: [{ name: "port-3000", containerPort: 3000, hostPort: 32891, status: "stopped" }] },
        createdAt: r.createdAt,
        lastActiveAt: r.lastActiveAt,
      });
    }
  });

  test("status of a running workspace answers 200 even when its host key file is missing", async () => {
    // Status is what a user runs to find out what is wrong: a workspace in a bad state must still
    // get a status view, not a 500.
    await using env = makeEnv();
    const r = saveRecord(env, { name: "keyless-status", status: "running" });
    const res = await env.request("GET", "/api/v1/workspaces/keyless-status/status");
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, body }).toMatchObject({ status: 200, body: { workspaceId: r.id, status: "running" } });
  });

  test("exec in a stopped workspace is 409 INVALID_STATE suggesting 'nexus start'", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "sleepy", status: "stopped" });
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces/sleepy/exec", { command: "ls" }), 409, "INVALID_STATE");
    expect(e.suggestion).toContain("nexus start sleepy");
    expect(e.details).toEqual({ workspaceName: "sleepy", status: "stopped" });
  });

  test("exec with a bad body is 400 before anything else", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "busy" });
    expect((await errorOf(await env.request("POST", "/api/v1/workspaces/busy/exec", {}), 400, "INVALID_ARGUMENT")).details).toEqual({ field: "command" });
    expect((await errorOf(await env.request("POST", "/api/v1/workspaces/busy/exec", { command: "ls", args: "-la" }), 400, "INVALID_ARGUMENT")).details).toEqual({ field: "args" });
    expect((await errorOf(await env.request("POST", "/api/v1/workspaces/busy/exec", "{"), 400, "INVALID_ARGUMENT")).message).toContain("not valid JSON");
  });

  test("exec in a running workspace without a host key on record is CONTAINER_ERROR, not a connection attempt", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "keyless" });
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces/keyless/exec", { command: "ls" }), 500, "CONTAINER_ERROR");
    expect(e.message).toContain("no host key");
  });

  test("delete of a workspace still being created is 409", async () => {
    await using env = makeEnv();
    saveRecord(env, { name: "pend", status: "pending" });
    await errorOf(await env.request("DELETE", "/api/v1/workspaces/pend?force=true"), 409, "INVALID_STATE");
    expect(env.store.findByName("pend")?.status).toBe("pending");
  });

  test("delete refuses a worktree with uncommitted work unless forced", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    const wt = join(repo, ".worktree", "wip");
    git(repo, "worktree", "add", "-q", "-b", "nexus/wip", wt);
    writeFileSync(join(wt, "draft.txt"), "unsaved thoughts\n");
    const r = saveRecord(env, {
      name: "wip",
      repository: { path: repo, gitCommonDir: join(repo, ".git"), cloned: false },
      worktree: { path: wt, branch: "nexus/wip", branchCreated: true },
      mountPath: wt,
    });
    const e = await errorOf(await env.request("DELETE", "/api/v1/workspaces/wip"), 409, "INVALID_STATE");
    expect(e.message).toContain("1 uncommitted change(s)");
    expect(e.suggestion).toContain("--force");
    expect(e.details?.uncommitted).toEqual(["?? draft.txt"]);
    // Nothing was touched.
    expect(env.store.get(r.id)?.status).toBe("running");
    expect(existsSync(join(wt, "draft.txt"))).toBe(true);
  });

  test("delete refuses a worktree with commits on no other branch unless forced", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    const wt = join(repo, ".worktree", "ahead");
    git(repo, "worktree", "add", "-q", "-b", "nexus/ahead", wt);
    writeFileSync(join(wt, "new.txt"), "x\n");
    git(wt, "add", "new.txt");
    git(wt, "commit", "-q", "-m", "local only");
    saveRecord(env, {
      name: "ahead",
      repository: { path: repo, gitCommonDir: join(repo, ".git"), cloned: false },
      worktree: { path: wt, branch: "nexus/ahead", branchCreated: true },
      mountPath: wt,
    });
    const e = await errorOf(await env.request("DELETE", "/api/v1/workspaces/ahead"), 409, "INVALID_STATE");
    expect(e.details?.unpushedCommits).toBe(1);
  });

  test("a forced delete with Docker down is 503 BACKEND_UNAVAILABLE and keeps the record for a retry", async () => {
    await using env = makeEnv();
    const r = saveRecord(env, { name: "doomed" });
    const e = await errorOf(await env.request("DELETE", "/api/v1/workspaces/doomed?force=true"), 503, "BACKEND_UNAVAILABLE");
    expect(e.retryable).toBe(true);
    expect(env.store.get(r.id)?.status).toBe("destroying");
    expect(new WorkspaceStore(env.paths).load().map((x) => x.id)).toEqual([r.id]);
  });
});

describe("POST /api/v1/workspaces validation", () => {
  const cases: Array<[what: string, body: unknown, fragment: string]> = [
    ["an invalid name", { name: "Bad Name", path: "/tmp" }, "name"],
    ["a name too long", { name: "a".repeat(64), path: "/tmp" }, "name"],
    ["no name", { path: "/tmp" }, "name"],
    ["a name of the wrong type", { name: 5, path: "/tmp" }, "name must be a string"],
    ["ports of the wrong type", { name: "a", ports: "3000" }, "ports"],
    ["env of the wrong type", { name: "a", env: ["A=1"] }, "env"],
    ["an unknown field", { name: "a", flavour: "vanilla" }, "unknown field 'flavour'"],
    ["a port above 65535", { name: "a", ports: [3000, 70000] }, "ports.1: ports must be 1-65535"],
    ["port 0", { name: "a", ports: [0] }, "1-65535"],
    ["port 22", { name: "a", ports: [3000, 22] }, "not 22"],
    ["a duplicate port", { name: "a", ports: [3000, 3000] }, "distinct"],
    ["the sprite backend", { name: "a", backend: "sprite" }, "docker"],
    ["an unknown resources preset", { name: "a", resources: "gigantic" }, "resources"],
    ["a JSON array", [{ name: "a" }], "Invalid create request"],
    ["a JSON string", "\"a\"", "Invalid create request"],
  ];

  test.each(cases)("%s is 400 INVALID_ARGUMENT", async (_what, body, fragment) => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", body), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain(fragment);
    expect(e.retryable).toBe(false);
    expect(e.suggestion).toBeTruthy();
    expectNothingLeft(env);
  });

  test("a body that is not JSON is 400 and says so", async () => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", "{name: 'x'"), 400, "INVALID_ARGUMENT");
    expect(e.message).toBe("The request body is not valid JSON");
  });

  test("a body over 1 MiB is RESOURCE_EXHAUSTED in the spec's format", async () => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) })), 503, "RESOURCE_EXHAUSTED");
    expect(e).toMatchObject({ retryable: false, details: { limit: 1024 * 1024 } });
    expectNothingLeft(env);
  });

  test("the limit goes by a declared length: over it is RESOURCE_EXHAUSTED before a build mismatch, within it the handler reads the body", async () => {
    await using env = makeEnv();
    const over = { "content-length": String(2 * 1024 * 1024), "x-nexus-expect-version": "0.0.0+other" };
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", "{}", over), 503, "RESOURCE_EXHAUSTED");
    expect(e).toMatchObject({ retryable: false, details: { limit: 1024 * 1024 } });
    const body = "{name: 'x'";
    const mismatch = await env.request("POST", "/api/v1/workspaces", body, { "content-length": String(body.length), "x-nexus-expect-version": "0.0.0+other" });
    expect(((await mismatch.json()) as { error: { code: string } }).error.code).toBe("VERSION_MISMATCH");
    const within = await errorOf(await env.request("POST", "/api/v1/workspaces", body, { "content-length": String(body.length) }), 400, "INVALID_ARGUMENT");
    expect(within.message).toBe("The request body is not valid JSON");
    expectNothingLeft(env);
  });

  test("an empty body is 400 asking for a name", async () => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces"), 400, "INVALID_ARGUMENT");
    expect(e.details).toEqual({ field: "name" });
    expect(e.message).not.toContain("unknown field");
  });

  test("a streamed create (accept: application/x-ndjson) with a bad body is still a 400 JSON error", async () => {
    await using env = makeEnv();
    for (const body of [{ name: "NOPE" }, "not json", { name: "a", ports: [22] }]) {
      const res = await env.request("POST", "/api/v1/workspaces", body, { accept: "application/x-ndjson" });
      expect(res.headers.get("content-type")).toContain("application/json");
      await errorOf(res, 400, "INVALID_ARGUMENT");
    }
  });

  test("create without path or repo is 400 'No repository given'", async () => {
    await using env = makeEnv();
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "orphan" }), 400, "INVALID_ARGUMENT");
    expect(e.message).toBe("No repository given");
    expectNothingLeft(env);
  });

  test("create with a path that does not exist is 400", async () => {
    await using env = makeEnv();
    const path = join(env.dir, "no-such-dir");
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "ghost", path }), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain("does not exist");
    expect(e.details).toEqual({ path });
    expectNothingLeft(env);
  });

  test("create with a path that is not a git repository is 400, and nothing is made", async () => {
    await using env = makeEnv();
    const plain = join(env.dir, "plain");
    mkdirSync(plain);
    writeFileSync(join(plain, "file.txt"), "x");
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "notgit", path: plain }), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain("not inside a git repository");
    expect(e.suggestion).toContain("--no-worktree");
    expectNothingLeft(env);
    expect(readdirSync(plain)).toEqual(["file.txt"]);
  });

  test("create in a repository without commits is 400", async () => {
    await using env = makeEnv();
    const repo = join(env.dir, "empty-repo");
    mkdirSync(repo);
    git(repo, "init", "-q", "-b", "main");
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "fresh", path: repo }), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain("no commits yet");
    expectNothingLeft(env);
    expect(existsSync(join(repo, ".worktree"))).toBe(false);
  });

  test("create from a base branch that does not exist is 400", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "nobase", path: repo, fromBranch: "develop" }), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain("'develop'");
    expectNothingLeft(env, repo, "nobase");
  });

  test("create where .worktree/<name> already exists is 400 and leaves that folder alone", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    mkdirSync(join(repo, ".worktree", "taken"), { recursive: true });
    writeFileSync(join(repo, ".worktree", "taken", "mine.txt"), "keep me");
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "taken", path: repo }), 400, "INVALID_ARGUMENT");
    expect(e.message).toContain("already exists");
    expect(existsSync(join(repo, ".worktree", "taken", "mine.txt"))).toBe(true);
    expect(env.store.list()).toEqual([]);
  });

  test("create with a name already on record is 409 WORKSPACE_ALREADY_EXISTS", async () => {
    await using env = makeEnv();
    const r = saveRecord(env, { name: "dup" });
    const e = await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "dup", path: env.dir }), 409, "WORKSPACE_ALREADY_EXISTS");
    expect(e.details).toEqual({ workspaceName: "dup" });
    expect(env.store.list().map((x) => x.id)).toEqual([r.id]);
  });
});

describe("create with Docker unavailable", () => {
  test("fails with BACKEND_UNAVAILABLE and rolls back completely", async () => {
    const port = await freePort();
    // A range of exactly one port: if the failed create kept it, the next allocation would be exhausted.
    await using env = makeEnv(`ssh:\n  port_range:\n    start: ${port}\n    end: ${port}\n`);
    const repo = makeRepo(join(env.dir, "repo"));
    const headBefore = git(repo, "rev-parse", "HEAD");
    const res = await env.request("POST", "/api/v1/workspaces", { name: "rollback", path: repo });
    const e = await errorOf(res, 503, "BACKEND_UNAVAILABLE");
    expect(e.retryable).toBe(true);
    expect(e.message).toContain("/nonexistent.sock");
    expectNothingLeft(env, repo, "rollback");
    expect(git(repo, "rev-parse", "HEAD")).toBe(headBefore);
    expect(git(repo, "branch", "--show-current")).toBe("main");
    expect(await env.ports.allocate(1)).toEqual([port]);
    expect(env.published.filter((ev) => ev.payload.status === "running")).toEqual([]);
  });

  test("a retry of the same name fails the same way (the name is not stuck as 'being created')", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    for (let i = 0; i < 2; i++) {
      await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "again", path: repo }), 503, "BACKEND_UNAVAILABLE");
    }
    expectNothingLeft(env, repo, "again");
  });

  test("a branch that existed before the create is kept by the rollback", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    git(repo, "branch", "nexus/mine");
    const tip = git(repo, "rev-parse", "nexus/mine");
    await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "mine", path: repo }), 503, "BACKEND_UNAVAILABLE");
    expect(git(repo, "rev-parse", "nexus/mine")).toBe(tip);
    expect(existsSync(join(repo, ".worktree", "mine"))).toBe(false);
    expect(env.store.list()).toEqual([]);
  });

  test("with service ports, every allocated port is released", async () => {
    const range = await freeWindow(2);
    await using env = makeEnv(`ssh:\n  port_range:\n    start: ${range.start}\n    end: ${range.end}\n`);
    const repo = makeRepo(join(env.dir, "repo"));
    await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "svc", path: repo, ports: [3000] }), 503, "BACKEND_UNAVAILABLE");
    expectNothingLeft(env, repo, "svc");
    // The create took both ports of the range; both are free again.
    expect((await env.ports.allocate(2)).sort()).toEqual([range.start, range.end]);
  });

  test("--no-worktree on a plain folder also rolls back", async () => {
    await using env = makeEnv();
    const plain = join(env.dir, "plain");
    mkdirSync(plain);
    await errorOf(await env.request("POST", "/api/v1/workspaces", { name: "flat", path: plain, noWorktree: true }), 503, "BACKEND_UNAVAILABLE");
    expectNothingLeft(env);
    expect(readdirSync(plain)).toEqual([]);
  });

  test("a streamed create ends with the error as its last event (and no result)", async () => {
    await using env = makeEnv();
    const repo = makeRepo(join(env.dir, "repo"));
    const res = await env.request("POST", "/api/v1/workspaces", { name: "streamed", path: repo }, { accept: "application/x-ndjson" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const events = (await res.text()).trim().split("\n").map((l) => JSON.parse(l) as { type: string; phase?: string; error?: { code: string } });
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.slice(0, -1).every((e) => e.type === "progress" && typeof e.phase === "string")).toBe(true);
    const last = events.at(-1)!;
    expect(last.type).toBe("error");
    expect(last.error?.code).toBe("BACKEND_UNAVAILABLE");
    expect(events.some((e) => e.type === "result")).toBe(false);
    expectNothingLeft(env, repo, "streamed");
  });
});
