// gRPC against the compiled daemon: a grpc-js client on ~/.nexus/grpc.sock (and TCP with a token),
// real Docker, a temporary NEXUS_HOME and git repository.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fromGrpcError } from "../../src/api/grpc/errors.ts";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("grpc");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
type AnyClient = grpc.Client & Record<string, any>;
let daemon: TestDaemon;
let client: AnyClient;

function call<T = any>(method: string, req: unknown, c: AnyClient = client, md = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => c[method](req, md, { deadline: Date.now() + 300_000 }, (err: unknown, res: T) => (err ? reject(err) : resolve(res))));
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

function collect(stream: grpc.ClientReadableStream<any>): Promise<{ messages: Array<{ at: number; m: any }>; error?: grpc.ServiceError }> {
  const messages: Array<{ at: number; m: any }> = [];
  return new Promise((resolve) => {
    stream.on("data", (m) => messages.push({ at: Date.now(), m }));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

function writeFile(header: { workspaceId: string; path: string; mode?: number }, chunks: Buffer[], c: AnyClient = client): Promise<any> {
  return new Promise((resolve, reject) => {
    const s = c.WriteFile((err: unknown, res: unknown) => (err ? reject(err) : resolve(res)));
    s.write({ header });
    for (const data of chunks) s.write({ data });
    s.end();
  });
}

async function readFile(workspaceId: string, path: string): Promise<Buffer> {
  const r = await collect(client.StreamFile({ workspaceId, path }));
  if (r.error) throw r.error;
  expect(r.messages.at(-1)!.m.eof).toBe(true);
  return Buffer.concat(r.messages.map((x) => x.m.data as Buffer));
}

/** Run as root (CI), the daemon makes a worktree the container user (uid 1000) cannot write: open it, as README's limitation says. */
function openWorktree(path: string): void {
  if (process.getuid?.() === 0) execFileSync("chmod", ["-R", "a+rwX", path]);
}

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon(home);
  client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as AnyClient;
});

afterAll(async () => {
  try {
    await call("DeleteWorkspace", { workspaceId: "g1", force: true }).catch(() => {});
  } finally {
    client?.close();
    await daemon?.stop();
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
});

describe("gRPC on the unix socket", () => {
  test("the socket is 0600 and the token file exists", () => {
    expect(statSync(join(home, "grpc.sock")).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, "token")).mode & 0o777).toBe(0o600);
  });

  test("CreateWorkspace makes a running workspace; bad and duplicate requests map to gRPC codes", async () => {
    const ws = await call("CreateWorkspace", { name: "g1", repositoryPath: repo, env: { FOO: "bar" } });
    expect(ws).toMatchObject({ name: "g1", status: "WORKSPACE_STATUS_RUNNING", backend: "BACKEND_TYPE_DOCKER", branch: "nexus/g1" });
    expect(ws.id).toMatch(/^ws-/);
    expect(ws.config.env).toEqual({ FOO: "bar" });
    expect(Number(ws.createdAt.seconds)).toBeGreaterThan(1_700_000_000);
    openWorktree(ws.config.worktreePath);
    const dup = await failure(call("CreateWorkspace", { name: "g1", repositoryPath: repo }));
    expect(dup.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(fromGrpcError(dup).code).toBe("WORKSPACE_ALREADY_EXISTS");
    const bad = await failure(call("CreateWorkspace", { name: "Bad Name!", repositoryPath: repo }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.metadata.get("nexus-error-code")[0]).toBe("INVALID_ARGUMENT");
    expect(bad.metadata.get("nexus-error-retryable")[0]).toBe("false");
  }, 600_000);

  test("Get / List / GetWorkspaceStatus / Update", async () => {
    const ws = await call("GetWorkspace", { workspaceId: "g1" });
    expect(ws.name).toBe("g1");
    expect((await call("GetWorkspace", { workspaceId: ws.id })).name).toBe("g1");
    const list = await call("ListWorkspaces", {});
    expect(list.workspaces.map((w: any) => w.name)).toEqual(["g1"]);
    expect((await call("ListWorkspaces", { status: "WORKSPACE_STATUS_STOPPED" })).workspaces).toEqual([]);
    const status = await call("GetWorkspaceStatus", { workspaceId: "g1" });
    expect(status).toMatchObject({ name: "g1", status: "WORKSPACE_STATUS_RUNNING" });
    expect(status.sshPort).toBeGreaterThan(0);
    const updated = await call("UpdateWorkspace", { workspaceId: "g1", displayName: "gRPC one", idleTimeoutSeconds: 600 });
    expect(updated.displayName).toBe("gRPC one");
    expect(updated.config.idleTimeoutSeconds).toBe(600);
    const missing = await failure(call("GetWorkspace", { workspaceId: "nope" }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    const e = fromGrpcError(missing);
    expect(e).toMatchObject({ code: "WORKSPACE_NOT_FOUND", suggestion: "Run 'nexus list' to see available workspaces", details: { workspaceName: "nope" } });
    expect((await failure(call("GetWorkspace", {}))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("ExecStream streams stdout and stderr as they come, then the exit code", async () => {
    const script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; sleep 0.3; done; exit 3";
    const started = Date.now();
    const r = await collect(client.ExecStream({ workspaceId: "g1", command: "sh", args: ["-c", script] }));
    expect(r.error).toBeUndefined();
    const out = Buffer.concat(r.messages.filter((x) => x.m.content === "stdout").map((x) => x.m.stdout)).toString();
    const err = Buffer.concat(r.messages.filter((x) => x.m.content === "stderr").map((x) => x.m.stderr)).toString();
    expect(out).toBe("out1\nout2\nout3\nout4\nout5\n");
    expect(err).toBe("err1\nerr2\nerr3\nerr4\nerr5\n");
    const last = r.messages.at(-1)!.m;
    expect(last.content).toBe("exitCode");
    expect(last.exitCode).toBe(3);
    // The first output arrived long before the end: it streamed.
    expect(r.messages[0]!.at - started).toBeLessThan(r.messages.at(-1)!.at - started - 800);
    const env = await collect(client.ExecStream({ workspaceId: "g1", command: "printenv", args: ["FOO"], env: { FOO: "x y" } }));
    expect(Buffer.concat(env.messages.filter((x) => x.m.content === "stdout").map((x) => x.m.stdout)).toString()).toBe("x y\n");
    // stdin: closed at once without the field (cat ends), or the field's bytes then end of file.
    const closed = await collect(client.ExecStream({ workspaceId: "g1", command: "cat" }));
    expect(closed.messages.at(-1)!.m.exitCode).toBe(0);
    const fed = await collect(client.ExecStream({ workspaceId: "g1", command: "wc", args: ["-c"], stdin: Buffer.from("hello\n") }));
    expect(Buffer.concat(fed.messages.filter((x) => x.m.content === "stdout").map((x) => x.m.stdout)).toString().trim()).toBe("6");
  }, 60_000);

  test("cancelling ExecStream kills the command", async () => {
    const stream = client.ExecStream({ workspaceId: "g1", command: "sh", args: ["-c", "echo started; sleep 347"] });
    await new Promise<void>((r) => stream.once("data", () => r()));
    stream.on("error", () => {});
    stream.cancel();
    const left = async () => {
      const ps = await collect(client.ExecStream({ workspaceId: "g1", command: "sh", args: ["-c", "ps -eo args | grep -c '^sleep 347' || true"] }));
      return Buffer.concat(ps.messages.filter((x) => x.m.content === "stdout").map((x) => x.m.stdout)).toString().trim();
    };
    // The kill reaches the command in its own time after the cancel: gone soon, not at once.
    expect(await until("the command is gone", left, (n) => n === "0", 30_000)).toBe("0");
  }, 60_000);

  test("ExecStream with bad input gives INVALID_ARGUMENT; a stopped workspace FAILED_PRECONDITION (below)", async () => {
    const r = await collect(client.ExecStream({ workspaceId: "g1", command: "" }));
    expect(r.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("WriteFile then StreamFile round-trips bytes, in chunks, inside /workspace", async () => {
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
    const w = await writeFile({ workspaceId: "g1", path: "sub/dir/data.bin", mode: 0o600 }, [big.subarray(0, 100_000), big.subarray(100_000)]);
    expect(w).toMatchObject({ path: "/workspace/sub/dir/data.bin", bytesWritten: big.length });
    expect((await readFile("g1", "sub/dir/data.bin")).equals(big)).toBe(true);
    // chunk_size: messages of that many bytes (the last shorter), then the empty eof message.
    const sized = await collect(client.StreamFile({ workspaceId: "g1", path: "sub/dir/data.bin", chunkSize: 100_000 }));
    expect(sized.error).toBeUndefined();
    expect(sized.messages.map((x) => x.m.data.length)).toEqual([100_000, 100_000, 100_000, 7200, 0]);
    expect(Buffer.concat(sized.messages.map((x) => x.m.data as Buffer)).equals(big)).toBe(true);
    const unset = await collect(client.StreamFile({ workspaceId: "g1", path: "sub/dir/data.bin" }));
    expect(unset.messages.map((x) => x.m.data.length)).toEqual([65536, 65536, 65536, 65536, 45056, 0]);
    const tooSmall = await collect(client.StreamFile({ workspaceId: "g1", path: "sub/dir/data.bin", chunkSize: 10 }));
    expect(tooSmall.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await readFile("g1", "/workspace/README.md")).toString()).toBe("# fixture\n");
    const mode = await collect(client.ExecStream({ workspaceId: "g1", command: "stat", args: ["-c", "%a", "sub/dir/data.bin"] }));
    expect(Buffer.concat(mode.messages.filter((x) => x.m.content === "stdout").map((x) => x.m.stdout)).toString().trim()).toBe("600");
    const empty = await writeFile({ workspaceId: "g1", path: "empty.txt" }, []);
    expect(empty.bytesWritten).toBe(0);
    expect((await readFile("g1", "empty.txt")).length).toBe(0);
  }, 60_000);

  test("paths outside /workspace are refused with PERMISSION_DENIED: .., absolute, symlink out", async () => {
    await collect(client.ExecStream({ workspaceId: "g1", command: "ln", args: ["-sfn", "/etc", "/workspace/out"] }));
    for (const path of ["../etc/passwd", "/etc/passwd", "sub/../../etc/passwd", "out/passwd", "/workspace/out/hostname"]) {
      const r = await collect(client.StreamFile({ workspaceId: "g1", path }));
      expect(r.error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(r.messages).toHaveLength(0);
      const w = await failure(writeFile({ workspaceId: "g1", path }, [Buffer.from("x")]));
      expect(w.code).toBe(grpc.status.PERMISSION_DENIED);
    }
    const missing = await collect(client.StreamFile({ workspaceId: "g1", path: "no/such/file" }));
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
    const noHeader = await failure(new Promise((resolve, reject) => {
      const s = client.WriteFile((err: unknown, res: unknown) => (err ? reject(err) : resolve(res)));
      s.write({ data: Buffer.from("x") });
      s.end();
    }));
    expect(noHeader.code).toBe(grpc.status.INVALID_ARGUMENT);
  }, 60_000);

  test("GetStats and StreamStats read the container's stats", async () => {
    const s = await call("GetStats", { workspaceId: "g1" });
    expect(s.workspaceId).toMatch(/^ws-/);
    expect(s.memoryUsedBytes).toBeGreaterThan(0);
    expect(s.pids).toBeGreaterThan(0);
    const stream = client.StreamStats({ workspaceId: "g1", intervalSeconds: 1 });
    const got: any[] = [];
    const at: number[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (m: any) => {
        got.push(m);
        at.push(Date.now());
        if (got.length === 3) {
          stream.cancel();
          resolve();
        }
      });
      stream.on("error", () => {});
    });
    expect(got[1].memoryUsedBytes).toBeGreaterThan(0);
    // Docker's own stream: one sample a second, not one per 1-2 s round trip.
    for (const gap of [at[1]! - at[0]!, at[2]! - at[1]!]) expect(gap).toBeLessThan(1600);
  }, 60_000);

  test("SSH: GetSSHInfo, GenerateSSHConfig, RotateSSHKeys", async () => {
    const info = await call("GetSSHInfo", { workspaceId: "g1" });
    expect(info).toMatchObject({ enabled: true, host: "localhost", user: "nexus" });
    expect(info.hostKeyFingerprint).toMatch(/^SHA256:/);
    const cfg = await call("GenerateSSHConfig", { workspaceId: "g1", includeHostKey: true });
    expect(cfg.hostEntryName).toBe("nexus-g1");
    expect(cfg.configContent).toContain("Host nexus-g1");
    const op = await call("RotateSSHKeys", { workspaceId: "g1" });
    expect(op).toMatchObject({ type: "rotate-keys", done: true });
  });

  test("lifecycle: Pause, Resume, Stop, WaitForWorkspace, Start, Restart, Switch", async () => {
    expect((await call("PauseWorkspace", { workspaceId: "g1" })).status).toBe("WORKSPACE_STATUS_PAUSED");
    const resumed = await call("ResumeWorkspace", { workspaceId: "g1" });
    expect(resumed.status).toBe("WORKSPACE_STATUS_RUNNING");
    expect(resumed.durationMs).toBeGreaterThanOrEqual(0);
    expect((await call("StopWorkspace", { workspaceId: "g1", timeoutSeconds: 5 })).status).toBe("WORKSPACE_STATUS_STOPPED");
    const stopped = await collect(client.ExecStream({ workspaceId: "g1", command: "true" }));
    expect(stopped.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const notYet = await call("WaitForWorkspace", { workspaceId: "g1", condition: "running", timeoutSeconds: 1 });
    expect(notYet).toMatchObject({ conditionMet: false, status: "WORKSPACE_STATUS_STOPPED" });
    expect((await call("WaitForWorkspace", { workspaceId: "g1", condition: "stopped", timeoutSeconds: 1 })).conditionMet).toBe(true);
    const waiting = call("WaitForWorkspace", { workspaceId: "g1", condition: "running", timeoutSeconds: 120 });
    const started = await call("StartWorkspace", { workspaceId: "g1" });
    expect(started.status).toBe("WORKSPACE_STATUS_RUNNING");
    expect(await waiting).toMatchObject({ conditionMet: true, status: "WORKSPACE_STATUS_RUNNING" });
    expect((await call("RestartWorkspace", { workspaceId: "g1" })).status).toBe("WORKSPACE_STATUS_RUNNING");
    const sw = await call("SwitchWorkspace", { workspaceId: "g1" });
    expect(sw).toMatchObject({ name: "g1", status: "WORKSPACE_STATUS_RUNNING" });
    expect((await failure(call("WaitForWorkspace", { workspaceId: "g1", condition: "sideways" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  }, 300_000);

  test("file sync answers for a local workspace (provider bind); services and sessions are there", async () => {
    expect(await call("GetSyncStatus", { workspaceId: "g1" })).toMatchObject({ provider: "bind", state: "SYNC_STATE_SYNCING", sessionId: "", errorMessage: "" });
    const paused = await failure(call("PauseSync", { workspaceId: "g1" }));
    expect(fromGrpcError(paused)).toMatchObject({ code: "INVALID_STATE" });
    expect(await call("FlushSync", { workspaceId: "g1" })).toEqual({ flushed: true, durationMs: 0 });
    expect(await call("ListConflicts", { workspaceId: "g1" })).toEqual({ conflicts: [] });
    expect(fromGrpcError(await failure(call("ResolveConflict", { workspaceId: "g1", path: "a.txt", resolution: "alpha" })))).toMatchObject({ code: "NOT_FOUND" });
    expect(fromGrpcError(await failure(call("ResolveConflict", { workspaceId: "g1", path: "a.txt", resolution: "gamma" })))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(fromGrpcError(await failure(call("GetSyncStatus", { workspaceId: "nope" })))).toMatchObject({ code: "WORKSPACE_NOT_FOUND" });
    // Sessions are there now: a workspace without any lists none.
    expect(await call("ListSessions", { workspaceId: "g1" })).toEqual({ sessions: [] });
    // Services are there now: a workspace without any lists none, and an unknown one is NOT_FOUND.
    expect(await call("ListServices", { workspaceId: "g1" })).toEqual({ services: [] });
    const logs = await collect(client.GetServiceLogs({ workspaceId: "g1", serviceName: "web" }));
    expect(logs.error?.code).toBe(grpc.status.NOT_FOUND);
    expect((await failure(call("RunHook", { workspaceId: "g1", hook: "pre-start" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failure(call("RunHook", { workspaceId: "g1", hook: "pre-build" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("malformed and huge messages are refused and the daemon keeps serving", async () => {
    const raw = new grpc.Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure());
    const garbage = await failure(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest("/nexus.workspace.v1.WorkspaceService/GetWorkspace", (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]), (err, res) => (err ? reject(err) : resolve(res))),
      ),
    );
    expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(garbage.metadata.get("nexus-error-code")[0]).toBe("INVALID_ARGUMENT");
    const huge = await failure(call("GetWorkspace", { workspaceId: "x".repeat(5 * 1024 * 1024) }));
    expect(huge.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Under the message limit, but echoed in the error: the answer must still be a proper status.
    const echoed = await failure(call("GetWorkspace", { workspaceId: "x".repeat(3 * 1024 * 1024) }));
    expect(echoed.code).toBe(grpc.status.NOT_FOUND);
    expect(fromGrpcError(echoed).code).toBe("WORKSPACE_NOT_FOUND");
    const unknown = await failure(
      new Promise((resolve, reject) => raw.makeUnaryRequest("/nexus.workspace.v1.WorkspaceService/NoSuchMethod", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err, res) => (err ? reject(err) : resolve(res)))),
    );
    expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);
    raw.close();
    expect(daemon.alive()).toBe(true);
    expect((await call("GetWorkspace", { workspaceId: "g1" })).name).toBe("g1");
  });
});

describe("gRPC over TCP needs a token", () => {
  test("no token or a wrong one: UNAUTHENTICATED; the daemon token or a JWT: served", async () => {
    const tcp = new Client(`127.0.0.1:${daemon.port + 1}`, grpc.credentials.createInsecure()) as AnyClient;
    try {
      const none = await failure(call("ListWorkspaces", {}, tcp));
      expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(none.metadata.get("nexus-error-code")[0]).toBe("AUTHENTICATION_FAILED");
      const wrong = new grpc.Metadata();
      wrong.set("authorization", "Bearer not-the-token");
      expect((await failure(call("ListWorkspaces", {}, tcp, wrong))).code).toBe(grpc.status.UNAUTHENTICATED);
      expect((await failure(call("ListSessions", {}, tcp))).code).toBe(grpc.status.UNAUTHENTICATED);
      const right = new grpc.Metadata();
      right.set("authorization", `Bearer ${daemon.token()}`);
      expect((await call("ListWorkspaces", {}, tcp, right)).workspaces).toHaveLength(1);
      const res = await fetch(`http://127.0.0.1:${daemon.port}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${daemon.token()}` }, body: JSON.stringify({ ttl: "5m" }) });
      const jwt = (await res.json()) as { token: string };
      const viaJwt = new grpc.Metadata();
      viaJwt.set("authorization", `Bearer ${jwt.token}`);
      expect((await call("GetWorkspace", { workspaceId: "g1" }, tcp, viaJwt)).name).toBe("g1");
      const stream = await collect(tcp.ExecStream({ workspaceId: "g1", command: "true" }));
      expect(stream.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      tcp.close();
    }
  });

  test("DeleteWorkspace removes it", async () => {
    const r = await call("DeleteWorkspace", { workspaceId: "g1", force: true });
    expect(r.deleted).toBe(true);
    expect((await failure(call("GetWorkspace", { workspaceId: "g1" }))).code).toBe(grpc.status.NOT_FOUND);
  }, 120_000);
});
