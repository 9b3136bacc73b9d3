// A workspace on a remote engine cannot take checkpoints in a daemon without file sync wired in (its
// worktree here could not be brought in step): refused as UNIMPLEMENTED, with the way forward, before
// anything is made (no record, no file). With sync, see test/integration/checkpoints-remote.test.ts.
import { expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CheckpointService } from "../../src/core/checkpoints/service.ts";
import { silentLogger } from "../../src/core/log.ts";
import type { WorkspaceRecord } from "../../src/kernel/types.ts";
import { CheckpointStore } from "../../src/store/checkpoints.ts";
import { tempDir } from "../helpers/fixtures.ts";

test("without file sync, a checkpoint of a remote-engine workspace is UNIMPLEMENTED and leaves nothing behind", async () => {
  await using tmp = tempDir("ckpt-remote");
  const dir = join(tmp.path, "checkpoints");
  const store = new CheckpointStore(dir);
  // Only the store is reached before the refusal; the engine and the workspace service are never asked.
  const service = new CheckpointService({ store, docker: undefined as never, workspaces: undefined as never, workspaceStore: undefined as never, log: silentLogger, instance: "test", dir });
  const record = { id: "ws-1", name: "far", engine: "builder", status: "running", containerId: "c1" } as unknown as WorkspaceRecord;
  const err = (await service.createLocked(record, { name: "before" }, false).catch((e: unknown) => e)) as { code?: string; message: string; suggestion?: string; details?: Record<string, unknown> };
  expect(err.code).toBe("UNIMPLEMENTED");
  expect(err.message).toContain("remote engine ('builder')");
  expect(err.suggestion).toContain("local engine");
  expect(err.details).toEqual({ workspaceName: "far", engine: "builder" });
  expect(store.list()).toEqual([]);
  expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
});

test("restoring a remote workspace synced by mutagen is UNIMPLEMENTED before anything is made (no journal, no automatic checkpoint)", async () => {
  await using tmp = tempDir("ckpt-remote-mutagen");
  const dir = join(tmp.path, "checkpoints");
  const store = new CheckpointStore(dir);
  const record = { id: "ws-1", name: "far", engine: "builder", status: "running", containerId: "c1" } as unknown as WorkspaceRecord;
  store.save({
    id: "ckpt-0123456789ab", name: "before", description: "", workspaceId: "ws-1", workspaceName: "far", engine: "builder", createdAt: new Date().toISOString(),
    auto: false, state: "ready", durationMs: 1, container: null, home: null, worktree: null,
  });
  // The workspace service is reached for the record and its lock only; the engine is never asked.
  const workspaces = { resolve: () => record, list: () => [record], exclusive: (_ref: string, fn: (r: WorkspaceRecord) => Promise<unknown>) => fn(record) };
  const sync = { remote: () => true, provider: () => "mutagen", flush: async () => {}, mirrorNext: () => { throw new Error("must not be reached"); } };
  const service = new CheckpointService({ store, docker: undefined as never, engine: () => undefined as never, sync, workspaces: workspaces as never, workspaceStore: undefined as never, log: silentLogger, instance: "test", dir });
  const err = (await service.restore("before", "far").catch((e: unknown) => e)) as { code?: string; message: string; suggestion?: string };
  expect(err.code).toBe("UNIMPLEMENTED");
  expect(err.message).toContain("mutagen");
  expect(err.suggestion).toContain("sync.provider: unison");
  expect(store.list().map((c) => c.id)).toEqual(["ckpt-0123456789ab"]);
  expect(readdirSync(dir).filter((f) => f.startsWith("restore-"))).toEqual([]);
});
