import { describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERROR_METADATA, fromGrpcError, toGrpcError } from "../../src/api/grpc/errors.ts";
import { statusEnum, statusFromEnum, timestamp, toGrpcWorkspace } from "../../src/api/grpc/mappers.ts";
import { serveGrpc, workspaceServiceDefinition, type GrpcDeps } from "../../src/api/grpc/server.ts";
import { silentLogger } from "../../src/core/log.ts";
import { ERROR_CODES, NexusError, type ErrorCode } from "../../src/core/errors.ts";
import { DESCRIPTOR_FILE, MESSAGES_DIR, MESSAGES_FILE, renderDescriptor, renderMessageFiles } from "../../scripts/gen-proto.ts";

describe("gRPC error mapping", () => {
  const expected: Record<string, grpc.status> = {
    WORKSPACE_NOT_FOUND: grpc.status.NOT_FOUND,
    WORKSPACE_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
    INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
    INVALID_STATE: grpc.status.FAILED_PRECONDITION,
    PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
    AUTHENTICATION_FAILED: grpc.status.UNAUTHENTICATED,
    BACKEND_UNAVAILABLE: grpc.status.UNAVAILABLE,
    RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
    UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
    NOT_FOUND: grpc.status.NOT_FOUND,
    CONTAINER_ERROR: grpc.status.INTERNAL,
    INTERNAL_ERROR: grpc.status.INTERNAL,
    SYNC_SESSION_FAILED: grpc.status.UNAVAILABLE,
    SYNC_CONFLICT: grpc.status.ABORTED,
    SYNC_PAUSED: grpc.status.UNAVAILABLE,
    SYNC_PROVIDER_NOT_FOUND: grpc.status.FAILED_PRECONDITION,
  };
  for (const [code, status] of Object.entries(expected)) {
    test(`${code} → ${grpc.status[status]}`, () => {
      expect(toGrpcError(new NexusError(code as ErrorCode, "m")).code).toBe(status);
    });
  }

  test("no sync error is INTERNAL (each has a status of its meaning)", () => {
    for (const code of Object.keys(ERROR_CODES).filter((c) => c.startsWith("SYNC_")) as ErrorCode[]) {
      expect(toGrpcError(new NexusError(code, "m")).code).not.toBe(grpc.status.INTERNAL);
      expect(fromGrpcError(toGrpcError(new NexusError(code, "m"))).code).toBe(code);
    }
  });

  test("every taxonomy code maps to some status", () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect(typeof toGrpcError(new NexusError(code, "m")).code).toBe("number");
  });

  test("code, suggestion, retryable and details ride in metadata and come back", () => {
    const e = new NexusError("WORKSPACE_NOT_FOUND", "Workspace 'x' doesn't exist", { suggestion: "Run 'nexus list' — to see", details: { workspaceName: "x" } });
    const g = toGrpcError(e);
    expect(g.details).toBe("Workspace 'x' doesn't exist");
    expect(g.metadata.get(ERROR_METADATA.code)).toEqual(["WORKSPACE_NOT_FOUND"]);
    expect(g.metadata.get(ERROR_METADATA.retryable)).toEqual(["false"]);
    expect(String(g.metadata.get(ERROR_METADATA.suggestion)[0])).toBe("Run 'nexus list' \\u2014 to see");
    expect(fromGrpcError(g).toJSON()).toEqual({ code: "WORKSPACE_NOT_FOUND", message: "Workspace 'x' doesn't exist", retryable: false, suggestion: "Run 'nexus list' \\u2014 to see", details: { workspaceName: "x" } });
  });

  test("an error echoing a huge request stays small enough for the trailers, and its details still parse", () => {
    const ref = "x".repeat(3 * 1024 * 1024);
    const g = toGrpcError(new NexusError("WORKSPACE_NOT_FOUND", `Workspace '${ref}' doesn't exist`, { suggestion: "Run 'nexus list'", details: { workspaceName: ref } }));
    expect(g.code).toBe(grpc.status.NOT_FOUND);
    expect(g.details.length).toBeLessThan(1200);
    expect(String(g.metadata.get(ERROR_METADATA.details)[0]).length).toBeLessThanOrEqual(4096);
    const back = fromGrpcError(g);
    expect(back.code).toBe("WORKSPACE_NOT_FOUND");
    expect(String(back.details!.workspaceName)).toStartWith("xxxx");
    expect(toGrpcError(new NexusError("CANCELLED", "stopped")).code).toBe(grpc.status.CANCELLED);
  });

  test("a thrown non-NexusError becomes INTERNAL with INTERNAL_ERROR", () => {
    const g = toGrpcError(new Error("boom"));
    expect(g.code).toBe(grpc.status.INTERNAL);
    expect(g.metadata.get(ERROR_METADATA.code)).toEqual(["INTERNAL_ERROR"]);
  });
});

describe("the embedded descriptor", () => {
  test("is fresh: regenerating from the .proto gives the committed file", () => {
    expect(renderDescriptor()).toBe(readFileSync(DESCRIPTOR_FILE, "utf8"));
  });

  test("the message types are fresh: regenerating from the .proto gives the committed messages.ts and messages/, and nothing else is there", () => {
    const files = renderMessageFiles();
    for (const [file, text] of files) expect({ file, text: readFileSync(file, "utf8") }).toEqual({ file, text });
    expect(readdirSync(MESSAGES_DIR).sort()).toEqual([...files.keys()].filter((f) => f !== MESSAGES_FILE).map((f) => f.slice(MESSAGES_DIR.length + 1)).sort());
    // No part's file holds the monolith again.
    for (const [file, text] of files) expect({ file, lines: text.split("\n").length < 500 }).toEqual({ file, lines: true });
  });

  test("the message types say what the loader decodes: defaults set, oneof members and proto3 optional only when set", () => {
    const def = workspaceServiceDefinition();
    const types = [...renderMessageFiles().values()].join("\n");
    // StartWorkspaceRequest: `blocking` is proto3 optional, the rest always there.
    expect(types).toContain("export interface StartWorkspaceRequest__Output {\n  workspaceId: string;\n  skipHooks: boolean;\n  skipServices: boolean;\n  blocking?: boolean;\n  timeoutSeconds: number;\n");
    expect(Object.keys(def.StartWorkspace!.requestDeserialize(def.StartWorkspace!.requestSerialize({ workspaceId: "w" }))).sort()).toEqual(["skipHooks", "skipServices", "timeoutSeconds", "workspaceId"]);
    // WriteFileRequest: a oneof; the member set and its name, nothing else.
    expect(types).toContain("export interface WriteFileRequest__Output {\n  header?: WriteFileHeader__Output | null;\n  data?: Buffer;\n");
    expect(def.WriteFile!.requestDeserialize(def.WriteFile!.requestSerialize({ data: Buffer.from("x") }))).toEqual({ data: Buffer.from("x"), content: "data" });
    // Every method of the service has its request and response types.
    for (const name of Object.keys(def)) expect(types).toMatch(new RegExp(`\\n  ${name}: \\{ request: \\w+__Output; response: \\w+;`));
  });

  test("has every RPC of the spec's WorkspaceService (and the RunHook extension) with its streaming shape", () => {
    const spec = readFileSync(join(import.meta.dirname, "..", "..", "proto", "nexus", "workspace", "v1", "workspace.proto"), "utf8");
    const rpcs = [...spec.matchAll(/rpc (\w+)\((stream )?\w+\) returns \((stream )?\w+\)/g)];
    expect(rpcs.length).toBe(41); // the spec's 35, RunHook, ListCheckpoints, DeleteCheckpoint, ListEngines, CopyFrom and CopyTo
    const def = workspaceServiceDefinition();
    for (const [, name, reqStream, resStream] of rpcs) {
      expect(def[name!]).toBeDefined();
      expect(def[name!]!.requestStream).toBe(!!reqStream);
      expect(def[name!]!.responseStream).toBe(!!resStream);
    }
    expect(def.ExecStream!.path).toBe("/nexus.workspace.v1.WorkspaceService/ExecStream");
  });

  test("ExecOutput's oneof survives a round trip", () => {
    const m = workspaceServiceDefinition().ExecStream!;
    const out = m.responseDeserialize(m.responseSerialize({ stdout: Buffer.from("hi") })) as { content: string; stdout: Buffer };
    expect(out.content).toBe("stdout");
    expect(Buffer.from(out.stdout).toString()).toBe("hi");
    const exit = m.responseDeserialize(m.responseSerialize({ exitCode: 7 })) as { content: string; exitCode: number };
    expect(exit).toMatchObject({ content: "exitCode", exitCode: 7 });
  });
});

describe("mappers", () => {
  test("statuses map both ways", () => {
    expect(statusEnum("running")).toBe("WORKSPACE_STATUS_RUNNING");
    expect(statusFromEnum("WORKSPACE_STATUS_PAUSED")).toBe("paused");
    expect(statusFromEnum("WORKSPACE_STATUS_UNSPECIFIED")).toBeUndefined();
  });

  test("timestamps", () => {
    expect(timestamp("2026-01-02T03:04:05.678Z")).toEqual({ seconds: 1767323045, nanos: 678_000_000 });
    expect(timestamp(null)).toBeNull();
  });

  test("a workspace view becomes the proto's Workspace", () => {
    const w = toGrpcWorkspace({
      id: "ws-1", name: "a", displayName: "A", status: "stopped", backend: "docker", branch: "nexus/a", repository: { path: "/r" }, worktreePath: "/r/.worktree/a",
      ports: [{ name: "ssh", containerPort: 22, hostPort: 32800 }], resources: { preset: "small", cpu: 1, memoryBytes: 1024 }, idleTimeoutSeconds: null, forwardAgent: true, labels: { team: "web" },
      createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z", lastActiveAt: "2026-01-01T00:00:00.000Z",
    });
    expect(w).toMatchObject({ status: "WORKSPACE_STATUS_STOPPED", backend: "BACKEND_TYPE_DOCKER", repository: { path: "/r", url: "" }, resources: { preset: "small", cpu: 1, memoryBytes: 1024 }, labels: { team: "web" } });
  });
});

describe("the server, in process (fake core)", () => {
  async function serve(statsDelayMs: number, core: Partial<GrpcDeps> = {}) {
    const dir = mkdtempSync(join(tmpdir(), "grpc-unit-"));
    const stats = async (ref: string) => {
      await new Promise((r) => setTimeout(r, statsDelayMs));
      return { workspaceId: ref, timestamp: new Date().toISOString(), cpuPercent: 1, memoryUsedBytes: 1, memoryLimitBytes: 2, networkRxBytes: 0, networkTxBytes: 0, blockReadBytes: 0, blockWriteBytes: 0, pids: 1 };
    };
    // StreamStats: samples at the asked interval, as the monitor's stream hands them over.
    const streamStats = async (ref: string, intervalMs: number, onSample: (s: unknown) => void, signal: AbortSignal) => {
      while (!signal.aborted) {
        onSample({ ...(await stats(ref)), intervalMs });
        await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - statsDelayMs)));
      }
    };
    const deps = { workspaces: {}, files: {}, monitor: { stats, streamStats }, log: silentLogger, ...core } as unknown as GrpcDeps;
    const server = await serveGrpc(`unix://${join(dir, "grpc.sock")}`, deps);
    const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
    const client = new Client(`unix://${join(dir, "grpc.sock")}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    return {
      client,
      async [Symbol.asyncDispose]() {
        client.close();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  test("bytes that are no protobuf message answer INVALID_ARGUMENT with the taxonomy's metadata", async () => {
    await using s = await serve(0);
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]);
    const unary = await new Promise<grpc.ServiceError>((resolve) =>
      s.client.makeUnaryRequest("/nexus.workspace.v1.WorkspaceService/GetWorkspace", (b: Buffer) => b, (b: Buffer) => b, garbage, (err) => resolve(err!)),
    );
    expect(unary.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unary.metadata.get(ERROR_METADATA.code)).toEqual(["INVALID_ARGUMENT"]);
    const streamed = await new Promise<grpc.ServiceError>((resolve) => {
      const call = s.client.makeClientStreamRequest("/nexus.workspace.v1.WorkspaceService/WriteFile", (b: Buffer) => b, (b: Buffer) => b, (err) => resolve(err!));
      call.write(garbage);
      call.end();
    });
    expect(streamed.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test("StreamStats asks the monitor for its interval (default 2 s) and sends each sample", async () => {
    await using s = await serve(0);
    const first = (req: object) =>
      new Promise<any>((resolve) => {
        const stream = s.client.StreamStats(req);
        stream.on("data", (m: any) => (stream.cancel(), resolve(m)));
        stream.on("error", () => {});
      });
    expect(await first({ workspaceId: "w", intervalSeconds: 1 })).toMatchObject({ workspaceId: "w", pids: 1 });
    expect(await first({ workspaceId: "w" })).toMatchObject({ workspaceId: "w", memoryLimitBytes: 2 });
  });

  const call = (client: any, method: string, req: object) =>
    new Promise<any>((resolve, reject) => client[method](req, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))));

  test("StreamFile sends chunk_size messages (64 KiB unset), then eof with the offset; a chunk_size out of bounds is INVALID_ARGUMENT", async () => {
    const file = Buffer.alloc(200_000);
    for (let i = 0; i < file.length; i++) file[i] = (i * 31) % 256;
    const readFile = async (_ref: string, _path: string, onChunk: (b: Buffer) => void) => {
      // As SSH hands it over: pieces of at most 32 KiB.
      for (let at = 0; at < file.length; at += 32768) onChunk(file.subarray(at, at + 32768));
      return file.length;
    };
    await using s = await serve(0, { files: { readFile } } as unknown as Partial<GrpcDeps>);
    const read = (req: object) =>
      new Promise<{ messages: any[]; error?: grpc.ServiceError }>((resolve) => {
        const messages: any[] = [];
        const stream = s.client.StreamFile(req);
        stream.on("data", (m: any) => messages.push(m));
        stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
        stream.on("end", () => resolve({ messages }));
      });
    const asked = await read({ workspaceId: "w", path: "f", chunkSize: 50_000 });
    expect(asked.messages.map((m) => [m.data.length, Number(m.offset), m.eof])).toEqual([[50_000, 0, false], [50_000, 50_000, false], [50_000, 100_000, false], [50_000, 150_000, false], [0, 200_000, true]]);
    expect(Buffer.concat(asked.messages.map((m) => m.data)).equals(file)).toBe(true);
    const unset = await read({ workspaceId: "w", path: "f" });
    expect(unset.messages.map((m) => m.data.length)).toEqual([65536, 65536, 65536, 3392, 0]);
    for (const chunkSize of [-5, 1, 1023, 1024 * 1024 + 1]) {
      const bad = await read({ workspaceId: "w", path: "f", chunkSize });
      expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.messages).toHaveLength(0);
    }
  });

  test("Start and Resume block by default, as REST does; blocking: false is kept; Pause passes its timeout", async () => {
    const asked: Array<[string, any]> = [];
    const workspaces = {
      start: async (ref: string, opts: object) => (asked.push(["start", opts]), { id: ref, status: "running", services: [], durationMs: 1 }),
      resume: async (ref: string, opts: object) => (asked.push(["resume", opts]), { workspaceId: ref, status: "running", services: [], durationMs: 1 }),
      pause: async (ref: string, opts: object) => (asked.push(["pause", opts]), { id: ref, status: "paused" }),
    };
    await using s = await serve(0, { workspaces } as unknown as Partial<GrpcDeps>);
    await call(s.client, "StartWorkspace", { workspaceId: "w" });
    await call(s.client, "StartWorkspace", { workspaceId: "w", blocking: false });
    await call(s.client, "ResumeWorkspace", { workspaceId: "w" });
    await call(s.client, "ResumeWorkspace", { workspaceId: "w", blocking: false, timeoutSeconds: 5 });
    await call(s.client, "PauseWorkspace", { workspaceId: "w", timeoutSeconds: 7 });
    expect(asked.map(([m, o]) => [m, o.blocking ?? null, o.timeoutSeconds ?? null])).toEqual([
      ["start", true, null],
      ["start", false, null],
      ["resume", true, null],
      ["resume", false, 5],
      ["pause", null, 7],
    ]);
  });
});
