// Finding 6 and the "Low" list: the API is no root shell, and bad input is a 400, never a 5xx.
// Requests go to the REST app in-process, over the real engine and a real workspace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/api/http/app.ts";
import { statusFromEnum } from "../../src/api/grpc/mappers.ts";
import { createJwt } from "../../src/auth/tokens.ts";
import { checkWorkspacePath } from "../../src/core/caller.ts";
import { NexusError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/log.ts";
import { buildInfo } from "../../src/version.ts";
import { leftovers } from "../helpers/docker.ts";
import { makeRepo } from "../helpers/fixtures.ts";
import { appRequester } from "../helpers/http.ts";
import { harness, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;
let repo = "";

beforeAll(async () => {
  h = await harness("sec-api");
  repo = makeRepo(join(h.root.path, "repo"));
  await h.s.workspaces.create({ name: "sec-api", path: repo, forwardAgent: true });
}, 600_000);

afterAll(async () => {
  await h?.close();
});

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code ?? "", message: body.error?.message ?? "" };
}

describe("the API is as powerful as its caller, never more", () => {
  test("a workspace cannot mount a system folder (noWorktree path /etc), and nothing is made", async () => {
    for (const path of ["/etc", "/", "/var/run", "/proc/self/root/etc"]) {
      const e = await errorOf(await h.req("POST", "/api/v1/workspaces", { name: "evil-etc", noWorktree: true, path }));
      expect(e).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
    }
    expect(h.s.store.findByName("evil-etc")).toBeUndefined();
    expect(leftovers(h.home).containers.length).toBe(1);
  }, 120_000);

  test("nor the daemon's own state (its token and keys)", async () => {
    const e = await errorOf(await h.req("POST", "/api/v1/workspaces", { name: "evil-home", noWorktree: true, path: h.home }));
    expect(e).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
  }, 120_000);

  test("a folder another user owns is refused to a caller who is not root", () => {
    const dir = join(h.root.path, "theirs");
    mkdirSync(dir);
    // The rule, for a caller whose uid does not own the folder (the daemon's own user is the caller).
    expect(() => checkWorkspacePath(dir, { uid: 4242 })).toThrow(NexusError);
    expect(checkWorkspacePath(dir, { uid: process.getuid!() })).toBe(dir);
  }, 120_000);

  test("agentSocket must be the caller's agent, never the Docker engine's socket", async () => {
    const sock = existsSync("/var/run/docker.sock") ? "/var/run/docker.sock" : "/run/docker.sock";
    const c = await errorOf(await h.req("POST", "/api/v1/workspaces", { name: "evil-sock", path: repo, agentSocket: sock }));
    expect(c).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
    expect(h.s.store.findByName("evil-sock")).toBeUndefined();
    const x = await errorOf(await h.req("POST", "/api/v1/workspaces/sec-api/exec", { command: "true", agentSocket: sock }));
    expect(x).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
    const f = await errorOf(await h.req("POST", "/api/v1/workspaces/sec-api/exec", { command: "true", agentSocket: join(repo, "README.md") }));
    expect(f).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
  }, 120_000);

  test("forwards do not bind privileged host ports without daemon.allow_privileged_ports", async () => {
    for (const hostPort of [1, 80, 443]) {
      const e = await errorOf(await h.req("POST", "/api/v1/workspaces/sec-api/ports", { containerPort: 8080, hostPort }));
      expect(e).toMatchObject({ status: 403, code: "PERMISSION_DENIED" });
    }
  }, 120_000);
});

describe("bad input is a 400, never a 5xx", () => {
  test("exec: timeout 1e308, a NUL in the command, a 900 KiB argument", async () => {
    const cases: unknown[] = [
      { command: "true", timeout: 1e308 },
      { command: "ec\0ho", args: ["x"] },
      { command: "echo", args: ["a\0b"] },
      { command: "echo", args: ["x".repeat(900 * 1024)] },
    ];
    for (const body of cases) {
      const e = await errorOf(await h.req("POST", "/api/v1/workspaces/sec-api/exec", body));
      expect(e).toMatchObject({ status: 400, code: "INVALID_ARGUMENT" });
    }
  }, 120_000);

  test("create: an image holding a newline", async () => {
    const e = await errorOf(await h.req("POST", "/api/v1/workspaces", { name: "bad-image", path: repo, image: "debian\nFROM x" }));
    expect(e).toMatchObject({ status: 400, code: "INVALID_ARGUMENT" });
  }, 120_000);

  test("tokens: ttl 1e308", async () => {
    const app = createApp({
      workspaces: h.s.workspaces,
      build: buildInfo(),
      daemon: { shutdown() {}, pid: process.pid, startedAt: new Date().toISOString() },
      log: silentLogger,
      tokens: { create: (ttl) => createJwt("x".repeat(32), ttl) },
    });
    const req = appRequester(app);
    for (const ttl of [1e308, Number.MAX_SAFE_INTEGER, "100000000h"]) {
      const e = await errorOf(await req("POST", "/api/v1/tokens", { ttl }));
      expect(e).toMatchObject({ status: 400, code: "INVALID_ARGUMENT" });
    }
    expect((await req("POST", "/api/v1/tokens", { ttl: "1h" })).status).toBe(201);
  }, 120_000);

  test("gRPC: an unknown status enum number is INVALID_ARGUMENT, with no JS error text", () => {
    let err: unknown;
    try {
      statusFromEnum(99); // the generated type says it: an enum number the .proto does not name stays a number
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("INVALID_ARGUMENT");
    expect((err as NexusError).message).not.toContain("is not a function");
  }, 120_000);
});
