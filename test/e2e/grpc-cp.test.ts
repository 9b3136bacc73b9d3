// nexus cp on gRPC (CopyFrom / CopyTo, an extension) against the compiled daemon and a real
// workspace: a file to /etc and back (owned by the container user), a folder to ~ and back in
// chunk_size messages, a paused workspace resumed first, and the same errors as REST.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import * as tarStream from "tar-stream";
import { ERROR_METADATA } from "../../src/api/grpc/errors.ts";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { requireE2E } from "../helpers/cli.ts";

const root = tempDir("grpc-cp");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
let daemon: TestDaemon;
let client: grpc.Client & Record<string, any>;
const DEADLINE = () => ({ deadline: Date.now() + 300_000 });

function call<T = any>(method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](req, new grpc.Metadata(), DEADLINE(), (err: unknown, res: T) => (err ? reject(err) : resolve(res))));
}

function read(stream: grpc.ClientReadableStream<any>) {
  return new Promise<{ messages: any[]; error?: grpc.ServiceError }>((resolve) => {
    const messages: any[] = [];
    stream.on("data", (m: any) => messages.push(m));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

function copyTo(workspaceId: string, path: string, tar: Buffer) {
  return new Promise<{ res?: any; err?: grpc.ServiceError }>((resolve) => {
    const s = client.CopyTo(new grpc.Metadata(), DEADLINE(), (err: grpc.ServiceError | null, res: unknown) => resolve(err ? { err } : { res }));
    s.write({ header: { workspaceId, path } });
    for (let at = 0; at < tar.length; at += 30_000) s.write({ data: tar.subarray(at, at + 30_000) });
    s.end();
  });
}

type Entry = { name: string; type?: "file" | "directory" | "symlink"; mode?: number; body?: string; linkname?: string };
async function pack(entries: Entry[]): Promise<Buffer> {
  const p = tarStream.pack();
  for (const e of entries) p.entry({ name: e.name, type: e.type ?? "file", mode: e.mode ?? 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) }, e.body ?? "");
  p.finalize();
  const parts: Buffer[] = [];
  for await (const b of p as AsyncIterable<Buffer>) parts.push(b);
  return Buffer.concat(parts);
}

async function unpack(tar: Buffer): Promise<Array<{ name: string; type: string; mode: number; uid: number; body: string; linkname: string | null }>> {
  const out: Array<{ name: string; type: string; mode: number; uid: number; body: string; linkname: string | null }> = [];
  const x = tarStream.extract();
  x.on("entry", (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on("data", (b: Buffer) => parts.push(b));
    stream.on("end", () => (out.push({ name: h.name, type: h.type ?? "file", mode: (h.mode ?? 0) & 0o7777, uid: h.uid ?? -1, body: Buffer.concat(parts).toString(), linkname: h.linkname ?? null }), next()));
  });
  const done = new Promise<void>((resolve, reject) => (x.on("finish", () => resolve()), x.on("error", reject)));
  x.end(tar);
  await done;
  return out;
}

async function inside(script: string): Promise<string> {
  const r = await read(client.ExecStream({ workspaceId: "gcp", command: "sh", args: ["-c", script] }, new grpc.Metadata(), DEADLINE()));
  if (r.error) throw r.error;
  return Buffer.concat(r.messages.filter((m) => m.content === "stdout").map((m) => m.stdout)).toString();
}

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon(home);
  client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as typeof client;
  await call("CreateWorkspace", { name: "gcp", repositoryPath: repo });
}, 900_000);

afterAll(async () => {
  try {
    await call("DeleteWorkspace", { workspaceId: "gcp", force: true }).catch(() => {});
  } finally {
    client?.close();
    await daemon?.stop();
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
});

describe("CopyTo / CopyFrom", () => {
  test("a file to /etc and back: content, mode, the container user owns it", async () => {
    const up = await copyTo("gcp", "/etc/app.conf", await pack([{ name: "local-name.conf", mode: 0o640, body: "key=value\n" }]));
    expect(up.err).toBeUndefined();
    expect(up.res).toMatchObject({ path: "/etc/app.conf", entries: 1, bytes: 10, resumedMs: 0 });
    const uid = (await inside("id -u")).trim();
    expect(await inside("cat /etc/app.conf; stat -c '%a %u' /etc/app.conf")).toBe(`key=value\n640 ${uid}\n`);
    const down = await read(client.CopyFrom({ workspaceId: "gcp", path: "/etc/app.conf" }, new grpc.Metadata(), DEADLINE()));
    expect(down.error).toBeUndefined();
    expect(down.messages[0]).toMatchObject({ content: "header", header: { path: "/etc/app.conf", stat: { name: "app.conf", size: 10, isDir: false, isSymlink: false }, resumedMs: 0 } });
    const entries = await unpack(Buffer.concat(down.messages.slice(1).map((m) => m.data)));
    expect(entries).toEqual([{ name: "app.conf", type: "file", mode: 0o640, uid: Number(uid), body: "key=value\n", linkname: null }]);
  }, 300_000);

  test("a folder into ~ and back in chunk_size messages, a link kept as a link", async () => {
    const big = "B".repeat(200_000);
    const tar = await pack([
      { name: "dots/", type: "directory", mode: 0o755 },
      { name: "dots/a.txt", body: "A" },
      { name: "dots/sub/", type: "directory", mode: 0o755 },
      { name: "dots/sub/b.txt", body: big },
      { name: "dots/link", type: "symlink", linkname: "sub/b.txt" },
    ]);
    const up = await copyTo("gcp", "~", tar);
    expect(up.err).toBeUndefined();
    expect(up.res).toMatchObject({ path: "/home/nexus/dots", entries: 5, bytes: 200_001 });
    expect(await inside("cd ~/dots && cat a.txt && wc -c < sub/b.txt && readlink link")).toBe("A200000\nsub/b.txt\n");
    const down = await read(client.CopyFrom({ workspaceId: "gcp", path: "~/dots", chunkSize: 4096 }, new grpc.Metadata(), DEADLINE()));
    expect(down.error).toBeUndefined();
    expect(down.messages[0].header.stat).toMatchObject({ name: "dots", isDir: true });
    const data = down.messages.slice(1).map((m) => m.data as Buffer);
    expect(data.slice(0, -1).every((d) => d.length === 4096)).toBe(true);
    expect(data.at(-1)!.length).toBeLessThanOrEqual(4096);
    const entries = await unpack(Buffer.concat(data));
    const byName = Object.fromEntries(entries.map((e) => [e.name.replace(/\/$/, ""), e]));
    expect(Object.keys(byName).sort()).toEqual(["dots", "dots/a.txt", "dots/link", "dots/sub", "dots/sub/b.txt"]);
    expect(byName["dots/sub/b.txt"]!.body).toBe(big);
    expect(byName["dots/link"]).toMatchObject({ type: "symlink", linkname: "sub/b.txt" });
  }, 300_000);

  test("errors as REST: unknown workspace, unknown path, missing parent, a bad tar entry, bad chunk_size", async () => {
    const code = (e: grpc.ServiceError | undefined) => [e ? grpc.status[e.code] : "OK", e?.metadata.get(ERROR_METADATA.code)[0]];
    expect(code((await read(client.CopyFrom({ workspaceId: "nope", path: "/etc/hosts" }))).error)).toEqual(["NOT_FOUND", "WORKSPACE_NOT_FOUND"]);
    const missing = (await read(client.CopyFrom({ workspaceId: "gcp", path: "/etc/nothing-here" }))).error;
    expect(code(missing)).toEqual(["NOT_FOUND", "NOT_FOUND"]);
    expect(missing?.details).toBe("No file or folder /etc/nothing-here in workspace 'gcp'");
    const file = await pack([{ name: "x", body: "x" }]);
    expect(code((await copyTo("nope", "/tmp", file)).err)).toEqual(["NOT_FOUND", "WORKSPACE_NOT_FOUND"]);
    const noParent = (await copyTo("gcp", "/no/such/dir/x", file)).err;
    expect(code(noParent)).toEqual(["NOT_FOUND", "NOT_FOUND"]);
    expect(noParent?.details).toBe("No folder /no/such/dir in workspace 'gcp'");
    expect(code((await copyTo("gcp", "/tmp", await pack([{ name: "../escape", body: "x" }]))).err)).toEqual(["PERMISSION_DENIED", "PERMISSION_DENIED"]);
    expect(await inside("ls -d /escape /tmp/escape 2>/dev/null; echo end")).toBe("end\n");
    expect(code((await copyTo("gcp", "/tmp", await pack([{ name: "a", body: "1" }, { name: "b", body: "2" }]))).err)).toEqual(["INVALID_ARGUMENT", "INVALID_ARGUMENT"]);
    expect(code((await read(client.CopyFrom({ workspaceId: "gcp", path: "/etc/hosts", chunkSize: 10 }))).error)).toEqual(["INVALID_ARGUMENT", "INVALID_ARGUMENT"]);
  }, 300_000);

  test("a paused workspace is resumed first, and the answer says how long that took", async () => {
    await call("PauseWorkspace", { workspaceId: "gcp" });
    const down = await read(client.CopyFrom({ workspaceId: "gcp", path: "/etc/app.conf" }, new grpc.Metadata(), DEADLINE()));
    expect(down.error).toBeUndefined();
    expect(Number(down.messages[0].header.resumedMs)).toBeGreaterThan(0);
    await call("PauseWorkspace", { workspaceId: "gcp" });
    const up = await copyTo("gcp", "/tmp/after-pause.conf", await pack([{ name: "f", body: "z" }]));
    expect(up.err).toBeUndefined();
    expect(Number(up.res.resumedMs)).toBeGreaterThan(0);
    expect(await inside("cat /tmp/after-pause.conf")).toBe("z");
  }, 300_000);
});
