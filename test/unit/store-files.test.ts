// The ~/.nexus files the store owns beside the records: host keys, the active workspace, forwards.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clearActiveRef, clearActiveRefIf, readActiveRef, writeActiveRef } from "../../src/store/active-workspace.ts";
import { loadForwards, saveForwards, type SavedForward } from "../../src/store/forwards.ts";
import { HostKeys } from "../../src/store/host-keys.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { tempDir, type TempDir } from "../helpers/fixtures.ts";

const dirs: TempDir[] = [];
afterAll(async () => { for (const d of dirs) await d[Symbol.asyncDispose](); });
function pathsIn() {
  const dir = tempDir("nexus-store-files");
  dirs.push(dir);
  return nexusPaths({ NEXUS_HOME: dir.path });
}

describe("host keys", () => {
  test("made, read back, rotated: the next key becomes current only when promoted", () => {
    const paths = pathsIn();
    const keys = new HostKeys(paths);
    expect(keys.publicKey("ws-1")).toBeUndefined();
    const first = keys.make("ws-1", "nexus-ws@host");
    expect(first.publicKey).toContain("nexus-ws@host");
    expect(keys.publicKey("ws-1")).toBe(first.publicKey.trim());
    expect(keys.read("ws-1").privateKey).toBe(first.privateKey);
    expect(statSync(join(paths.workspaceDir("ws-1"), "ssh", "ssh_host_ed25519_key")).mode & 0o777).toBe(0o600);

    const next = keys.makeNext("ws-1", "nexus-ws@host");
    expect(keys.publicKey("ws-1")).toBe(first.publicKey.trim());
    expect(keys.promoteNext("ws-1").publicKey).toBe(next.publicKey.trim());
    expect(keys.publicKey("ws-1")).toBe(next.publicKey.trim());
  });

  test("the pinned key kept in memory follows every key made or promoted, and the files", () => {
    const paths = pathsIn();
    const keys = new HostKeys(paths);
    // A miss is not remembered: the key made next is found.
    expect(keys.publicKey("ws-1")).toBeUndefined();
    const first = keys.make("ws-1", "a");
    expect(keys.publicKey("ws-1")).toBe(first.publicKey.trim());
    // Made again over it (start of a workspace whose container is gone): the new one is pinned.
    const again = keys.make("ws-1", "b");
    expect(again.publicKey).not.toBe(first.publicKey);
    expect(keys.publicKey("ws-1")).toBe(again.publicKey.trim());
    // Rotated: the promoted key is pinned, in memory as on disk (another reader sees the same).
    const next = keys.makeNext("ws-1", "c");
    keys.promoteNext("ws-1");
    expect(keys.publicKey("ws-1")).toBe(next.publicKey.trim());
    expect(new HostKeys(paths).publicKey("ws-1")).toBe(next.publicKey.trim());
    // Forgotten with its folder: nothing pinned any more.
    rmSync(paths.workspaceDir("ws-1"), { recursive: true, force: true });
    keys.forget("ws-1");
    expect(keys.publicKey("ws-1")).toBeUndefined();
  });
});

describe("active workspace", () => {
  test("written, read, cleared only when it is the one named", () => {
    const paths = pathsIn();
    expect(readActiveRef(paths)).toBe("");
    writeActiveRef(paths, "ws-1");
    expect(readFileSync(paths.activeWorkspace, "utf8")).toBe("ws-1\n");
    expect(readActiveRef(paths)).toBe("ws-1");
    clearActiveRefIf(paths, ["ws-2", "other"]);
    expect(readActiveRef(paths)).toBe("ws-1");
    clearActiveRefIf(paths, ["ws-1", "mine"]);
    expect(readActiveRef(paths)).toBe("");
    writeActiveRef(paths, "ws-3");
    clearActiveRef(paths);
    expect(readActiveRef(paths)).toBe("");
  });
});

describe("forwards", () => {
  const forward: SavedForward = {
    id: "f1", workspaceId: "ws-1", containerPort: 3000, hostPort: 41000, visibility: "private",
    bindAddress: "127.0.0.1", url: "http://127.0.0.1:41000", createdAt: "2026-01-01T00:00:00Z", allocated: true,
  };

  test("saved and loaded; a destroyed workspace (no folder) keeps no file", () => {
    const paths = pathsIn();
    saveForwards(paths, "ws-1", [forward]);
    expect(existsSync(join(paths.workspaceDir("ws-1"), "forwards.json"))).toBe(false);
    mkdirSync(paths.workspaceDir("ws-1"), { recursive: true });
    saveForwards(paths, "ws-1", [forward]);
    expect(loadForwards(paths, "ws-1", () => { throw new Error("unexpected"); })).toEqual([forward]);
  });

  test("a file that does not parse restores none and says which file; malformed entries are left out", () => {
    const paths = pathsIn();
    mkdirSync(paths.workspaceDir("ws-1"), { recursive: true });
    const file = join(paths.workspaceDir("ws-1"), "forwards.json");
    writeFileSync(file, "{not json");
    const bad: string[] = [];
    expect(loadForwards(paths, "ws-1", (f) => bad.push(f))).toEqual([]);
    expect(bad).toEqual([file]);
    writeFileSync(file, JSON.stringify({ version: 1, forwards: [forward, { ...forward, id: 7 }, { ...forward, visibility: "everyone" }] }));
    expect(loadForwards(paths, "ws-1", () => {})).toEqual([forward]);
  });
});
