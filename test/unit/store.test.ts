import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/store/atomic.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { RECORD_VERSION } from "../../src/store/record-schema.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import type { WorkspaceRecord } from "../../src/kernel/types.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";

/** Every file under `dir`, relative. */
function walk(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(join(dir, e.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

describe("nexusPaths", () => {
  test("NEXUS_HOME decides where everything lives", () => {
    const p = nexusPaths({ NEXUS_HOME: "/srv/nx" });
    expect(p.home).toBe("/srv/nx");
    expect(p.daemonSocket).toBe("/srv/nx/daemon.sock");
    expect(p.lockFile).toBe("/srv/nx/daemon.lock");
    expect(p.knownHosts).toBe("/srv/nx/known_hosts");
    expect(p.activeWorkspace).toBe("/srv/nx/session/active-workspace");
    expect(p.workspaceDir("ws-1")).toBe("/srv/nx/workspaces/ws-1");
  });

  test("without NEXUS_HOME it is ~/.nexus, and a relative NEXUS_HOME is made absolute", () => {
    expect(nexusPaths({ HOME: "/home/u" }).home).toBe("/home/u/.nexus");
    expect(nexusPaths({ NEXUS_HOME: "rel/nx" }).home).toBe(join(process.cwd(), "rel/nx"));
  });
});

describe("writeFileAtomic", () => {
  test("writes the content with the mode, making parent folders", async () => {
    await using dir = tempDir("atomic");
    const file = join(dir.path, "a", "b", "f.txt");
    writeFileAtomic(file, "hello", 0o640);
    expect(readFileSync(file, "utf8")).toBe("hello");
    expect(statSync(file).mode & 0o777).toBe(0o640);
    writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    expect(statSync(file).mode & 0o777).toBe(0o600); // the default mode; a rewrite replaces the file
    expect(readdirSync(join(dir.path, "a", "b"))).toEqual(["f.txt"]);
  });

  test("leaves no temp file behind after many writes", async () => {
    await using dir = tempDir("atomic");
    const file = join(dir.path, "state.json");
    for (let i = 0; i < 50; i++) writeFileAtomic(file, JSON.stringify({ i }));
    expect(readdirSync(dir.path)).toEqual(["state.json"]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ i: 49 });
  });

  test("a failed rename leaves the target as it was and no temp file", async () => {
    await using dir = tempDir("atomic");
    const target = join(dir.path, "is-a-dir");
    mkdirSync(target);
    writeFileSync(join(target, "keep"), "x");
    expect(() => writeFileAtomic(target, "data")).toThrow();
    expect(readdirSync(dir.path)).toEqual(["is-a-dir"]);
    expect(readFileSync(join(target, "keep"), "utf8")).toBe("x");
  });
});

describe("WorkspaceStore", () => {
  test("save then load in a new store round-trips the record", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const r = makeRecord({
      name: "feature-auth",
      env: { A: "1", QUOTE: `it's "x"` },
      ports: { ssh: 32801, services: [{ name: "port-3000", containerPort: 3000, hostPort: 32802 }] },
      repository: { path: "/src/repo", gitCommonDir: "/src/repo/.git", cloned: false },
      worktree: { path: "/src/repo/.worktree/feature-auth", branch: "nexus/feature-auth", branchCreated: true },
      error: { code: "CONTAINER_ERROR", message: "gone" },
    });
    new WorkspaceStore(paths).save(r);
    const other = new WorkspaceStore(paths);
    expect(other.list()).toEqual([]); // nothing until load
    expect(other.load()).toEqual([r]);
    expect(other.get(r.id)).toEqual(r);
  });

  test("records are 0600 JSON in workspaces/<id>/workspace.json, and no temp files remain", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord();
    for (let i = 0; i < 20; i++) store.save({ ...r, updatedAt: new Date(1_700_000_000_000 + i).toISOString() });
    expect(walk(paths.workspaces)).toEqual([`${r.id}/workspace.json`]);
    const file = join(paths.workspaceDir(r.id), "workspace.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(paths.workspaceDir(r.id)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8")).updatedAt).toBe(new Date(1_700_000_000_019).toISOString());
  });

  test("findByName and get", async () => {
    await using dir = tempDir("store");
    const store = new WorkspaceStore(nexusPaths({ NEXUS_HOME: dir.path }));
    const a = makeRecord({ name: "alpha" });
    const b = makeRecord({ name: "beta" });
    store.save(a);
    store.save(b);
    expect(store.findByName("beta")?.id).toBe(b.id);
    expect(store.findByName("alpha")?.id).toBe(a.id);
    expect(store.findByName("gamma")).toBeUndefined();
    expect(store.findByName(a.id)).toBeUndefined(); // by name only
    expect(store.get(a.id)?.name).toBe("alpha");
    expect(store.get("alpha")).toBeUndefined(); // by id only
  });

  test("list is ordered by creation time", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const late = makeRecord({ name: "late", createdAt: "2026-03-01T00:00:00.000Z" });
    const early = makeRecord({ name: "early", createdAt: "2026-01-01T00:00:00.000Z" });
    const mid = makeRecord({ name: "mid", createdAt: "2026-02-01T00:00:00.000Z" });
    for (const r of [late, early, mid]) store.save(r);
    expect(store.list().map((r) => r.name)).toEqual(["early", "mid", "late"]);
    expect(new WorkspaceStore(paths).load().map((r) => r.name)).toEqual(["early", "mid", "late"]);
  });

  test("save replaces a record; remove deletes its folder", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord({ status: "pending" });
    store.save(r);
    store.save({ ...r, status: "running" });
    expect(store.list()).toHaveLength(1);
    expect(new WorkspaceStore(paths).load()[0]!.status).toBe("running");
    mkdirSync(join(paths.workspaceDir(r.id), "ssh"));
    writeFileSync(join(paths.workspaceDir(r.id), "ssh", "key"), "k");
    store.remove(r.id);
    expect(existsSync(paths.workspaceDir(r.id))).toBe(false);
    expect(store.get(r.id)).toBeUndefined();
    expect(new WorkspaceStore(paths).load()).toEqual([]);
    store.remove("ws-never-existed"); // absent is fine
  });

  test("load skips a corrupt record and folders without one, and leaves them on disk", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const good = makeRecord();
    new WorkspaceStore(paths).save(good);
    mkdirSync(paths.workspaceDir("ws-broken"), { recursive: true });
    writeFileSync(join(paths.workspaceDir("ws-broken"), "workspace.json"), "{ not json");
    mkdirSync(paths.workspaceDir("ws-empty"), { recursive: true });
    expect(new WorkspaceStore(paths).load()).toEqual([good]);
    expect(existsSync(join(paths.workspaceDir("ws-broken"), "workspace.json"))).toBe(true);
  });

  test("records carry their format version; one without it (an older daemon's) is read as version 1", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const r = makeRecord();
    new WorkspaceStore(paths).save(r);
    const file = join(paths.workspaceDir(r.id), "workspace.json");
    expect(JSON.parse(readFileSync(file, "utf8")).version).toBe(RECORD_VERSION);
    writeFileSync(file, JSON.stringify(r));
    expect(new WorkspaceStore(paths).load()).toEqual([r]);
  });

  test("a newer daemon's record, a damaged field or broken JSON is left out with a clear reason, and left on disk", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const good = makeRecord();
    const store = new WorkspaceStore(paths);
    store.save(good);
    const put = (id: string, text: string) => {
      mkdirSync(paths.workspaceDir(id), { recursive: true });
      writeFileSync(join(paths.workspaceDir(id), "workspace.json"), text);
    };
    put("ws-newer", JSON.stringify({ ...makeRecord({ id: "ws-newer" }), version: RECORD_VERSION + 1 }));
    put("ws-badport", JSON.stringify({ ...makeRecord({ id: "ws-badport" }), ports: { ssh: "22", services: [] } }));
    put("ws-broken", "{ not json");
    const fresh = new WorkspaceStore(paths);
    expect(fresh.load()).toEqual([good]);
    const why = [...fresh.unreadable()].sort();
    expect(why).toHaveLength(3);
    expect(why.find((w) => w.includes("ws-newer"))).toContain(`version ${RECORD_VERSION + 1} record, written by a newer Nexus`);
    expect(why.find((w) => w.includes("ws-badport"))).toContain("ports.ssh");
    expect(why.find((w) => w.includes("ws-broken"))).toContain("is not JSON");
    for (const id of ["ws-newer", "ws-badport", "ws-broken"]) expect(existsSync(join(paths.workspaceDir(id), "workspace.json"))).toBe(true);
  });

  test("fields the schema does not name (a feature's own) survive a load and a save", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const r = { ...makeRecord(), featureState: { a: 1 } } as WorkspaceRecord;
    new WorkspaceStore(paths).save(r);
    const loaded = new WorkspaceStore(paths).load()[0] as WorkspaceRecord & { featureState?: unknown };
    expect(loaded.featureState).toEqual({ a: 1 });
  });

  test("load of a home without a workspaces folder is empty", async () => {
    await using dir = tempDir("store");
    expect(new WorkspaceStore(nexusPaths({ NEXUS_HOME: join(dir.path, "nothing") })).load()).toEqual([]);
  });

  test("load forgets records removed on disk", async () => {
    await using dir = tempDir("store");
    const paths = nexusPaths({ NEXUS_HOME: dir.path });
    const store = new WorkspaceStore(paths);
    const r = makeRecord();
    store.save(r);
    (await import("node:fs")).rmSync(paths.workspaceDir(r.id), { recursive: true });
    expect(store.load()).toEqual([]);
    expect(store.get(r.id)).toBeUndefined();
  });
});
