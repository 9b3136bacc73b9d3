// git-sync/service.ts keeps each workspace's sync state in memory (afterExec reads it after every exec): what
// it decides must follow every state it writes. The workspace side runs here on this machine: git with
// the own git dir as its git dir, as the container sees it (/workspace is the worktree).
import { describe, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "../../src/core/log.ts";
import { GitSync, type GitSyncDeps } from "../../src/core/git-sync/service.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import type { WorkspaceRecord } from "../../src/kernel/types.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const me = { uid: process.getuid!(), gid: process.getgid!() };

/** A workspace's command line run here: its git sees the own git dir, the worktree is /workspace. */
function localExec(sync: () => GitSync, repo: string, worktree: string, adminName: string): GitSyncDeps["exec"] {
  return (r, line, streams) =>
    new Promise((resolve, reject) => {
      const own = sync().ownDir(r.id);
      const env = {
        ...process.env,
        GIT_DIR: join(own, "worktrees", adminName),
        GIT_WORK_TREE: worktree,
        GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, ".git", "objects"),
        GIT_AUTHOR_NAME: "inside",
        GIT_AUTHOR_EMAIL: "inside@example.com",
        GIT_COMMITTER_NAME: "inside",
        GIT_COMMITTER_EMAIL: "inside@example.com",
      };
      const child = spawn("sh", ["-c", line.replaceAll("/workspace", worktree)], { env, stdio: ["pipe", "pipe", "pipe"] });
      child.stdout.on("data", (b: Buffer) => streams.onStdout?.(b));
      child.stderr.on("data", (b: Buffer) => streams.onStderr?.(b));
      child.on("error", reject);
      child.on("close", (code) => resolve({ exitCode: code ?? 1 }));
      if (streams.stdin instanceof Uint8Array) child.stdin.end(streams.stdin);
      else child.stdin.end();
    });
}

async function fixture(dir: string): Promise<{ sync: GitSync; r: WorkspaceRecord; repo: string; worktree: string; inside: (...args: string[]) => string }> {
  const repo = makeRepo(join(dir, "repo"));
  const worktree = join(repo, ".worktree", "w");
  git(repo, "worktree", "add", "-q", "-b", "nexus/w", worktree);
  const paths = nexusPaths({ NEXUS_HOME: join(dir, "home") });
  const r = makeRecord({
    name: "w",
    repository: { path: repo, gitCommonDir: join(repo, ".git"), cloned: false },
    worktree: { path: worktree, branch: "nexus/w", branchCreated: true },
    mountPath: worktree,
    branch: "nexus/w",
  });
  // The record's folder, as the store makes it before prepare runs.
  mkdirSync(paths.workspaceDir(r.id), { recursive: true });
  let sync: GitSync;
  sync = new GitSync({
    paths,
    log: silentLogger,
    owner: me,
    exec: localExec(() => sync, repo, worktree, "w"),
    runOneOff: async () => ({ exitCode: 0, output: "" }),
  });
  const insideEnv = () => ({ GIT_DIR: join(sync.ownDir(r.id), "worktrees", "w"), GIT_WORK_TREE: worktree, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, ".git", "objects") });
  const inside = (...args: string[]) => {
    return execFileSync("git", ["-c", "user.name=inside", "-c", "user.email=inside@example.com", ...args], { cwd: worktree, env: { ...process.env, ...insideEnv() }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  };
  return { sync, r, repo, worktree, inside };
}

describe("git sync's state in memory", () => {
  test("an exec's check that finds nothing moved leaves the branch, and still sees each later commit", async () => {
    await using dir = tempDir("git-sync-after-exec");
    const { sync, r, repo, worktree, inside } = await fixture(dir.path);
    await sync.prepare(r);
    const before = git(repo, "rev-parse", "nexus/w");
    // Nothing moved: twice (the second on the layout the first kept).
    await sync.afterExec(r);
    await sync.afterExec(r);
    expect(git(repo, "rev-parse", "nexus/w")).toBe(before);
    for (const name of ["one", "two"]) {
      writeFileSync(join(worktree, `${name}.txt`), "x\n");
      inside("add", `${name}.txt`);
      inside("commit", "-q", "-m", name);
      const tip = inside("rev-parse", "HEAD");
      await sync.afterExec(r);
      expect(git(repo, "rev-parse", "nexus/w")).toBe(tip);
      await sync.afterExec(r);
      expect(git(repo, "rev-parse", "nexus/w")).toBe(tip);
    }
  });

  test("follows what it writes: made at prepare, moved by a sync, so a stopped workspace's check sees the sync", async () => {
    await using dir = tempDir("git-sync-state");
    const { sync, r, repo, worktree, inside } = await fixture(dir.path);
    // Asked before it exists (nothing remembered), then made.
    expect(sync.layout(r)).toBeUndefined();
    await sync.prepare(r);
    expect(sync.layout(r)?.kind).toBe("worktree");
    // Nothing moved since prepare: no sync (the exec stand-in is not even asked).
    expect(await sync.beforeStop(r)).toBeUndefined();

    // A commit inside, then an exec's check: it reaches the host's branch.
    writeFileSync(join(worktree, "made-inside.txt"), "x\n");
    inside("add", "made-inside.txt");
    inside("commit", "-q", "-m", "inside");
    const tip = inside("rev-parse", "HEAD");
    expect(git(repo, "rev-parse", "nexus/w")).not.toBe(tip);
    await sync.afterExec(r);
    expect(git(repo, "rev-parse", "nexus/w")).toBe(tip);

    // What that sync wrote is what the next checks read: nothing moved since, so stop has nothing to
    // do and destroy of the stopped workspace does not ask for --force (the state from prepare would).
    expect(await sync.beforeStop(r)).toBeUndefined();
    expect(await sync.beforeDestroy(r, { force: false, running: false })).toBe(0);
    expect((await sync.syncIfMoved(r)).insideHead).toBe(tip);

    // Another commit inside that no exec saw: a stopped workspace's destroy refuses again.
    inside("commit", "-q", "--allow-empty", "-m", "unseen");
    await expect(sync.beforeDestroy(r, { force: false, running: false })).rejects.toThrow(/refs changed/);
  });
});
