// CopyFrom / CopyTo (nexus cp on gRPC) in process, with the core's archive functions standing in:
// chunking, back-pressure toward a slow reader, cancellation, and the header-then-data rules.
import { describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ERROR_METADATA } from "../../src/api/grpc/errors.ts";
import { serveGrpc, workspaceServiceDefinition, type GrpcDeps } from "../../src/api/grpc/server.ts";
import { silentLogger } from "../../src/core/log.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import { until } from "../helpers/wait.ts";

/** Waits for `cond` with a deadline; fails the test naming what never happened. */
async function serve(workspaces: object) {
  const dir = mkdtempSync(join(tmpdir(), "grpc-copy-"));
  const deps = { workspaces, files: {}, monitor: {}, log: silentLogger } as unknown as GrpcDeps;
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

const STAT = { name: "hosts", size: 5, mode: 420, isDir: false, isSymlink: false, linkTarget: "" };

function read(stream: grpc.ClientReadableStream<any>) {
  return new Promise<{ messages: any[]; error?: grpc.ServiceError }>((resolve) => {
    const messages: any[] = [];
    stream.on("data", (m: any) => messages.push(m));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

describe("CopyFrom", () => {
  test("the header (path, stat, resumed), then the tar in chunk_size messages; bad input is INVALID_ARGUMENT", async () => {
    const tar = Buffer.alloc(300_000);
    for (let i = 0; i < tar.length; i++) tar[i] = (i * 17) % 256;
    const asked: string[] = [];
    const readArchive = async (ref: string, path: string) => {
      asked.push(`${ref}:${path}`);
      if (path === "/nope") throw new NexusError("NOT_FOUND", "No file or folder /nope in workspace 'w'");
      const pieces = [];
      for (let at = 0; at < tar.length; at += 7000) pieces.push(tar.subarray(at, at + 7000));
      return { path: "/etc/hosts", stat: STAT, stream: Readable.from(pieces), resumed: { durationMs: 12 } };
    };
    await using s = await serve({ readArchive });
    const r = await read(s.client.CopyFrom({ workspaceId: "w", path: "/etc/hosts", chunkSize: 100_000 }));
    expect(r.error).toBeUndefined();
    expect(r.messages[0]).toMatchObject({ content: "header", header: { path: "/etc/hosts", stat: STAT, resumedMs: 12 } });
    expect(r.messages.slice(1).map((m) => [m.content, m.data.length])).toEqual([["data", 100_000], ["data", 100_000], ["data", 100_000]]);
    expect(Buffer.concat(r.messages.slice(1).map((m) => m.data)).equals(tar)).toBe(true);
    expect((await read(s.client.CopyFrom({ workspaceId: "w", path: "x" }))).messages.slice(1).map((m) => m.data.length)).toEqual([65536, 65536, 65536, 65536, 37856]);
    for (const req of [{ path: "/etc/hosts" }, { workspaceId: "w" }, { workspaceId: "w", path: "/etc/hosts", chunkSize: 5 }]) {
      const bad = await read(s.client.CopyFrom(req));
      expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.messages).toHaveLength(0);
    }
    const missing = await read(s.client.CopyFrom({ workspaceId: "w", path: "/nope" }));
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.error?.metadata.get(ERROR_METADATA.code)).toEqual(["NOT_FOUND"]);
    expect(asked).toEqual(["w:/etc/hosts", "w:x", "w:/nope"]);
  });

  test("a client that does not read holds the source back; cancelling it lets go of the source", async () => {
    let pulled = 0;
    let destroyed = false;
    const source = new Readable({
      read() {
        pulled += 65536;
        this.push(Buffer.alloc(65536));
      },
      destroy(err, cb) {
        destroyed = true;
        cb(err);
      },
    });
    await using s = await serve({ readArchive: async () => ({ path: "/big", stat: STAT, stream: source }) });
    const call = s.client.CopyFrom({ workspaceId: "w", path: "/big" });
    call.on("error", () => {});
    await new Promise<void>((resolve) => call.once("data", () => (call.pause(), resolve())));
    // Without back-pressure the source would be read as fast as it comes (gigabytes); with it, the
    // reads stop once the transport's buffers are full. Wait until they stop, then look.
    let last = -1;
    let still = 0;
    await until("the source to be held back", () => (pulled === last ? ++still >= 10 : ((last = pulled), (still = 0), false)), Boolean, { timeoutMs: 60_000, intervalMs: 50 });
    expect(pulled).toBeLessThan(64 * 1024 * 1024);
    call.cancel();
    await until("the source to be destroyed", () => destroyed, Boolean, { timeoutMs: 30_000, intervalMs: 20 });
  }, 120_000);
});

describe("CopyTo", () => {
  function upload(client: any, messages: object[]) {
    return new Promise<{ res?: any; err?: grpc.ServiceError }>((resolve) => {
      const s = client.CopyTo((err: grpc.ServiceError | null, res: unknown) => resolve(err ? { err } : { res }));
      for (const m of messages) s.write(m);
      s.end();
    });
  }

  test("the tar streams into the core at the header's path; the answer is the core's", async () => {
    const got: Array<{ ref: string; path: string; bytes: Buffer }> = [];
    const writeArchive = async (ref: string, path: string, archive: NodeJS.ReadableStream) => {
      if (ref === "ghost") throw new NexusError("WORKSPACE_NOT_FOUND", "Workspace 'ghost' doesn't exist");
      const parts: Buffer[] = [];
      for await (const b of archive as AsyncIterable<Buffer>) parts.push(b);
      got.push({ ref, path, bytes: Buffer.concat(parts) });
      return { path: "/etc/app.conf", entries: 1, bytes: 10, resumed: { durationMs: 3 } };
    };
    await using s = await serve({ writeArchive });
    const data = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000, i));
    const ok = await upload(s.client, [{ header: { workspaceId: "w", path: "/etc/app.conf" } }, ...data.map((d) => ({ data: d }))]);
    expect(ok.err).toBeUndefined();
    expect(ok.res).toMatchObject({ path: "/etc/app.conf", entries: 1, bytes: 10, resumedMs: 3 });
    expect(got).toHaveLength(1);
    expect(got[0]!.path).toBe("/etc/app.conf");
    expect(got[0]!.bytes.equals(Buffer.concat(data))).toBe(true);
    const ghost = await upload(s.client, [{ header: { workspaceId: "ghost", path: "/x" } }, { data: Buffer.from("x") }]);
    expect(ghost.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(ghost.err?.metadata.get(ERROR_METADATA.code)).toEqual(["WORKSPACE_NOT_FOUND"]);
  });

  test("no header, data first, two headers, or an empty path are INVALID_ARGUMENT and reach no core", async () => {
    let called = 0;
    // As the core: the answer comes once the whole tar is read.
    const writeArchive = async (_ref: string, _path: string, archive: NodeJS.ReadableStream) => {
      called++;
      for await (const _ of archive as AsyncIterable<Buffer>);
      return { path: "/", entries: 0, bytes: 0 };
    };
    await using s = await serve({ writeArchive });
    const header = { header: { workspaceId: "w", path: "/tmp" } };
    for (const messages of [[], [{ data: Buffer.from("x") }], [{ data: Buffer.from("x") }, header], [header, header], [{ header: { workspaceId: "w", path: "" } }], [{ header: { path: "/tmp" } }]]) {
      const r = await upload(s.client, messages);
      expect(r.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    // Two headers: the first may have reached the core before the second was seen; nothing more.
    expect(called).toBeLessThanOrEqual(1);
  });
});
