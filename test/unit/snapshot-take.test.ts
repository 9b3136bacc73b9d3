// A worktree snapshot is prepared before the freeze (prepareSnapshot: HEAD, the staged state, the
// temporary index seeded from the user's) and taken while frozen (take): whatever changed between
// the two, even within the same second and at the same size, is in the snapshot as it was at
// take(), and HEAD and the user's index stay as they were (real git, no Docker).
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareSnapshot } from "../../src/git/snapshot.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";

const hash = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("worktree snapshot, prepared before the freeze", () => {
  test("changes made between prepare and take are what the snapshot holds", async () => {
    await using dir = tempDir("pretake");
    const repo = makeRepo(join(dir.path, "repo"), { "same-size.txt": "aaaa\n", "gone.txt": "g\n", "kept.txt": "k\n" });
    writeFileSync(join(repo, "untracked-early.txt"), "early\n");
    const head = git(repo, "rev-parse", "HEAD");
    const index = hash(join(repo, ".git", "index"));

    const pending = await prepareSnapshot(repo, "test");
    // After the first pass (the workspace still runs): same size, same second; a file removed; one added; one changed again.
    writeFileSync(join(repo, "same-size.txt"), "bbbb\n");
    rmSync(join(repo, "gone.txt"));
    writeFileSync(join(repo, "untracked-late.txt"), "late\n");
    writeFileSync(join(repo, "untracked-early.txt"), "early, then changed\n");
    await pending.take();
    const snap = await pending.finish("refs/nexus/checkpoints/ckpt-00000000000a", "test");

    const show = (path: string) => git(repo, "show", `${snap.tree}:${path}`);
    expect(show("same-size.txt")).toBe("bbbb");
    expect(show("untracked-late.txt")).toBe("late");
    expect(show("untracked-early.txt")).toBe("early, then changed");
    expect(show("kept.txt")).toBe("k");
    expect(git(repo, "ls-tree", "--name-only", snap.tree).split("\n")).not.toContain("gone.txt");
    expect(git(repo, "rev-parse", "HEAD")).toBe(head);
    expect(hash(join(repo, ".git", "index"))).toBe(index);
    expect(git(repo, "rev-parse", "refs/nexus/checkpoints/ckpt-00000000000a")).toBe(snap.commit);
  });
});
