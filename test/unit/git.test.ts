import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as g from "../../src/git/git.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { rejectionOf as failure } from "../helpers/errors.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

describe("repoInfo", () => {
  test("the main tree, its common git dir and its branch", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    expect(await g.repoInfo(repo)).toEqual({ path: repo, commonDir: join(repo, ".git"), head: "main" });
  });

  test("from a subfolder it is still the repository's root", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"), { "src/deep/file.ts": "x" });
    expect((await g.repoInfo(join(repo, "src", "deep"))).path).toBe(repo);
  });

  test("from inside a worktree it anchors on the main tree", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const wt = join(repo, ".worktree", "w");
    git(repo, "worktree", "add", "-q", "-b", "nexus/w", wt);
    const info = await g.repoInfo(wt);
    expect(info.path).toBe(repo);
    expect(info.commonDir).toBe(join(repo, ".git"));
    expect(info.head).toBe("nexus/w");
  });

  test("a detached HEAD is the commit", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const sha = git(repo, "rev-parse", "HEAD");
    git(repo, "checkout", "-q", "--detach");
    expect((await g.repoInfo(repo)).head).toBe(sha);
  });

  test("a folder outside any repository is INVALID_ARGUMENT naming it", async () => {
    await using dir = tempDir("git");
    const e = await failure(g.repoInfo(dir.path));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain(dir.path);
    expect(e.message).toContain("not inside a git repository");
  });

  test("a repository with no commits has an empty head, as documented", async () => {
    // RepoInfo.head: "empty in a repository with no commits". create relies on it to say
    // "has no commits yet" instead of "Base 'main' is not a commit or branch".
    await using dir = tempDir("git");
    const repo = join(dir.path, "empty");
    mkdirSync(repo);
    git(repo, "init", "-q", "-b", "main");
    expect((await g.repoInfo(repo)).head).toBe("");
  });
});

describe("branches and commits", () => {
  test("hasCommit and branchExists", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    git(repo, "branch", "feature/x");
    expect(await g.hasCommit(repo, "HEAD")).toBe(true);
    expect(await g.hasCommit(repo, "main")).toBe(true);
    expect(await g.hasCommit(repo, git(repo, "rev-parse", "HEAD"))).toBe(true);
    expect(await g.hasCommit(repo, "nope")).toBe(false);
    expect(await g.branchExists(repo, "feature/x")).toBe(true);
    expect(await g.branchExists(repo, "feature")).toBe(false);
    expect(await g.branchExists(repo, "main")).toBe(true);
  });

  test("addWorktree on a new branch, then removeWorktree and deleteBranch", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const wt = join(repo, ".worktree", "a");
    await g.addWorktree(repo, wt, "nexus/a", { createFrom: "main" });
    expect(readFileSync(join(wt, "README.md"), "utf8")).toBe("# fixture\n");
    expect(git(wt, "branch", "--show-current")).toBe("nexus/a");
    writeFileSync(join(wt, "dirty.txt"), "uncommitted");
    await g.removeWorktree(repo, wt);
    expect(existsSync(wt)).toBe(false);
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1);
    expect(await g.branchExists(repo, "nexus/a")).toBe(true);
    await g.deleteBranch(repo, "nexus/a");
    expect(await g.branchExists(repo, "nexus/a")).toBe(false);
  });

  test("addWorktree on an existing branch", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    git(repo, "branch", "existing");
    const wt = join(repo, ".worktree", "e");
    await g.addWorktree(repo, wt, "existing", {});
    expect(git(wt, "branch", "--show-current")).toBe("existing");
  });

  test("addWorktree failures are INVALID_ARGUMENT with git's message", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const e = await failure(g.addWorktree(repo, join(repo, ".worktree", "x"), "nexus/x", { createFrom: "no-such-base" }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("git worktree failed");
  });

  test("removeWorktree of a path that is already gone is fine", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    await g.removeWorktree(repo, join(repo, ".worktree", "never"));
  });
});

describe("workInProgress", () => {
  test("a fresh worktree has nothing to lose", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const wt = join(repo, ".worktree", "w");
    git(repo, "worktree", "add", "-q", "-b", "nexus/w", wt);
    expect(await g.workInProgress(wt, "nexus/w")).toEqual({ uncommitted: [], unpushedCommits: 0 });
  });

  test("untracked, modified and staged files count as uncommitted", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"), { "a.txt": "a", "b.txt": "b" });
    const wt = join(repo, ".worktree", "w");
    git(repo, "worktree", "add", "-q", "-b", "nexus/w", wt);
    writeFileSync(join(wt, "newx.txt"), "x");
    writeFileSync(join(wt, "a.txt"), "changed");
    writeFileSync(join(wt, "b.txt"), "staged");
    git(wt, "add", "b.txt");
    const wip = await g.workInProgress(wt, "nexus/w");
    // `git status --porcelain` lines exactly: "XY path", where a leading space means "not staged".
    expect(wip.uncommitted).toEqual([" M a.txt", "M  b.txt", "?? newx.txt"]);
    expect(wip.unpushedCommits).toBe(0);
  });

  test("commits only on the workspace's branch are unpushed; merged ones are not", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const wt = join(repo, ".worktree", "w");
    git(repo, "worktree", "add", "-q", "-b", "nexus/w", wt);
    for (const n of ["1", "2"]) {
      writeFileSync(join(wt, `${n}.txt`), n);
      git(wt, "add", ".");
      git(wt, "commit", "-q", "-m", n);
    }
    expect(await g.workInProgress(wt, "nexus/w")).toEqual({ uncommitted: [], unpushedCommits: 2 });
    git(repo, "merge", "-q", "--ff-only", "nexus/w");
    expect(await g.workInProgress(wt, "nexus/w")).toEqual({ uncommitted: [], unpushedCommits: 0 });
  });

  test("commits that a remote-tracking branch holds are not unpushed", async () => {
    await using dir = tempDir("git");
    const origin = makeRepo(join(dir.path, "origin"));
    const clone = join(dir.path, "clone");
    await g.clone(origin, clone);
    const wt = join(clone, ".worktree", "w");
    git(clone, "worktree", "add", "-q", "-b", "nexus/w", wt);
    writeFileSync(join(wt, "f.txt"), "f");
    git(wt, "add", ".");
    git(wt, "commit", "-q", "-m", "f");
    expect((await g.workInProgress(wt, "nexus/w")).unpushedCommits).toBe(1);
    git(wt, "push", "-q", "origin", "nexus/w");
    expect((await g.workInProgress(wt, "nexus/w")).unpushedCommits).toBe(0);
  });
});

describe("clone", () => {
  test("clones a repository", async () => {
    await using dir = tempDir("git");
    const origin = makeRepo(join(dir.path, "origin"), { "hello.txt": "hi" });
    const dest = join(dir.path, "dest");
    await g.clone(origin, dest);
    expect(readFileSync(join(dest, "hello.txt"), "utf8")).toBe("hi");
  });

  test("a source that does not exist is INVALID_ARGUMENT naming the URL", async () => {
    await using dir = tempDir("git");
    const e = await failure(g.clone(join(dir.path, "missing"), join(dir.path, "dest")));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details).toEqual({ url: join(dir.path, "missing") });
  });

  test("a URL that looks like an option is not taken as one", async () => {
    await using dir = tempDir("git");
    const e = await failure(g.clone("--upload-pack=touch /tmp/pwned", join(dir.path, "dest")));
    expect(e.code).toBe("INVALID_ARGUMENT");
  });
});

describe("excludeWorktreeDir", () => {
  test("adds /.worktree/ to info/exclude once, keeping what is there", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    const file = join(repo, ".git", "info", "exclude");
    writeFileSync(file, "*.log"); // no trailing newline
    g.excludeWorktreeDir(join(repo, ".git"));
    g.excludeWorktreeDir(join(repo, ".git"));
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines[0]).toBe("*.log");
    expect(lines.filter((l) => l === "/.worktree/")).toHaveLength(1);
    mkdirSync(join(repo, ".worktree", "w"), { recursive: true });
    writeFileSync(join(repo, ".worktree", "w", "f"), "x");
    expect(git(repo, "status", "--porcelain")).toBe("");
  });

  test("makes info/ when it is missing", async () => {
    await using dir = tempDir("git");
    const repo = makeRepo(join(dir.path, "repo"));
    (await import("node:fs")).rmSync(join(repo, ".git", "info"), { recursive: true, force: true });
    g.excludeWorktreeDir(join(repo, ".git"));
    expect(readFileSync(join(repo, ".git", "info", "exclude"), "utf8")).toContain("/.worktree/\n");
  });
});
