// The pure and git-only parts of checkpoints: docker diff reduced to what to copy and delete, and a
// worktree snapshot and its way back (real git, no Docker).
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { reduceChanges } from "../../src/docker/checkpoints.ts";
import { restoreWorktree, snapshotWorktree } from "../../src/git/snapshot.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

describe("reduceChanges", () => {
  test("an added tree is copied by its top, a changed directory through its children, a deleted tree by its top", () => {
    const r = reduceChanges(
      [
        { Path: "/opt", Kind: 0 },
        { Path: "/opt/app", Kind: 1 },
        { Path: "/opt/app/bin", Kind: 1 },
        { Path: "/opt/app/bin/x", Kind: 1 },
        { Path: "/etc", Kind: 0 },
        { Path: "/etc/passwd", Kind: 0 },
        { Path: "/etc/nexus", Kind: 0 },
        { Path: "/etc/nexus/ssh/ssh_host_ed25519_key", Kind: 1 },
        { Path: "/usr/share/doc", Kind: 0 },
        { Path: "/usr/share/doc/tmux", Kind: 2 },
        { Path: "/usr/share/doc/tmux/README", Kind: 2 },
        { Path: "/home/nexus", Kind: 1 },
        { Path: "/workspace", Kind: 0 },
        { Path: "/srv", Kind: 0 },
      ],
      ["/etc/nexus", "/home/nexus", "/workspace"],
    );
    expect(r.copy).toEqual(["/etc/passwd", "/opt/app", "/srv"]);
    expect(r.remove).toEqual(["/usr/share/doc/tmux"]);
  });

  test("a directory that leads to a mount is not copied whole; its other children are", () => {
    const r = reduceChanges(
      [
        { Path: "/nexus", Kind: 1 },
        { Path: "/nexus/host-git", Kind: 1 },
        { Path: "/nexus/host-git/objects", Kind: 1 },
        { Path: "/nexus/notes", Kind: 1 },
      ],
      ["/nexus/host-git/objects"],
    );
    expect(r.copy).toEqual(["/nexus/notes"]);
  });

  test("an excluded prefix does not exclude a sibling that merely starts with the same letters", () => {
    const r = reduceChanges([{ Path: "/workspace-notes", Kind: 1 }, { Path: "/workspace/x", Kind: 1 }], ["/workspace"]);
    expect(r.copy).toEqual(["/workspace-notes"]);
  });
});

describe("worktree snapshot", () => {
  test("holds modified, untracked and staged files, leaves ignored ones out, and touches neither HEAD nor the index", async () => {
    await using dir = tempDir("snap");
    const repo = makeRepo(join(dir.path, "repo"), { "a.txt": "a1\n", ".gitignore": "node_modules/\n" });
    writeFileSync(join(repo, "a.txt"), "a2\n");
    writeFileSync(join(repo, "new.txt"), "untracked\n");
    writeFileSync(join(repo, "staged.txt"), "staged\n");
    git(repo, "add", "staged.txt");
    mkdirSync(join(repo, "node_modules"));
    writeFileSync(join(repo, "node_modules", "dep.js"), "x");
    const head = git(repo, "rev-parse", "HEAD");
    const index = createHash("sha256").update(readFileSync(join(repo, ".git", "index"))).digest("hex");
    const status = git(repo, "status", "--porcelain");

    const snap = await snapshotWorktree(repo, "refs/nexus/checkpoints/ckpt-000000000001", "test");
    expect(snap.head).toBe(head);
    expect(snap.branch).toBe("main");
    expect(git(repo, "rev-parse", "HEAD")).toBe(head);
    expect(createHash("sha256").update(readFileSync(join(repo, ".git", "index"))).digest("hex")).toBe(index);
    expect(git(repo, "status", "--porcelain")).toBe(status);
    expect(git(repo, "show", "refs/nexus/checkpoints/ckpt-000000000001:new.txt")).toBe("untracked");
    expect(git(repo, "show", "refs/nexus/checkpoints/ckpt-000000000001:a.txt")).toBe("a2");
    expect(() => git(repo, "show", "refs/nexus/checkpoints/ckpt-000000000001:node_modules/dep.js")).toThrow();
    expect(git(repo, "ls-tree", "--name-only", snap.indexTree!).split("\n")).toContain("staged.txt");

    // Change everything, then come back.
    writeFileSync(join(repo, "a.txt"), "a3\n");
    rmSync(join(repo, "new.txt"));
    writeFileSync(join(repo, "later.txt"), "later\n");
    git(repo, "reset", "-q", "staged.txt");
    const back = await restoreWorktree(repo, snap);
    expect(back.headMoved).toBe(false);
    expect(readFileSync(join(repo, "a.txt"), "utf8")).toBe("a2\n");
    expect(readFileSync(join(repo, "new.txt"), "utf8")).toBe("untracked\n");
    expect(existsSync(join(repo, "later.txt"))).toBe(false);
    expect(existsSync(join(repo, "node_modules", "dep.js"))).toBe(true);
    expect(git(repo, "status", "--porcelain")).toBe(status);
  });

  test("when the branch moved since, the files land on the current HEAD and it says so", async () => {
    await using dir = tempDir("snap");
    const repo = makeRepo(join(dir.path, "repo"), { "a.txt": "a1\n" });
    writeFileSync(join(repo, "wip.txt"), "wip\n");
    const snap = await snapshotWorktree(repo, "refs/nexus/checkpoints/ckpt-000000000002", "test");
    rmSync(join(repo, "wip.txt"));
    writeFileSync(join(repo, "b.txt"), "b\n");
    git(repo, "add", "b.txt");
    git(repo, "commit", "-q", "-m", "moved on");
    const moved = git(repo, "rev-parse", "HEAD");
    const back = await restoreWorktree(repo, snap);
    expect(back.headMoved).toBe(true);
    expect(git(repo, "rev-parse", "HEAD")).toBe(moved);
    expect(readFileSync(join(repo, "wip.txt"), "utf8")).toBe("wip\n");
    // b.txt is not in the checkpoint's files: against the current HEAD it shows as deleted, recoverable from HEAD.
    expect(existsSync(join(repo, "b.txt"))).toBe(false);
  });
});
