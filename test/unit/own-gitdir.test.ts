import { describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST_OBJECTS, makeOwnGitDir, ownGitMounts, readIndexWhileStill, refsFingerprint, refTreeFingerprint, TREE_OVERFLOW, worktreeAdminName, type OwnGitLayout } from "../../src/git/own-gitdir.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { setTimeout as sleep } from "node:timers/promises";

slowTests();

const me = { uid: process.getuid!(), gid: process.getgid!() };

describe("the workspace's own git dir", () => {
  test("a worktree's own dir: its HEAD and index, refs as a snapshot, the host's objects as an alternate", async () => {
    await using dir = tempDir("own");
    const repo = makeRepo(join(dir.path, "repo"));
    git(repo, "tag", "-a", "v1", "-m", "v1");
    const wt = join(repo, ".worktree", "w");
    git(repo, "worktree", "add", "-q", "-b", "nexus/w", wt);
    const adminName = worktreeAdminName(wt, join(repo, ".git"))!;
    expect(adminName).toBe("w");
    const own = join(dir.path, "own");
    const layout: OwnGitLayout = { kind: "worktree", dir: own, commonDir: join(repo, ".git"), adminName, worktree: wt, branch: "nexus/w" };
    await makeOwnGitDir(layout, me);
    expect(readFileSync(join(own, "worktrees", "w", "HEAD"), "utf8")).toBe("ref: refs/heads/nexus/w\n");
    expect(readFileSync(join(own, "worktrees", "w", "commondir"), "utf8")).toBe("../..\n");
    expect(readFileSync(join(own, "worktrees", "w", "gitdir"), "utf8")).toBe("/workspace/.git\n");
    expect(readFileSync(join(own, "objects", "info", "alternates"), "utf8")).toBe(`${HOST_OBJECTS}\n`);
    const packed = readFileSync(join(own, "packed-refs"), "utf8");
    expect(packed).toContain(`${git(repo, "rev-parse", "main")} refs/heads/main`);
    expect(packed).toContain(`${git(repo, "rev-parse", "nexus/w")} refs/heads/nexus/w`);
    expect(packed).toContain("refs/tags/v1");
    expect(existsSync(join(own, "worktrees", "w", "index"))).toBe(true);
    // Git reads it as a repository (objects through an alternate that exists on the host for this check).
    const env = { ...process.env, GIT_DIR: own, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, ".git", "objects") };
    const { execFileSync } = await import("node:child_process");
    expect(execFileSync("git", ["rev-parse", "refs/heads/nexus/w"], { env, encoding: "utf8" }).trim()).toBe(git(repo, "rev-parse", "nexus/w"));
  });

  test("mounts: the own dir where .git points, the .git file and the host's objects read-only; never the host's git dir writable", async () => {
    const layout: OwnGitLayout = { kind: "worktree", dir: "/h/.nexus/workspaces/x/git", commonDir: "/r/.git", adminName: "w", worktree: "/r/.worktree/w", branch: "nexus/w" };
    const mounts = ownGitMounts(layout);
    expect(mounts).toEqual([
      { type: "bind", source: "/h/.nexus/workspaces/x/git", target: "/r/.git" },
      { type: "bind", source: "/r/.worktree/w/.git", target: "/workspace/.git", readOnly: true },
      { type: "bind", source: "/r/.git/objects", target: HOST_OBJECTS, readOnly: true },
    ]);
    const repoLayout: OwnGitLayout = { kind: "repo", dir: "/h/own", commonDir: "/r/.git", repo: "/r", branch: "main" };
    for (const m of ownGitMounts(repoLayout)) if (m.source.startsWith("/r/")) expect(m.readOnly).toBe(true);
    expect(ownGitMounts(repoLayout)[0]).toEqual({ type: "bind", source: "/h/own", target: "/workspace/.git" });
  });

  test("a symlinked file in the host's git dir is not followed into the copy", async () => {
    await using dir = tempDir("own");
    const repo = makeRepo(join(dir.path, "repo"));
    const secret = join(dir.path, "secret");
    writeFileSync(secret, "top secret\n");
    rmSync(join(repo, ".git", "info", "exclude"), { force: true });
    symlinkSync(secret, join(repo, ".git", "info", "exclude"));
    const own = join(dir.path, "own");
    await makeOwnGitDir({ kind: "repo", dir: own, commonDir: join(repo, ".git"), repo, branch: "main" }, me);
    expect(existsSync(join(own, "info", "exclude"))).toBe(false);
    expect(readFileSync(join(own, "HEAD"), "utf8")).toBe("ref: refs/heads/main\n");
  });

  test("the fingerprint moves when a ref of the own dir moves", async () => {
    await using dir = tempDir("own");
    const repo = makeRepo(join(dir.path, "repo"));
    const own = join(dir.path, "own");
    const layout: OwnGitLayout = { kind: "repo", dir: own, commonDir: join(repo, ".git"), repo, branch: "main" };
    await makeOwnGitDir(layout, me);
    const before = refsFingerprint(layout, "own");
    writeFileSync(join(own, "refs", "heads", "main"), git(repo, "rev-parse", "main") + "\n");
    expect(refsFingerprint(layout, "own")).not.toBe(before);
  });

  test("the ref tree's fingerprint moves with any ref (a nested branch, a tag, the stash), where the branch's own does not", async () => {
    await using dir = tempDir("own");
    const repo = makeRepo(join(dir.path, "repo"));
    const own = join(dir.path, "own");
    const layout: OwnGitLayout = { kind: "repo", dir: own, commonDir: join(repo, ".git"), repo, branch: "main" };
    await makeOwnGitDir(layout, me);
    const { execFileSync } = await import("node:child_process");
    const env = { ...process.env, GIT_DIR: own, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, ".git", "objects") };
    const inside = (...args: string[]) => execFileSync("git", args, { env, encoding: "utf8" }).trim();
    const tip = git(repo, "rev-parse", "main");
    const empty = git(repo, "hash-object", "-t", "tree", "-w", "/dev/null");
    const commit = (msg: string) => execFileSync("git", ["-c", "user.name=a", "-c", "user.email=a@b", "commit-tree", empty, "-p", tip, "-m", msg], { env: { ...env, GIT_DIR: join(repo, ".git") }, encoding: "utf8" }).trim();
    inside("update-ref", "refs/heads/feat/x", tip);
    const tree = refTreeFingerprint(layout);
    const branch = refsFingerprint(layout, "own");
    expect(refTreeFingerprint(layout)).toBe(tree); // stable while nothing moves
    // A second branch in the same nested folder moves: only that folder's mtime tells.
    await sleep(5);
    inside("update-ref", "refs/heads/feat/x", commit("one"));
    expect(refsFingerprint(layout, "own")).toBe(branch);
    expect(refTreeFingerprint(layout)).not.toBe(tree);
    const t2 = refTreeFingerprint(layout);
    await sleep(5);
    inside("update-ref", "refs/tags/t1", tip);
    expect(refTreeFingerprint(layout)).not.toBe(t2);
    const t3 = refTreeFingerprint(layout);
    await sleep(5);
    inside("update-ref", "refs/stash", commit("stash"));
    expect(refTreeFingerprint(layout)).not.toBe(t3);
  });

  test("the ref tree's walk follows no symlink and gives up (never matching) on a huge tree", async () => {
    await using dir = tempDir("own");
    const repo = makeRepo(join(dir.path, "repo"));
    const own = join(dir.path, "own");
    const layout: OwnGitLayout = { kind: "repo", dir: own, commonDir: join(repo, ".git"), repo, branch: "main" };
    await makeOwnGitDir(layout, me);
    const outside = join(dir.path, "outside");
    mkdirSync(join(outside, "deep"), { recursive: true });
    symlinkSync(outside, join(own, "refs", "heads", "elsewhere"));
    const before = refTreeFingerprint(layout);
    // A change beyond the symlink is not seen: the walk never left refs/.
    mkdirSync(join(outside, "deep", "more"));
    expect(refTreeFingerprint(layout)).toBe(before);
    for (let i = 0; i < 300; i++) mkdirSync(join(own, "refs", "tags", `d${i}`));
    expect(refTreeFingerprint(layout)).toBe(TREE_OVERFLOW);
  });
});

describe("readIndexWhileStill (a checkpoint's read of the own index on the host)", () => {
  test("reads a plain index; refuses links (of the file or a folder on the way) and hard links; nothing when there is none", async () => {
    await using dir = tempDir("own-index");
    const own = join(dir.path, "own");
    const layout: OwnGitLayout = { kind: "worktree", dir: own, commonDir: join(dir.path, "repo", ".git"), adminName: "w", worktree: join(dir.path, "wt"), branch: "nexus/w" };
    const admin = join(own, "worktrees", "w");
    mkdirSync(admin, { recursive: true });
    expect(readIndexWhileStill(layout)).toBeUndefined();
    writeFileSync(join(admin, "index"), "DIRC-index", { mode: 0o640 });
    const read = readIndexWhileStill(layout)!;
    expect(read.content.toString()).toBe("DIRC-index");
    expect(read.mode).toBe(0o640);
    expect(readIndexWhileStill({ kind: "repo", dir: admin, commonDir: "/x", repo: "/x", branch: "b" })!.content.toString()).toBe("DIRC-index");

    const secret = join(dir.path, "secret");
    writeFileSync(secret, "host secret");
    rmSync(join(admin, "index"));
    symlinkSync(secret, join(admin, "index"));
    expect(() => readIndexWhileStill(layout)).toThrow("not a plain file");
    rmSync(join(admin, "index"));
    linkSync(secret, join(admin, "index"));
    expect(() => readIndexWhileStill(layout)).toThrow("not a plain file");
    // A folder on the way replaced by a link to elsewhere.
    const elsewhere = join(dir.path, "elsewhere", "w");
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, "index"), "host file");
    rmSync(join(own, "worktrees"), { recursive: true });
    symlinkSync(join(dir.path, "elsewhere"), join(own, "worktrees"));
    expect(() => readIndexWhileStill(layout)).toThrow("is not a folder");
  });
});
