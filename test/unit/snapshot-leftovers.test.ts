// What a daemon killed mid-checkpoint or mid-restore leaves in a worktree's git dir and the checkpoints folder, and how the next
// daemon deals with it (real git, no Docker): temporary indexes removed, and the index locks of a git
// the killed daemon started waited for before the files are written back.
import { describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeTempIndexes, waitForIndexLocks } from "../../src/git/snapshot.ts";
import { CheckpointStore } from "../../src/store/checkpoints.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";

describe("leftovers in a worktree's git dir", () => {
  test("removeTempIndexes takes the temporary indexes and their locks, nothing else", async () => {
    await using dir = tempDir("snap-left");
    const repo = makeRepo(join(dir.path, "repo"));
    const gitDir = git(repo, "rev-parse", "--absolute-git-dir");
    for (const f of ["nexus-checkpoint-0a1b2c3d.index", "nexus-checkpoint-0a1b2c3d.index.lock", "nexus-checkpoint-notes.txt"]) writeFileSync(join(gitDir, f), "x");
    const gone = await removeTempIndexes(repo);
    expect(gone.map((f) => f.slice(gitDir.length + 1)).sort()).toEqual(["nexus-checkpoint-0a1b2c3d.index", "nexus-checkpoint-0a1b2c3d.index.lock"]);
    expect(existsSync(join(gitDir, "nexus-checkpoint-notes.txt"))).toBe(true);
    expect(existsSync(join(gitDir, "index"))).toBe(true);
    expect(await removeTempIndexes(join(dir.path, "gone"))).toEqual([]);
  });

  test("waitForIndexLocks answers once the locks are let go, or false at its deadline", async () => {
    await using dir = tempDir("snap-lock");
    const repo = makeRepo(join(dir.path, "repo"));
    const gitDir = git(repo, "rev-parse", "--absolute-git-dir");
    expect(await waitForIndexLocks(repo, 1_000)).toBe(true);
    const lock = join(gitDir, "nexus-checkpoint-00ff00ff.index.lock");
    writeFileSync(lock, "");
    expect(await waitForIndexLocks(repo, 200)).toBe(false);
    writeFileSync(join(gitDir, "index.lock"), "");
    // Let go a moment later, one after the other: the wait ends only after both.
    let released = 0;
    setTimeout(() => (rmSync(lock), released++), 200);
    setTimeout(() => (rmSync(join(gitDir, "index.lock")), released++), 400);
    expect(await waitForIndexLocks(repo, 60_000)).toBe(true);
    expect(released).toBe(2);
  });

  test("the checkpoint store names a record or journal half written (atomic write's temporary file) as a stray", async () => {
    await using dir = tempDir("ckpt-strays");
    const store = new CheckpointStore(dir.path);
    const left = [".restore-ws-f05f0f204656.json.b31e93d2.tmp", ".ckpt-0123456789ab.json.00ff00ff.tmp", "copy-in-0a0b0c0d.tar"];
    for (const f of [...left, "restore-ws-f05f0f204656.json", ".hidden"]) writeFileSync(join(dir.path, f), "x");
    expect(store.strays().map((f) => f.slice(dir.path.length + 1)).sort()).toEqual([...left].sort());
  });
});
