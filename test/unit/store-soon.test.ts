// WorkspaceStore.saveSoon: the record is current in memory at once, its file follows off the
// caller's path, and a later save, saveSoon or remove always wins over a write still under way.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nexusPaths } from "../../src/store/paths.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";

const onDisk = (home: string) => new WorkspaceStore(nexusPaths({ NEXUS_HOME: home })).load();

describe("WorkspaceStore.saveSoon", () => {
  test("memory has the record at once; the file follows, with no temp file left", async () => {
    await using dir = tempDir("store-soon");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord({ status: "running" });
    store.save(r);
    const written = store.saveSoon({ ...r, status: "paused" });
    expect(store.get(r.id)?.status).toBe("paused");
    await written;
    expect(onDisk(dir.path)[0]?.status).toBe("paused");
    expect(readdirSync(paths.workspaceDir(r.id))).toEqual(["workspace.json"]);
  });

  test("a save made while the write is under way wins", async () => {
    await using dir = tempDir("store-soon");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord({ status: "running" });
    store.save(r);
    const stale = store.saveSoon({ ...r, status: "paused" });
    store.save({ ...r, status: "stopped" });
    await stale;
    expect(onDisk(dir.path)[0]?.status).toBe("stopped");
    expect(readdirSync(paths.workspaceDir(r.id))).toEqual(["workspace.json"]);
  });

  test("of two saveSoon, the later one is on disk whichever write ends first", async () => {
    await using dir = tempDir("store-soon");
    const store = new WorkspaceStore(nexusPaths({ NEXUS_HOME: dir.path }));
    const r = makeRecord({ status: "running" });
    store.save(r);
    for (let i = 0; i < 10; i++) {
      const writes = [store.saveSoon({ ...r, status: "paused" }), store.saveSoon({ ...r, status: i % 2 ? "running" : "stopped" })];
      await Promise.all(writes);
      expect(onDisk(dir.path)[0]?.status).toBe(i % 2 ? "running" : "stopped");
    }
  });

  test("a remove made while the write is under way leaves no folder behind", async () => {
    await using dir = tempDir("store-soon");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    // Many rounds, the remove at a different point of the write each time: the temp file may be made
    // before, during or after the remove's listing (under Deno the last once left ENOTEMPTY).
    for (let round = 0; round < 40; round++) {
      const r = makeRecord();
      store.save(r);
      const late = store.saveSoon({ ...r, status: "stopped" });
      for (let i = 0; i < round % 4; i++) await Promise.resolve();
      store.remove(r.id);
      await late;
      expect(store.get(r.id)).toBeUndefined();
      expect(existsSync(paths.workspaceDir(r.id))).toBe(false);
    }
    expect(onDisk(dir.path)).toEqual([]);
    expect(readdirSync(paths.workspaces)).toEqual([]);
  });

  test("flushPending writes what is still pending, at once (daemon shutdown)", async () => {
    await using dir = tempDir("store-soon");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord({ status: "running" });
    store.save(r);
    const pending = store.saveSoon({ ...r, status: "paused" });
    store.flushPending();
    expect(JSON.parse(readFileSync(join(paths.workspaceDir(r.id), "workspace.json"), "utf8")).status).toBe("paused");
    await pending;
    expect(onDisk(dir.path)[0]?.status).toBe("paused");
    expect(readdirSync(paths.workspaceDir(r.id))).toEqual(["workspace.json"]);
  });
});
