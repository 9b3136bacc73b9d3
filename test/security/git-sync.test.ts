// Issue 11, findings 1-3, the edges of the workspace's own git dir against the real engine: commits
// made without the daemon's exec (an SSH session) reach the host at stop; a workspace whose commits
// cannot be brought over is not destroyed without --force; --no-worktree gets an own git dir too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../../src/core/errors.ts";
import { git, makeRepo } from "../helpers/fixtures.ts";
import { harness, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const T = 300_000;
const isRoot = process.getuid!() === 0;
let h: Harness;
let repo: string;

/** A command in the container outside the daemon's exec (as an SSH session would run it). */
function direct(ws: string, line: string, user = "nexus"): { exitCode: number; stdout: string; stderr: string } {
  const id = h.s.workspaces.resolve(ws).containerId!;
  const r = spawnSync("docker", ["exec", "-u", user, "-w", "/workspace", id, "sh", "-c", line], { encoding: "utf8" });
  return { exitCode: r.status ?? -1, stdout: r.stdout.trim(), stderr: r.stderr };
}

const G = "git -c user.name=agent -c user.email=agent@example.com";

beforeAll(async () => {
  h = await harness("sec-gitsync");
  repo = makeRepo(join(h.root.path, "repo"));
}, T);

afterAll(async () => {
  await h?.close();
});

describe("when commits reach the host", () => {
  test("a commit made outside the daemon's exec reaches the host's branch when the workspace stops", async () => {
    const ws = await h.s.workspaces.create({ name: "session", path: repo });
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", ws.worktreePath!]);
    const made = direct("session", `echo s > s.txt && git add s.txt && ${G} commit -q -m 'in a session' && git rev-parse HEAD`);
    expect(made.exitCode).toBe(0);
    expect(git(repo, "rev-parse", "nexus/session")).not.toBe(made.stdout);
    await h.s.workspaces.stop("session");
    expect(git(repo, "rev-parse", "nexus/session")).toBe(made.stdout);
    expect(git(ws.worktreePath!, "status", "--porcelain")).toBe("");
    // destroy's check sees the commit made inside: it is on the workspace's branch only.
    await expect(h.s.workspaces.destroy("session")).rejects.toThrow(/1 commit\(s\) on no other branch/);
    await h.s.workspaces.destroy("session", { force: true });
    expect(git(repo, "log", "--format=%s", "-1", "nexus/session")).toBe("in a session");
  }, T);

  test("stop keeps a commit made in a session on another, nested branch (no exec ran, the workspace's own branch did not move)", async () => {
    const ws = await h.s.workspaces.create({ name: "nested", path: repo });
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", ws.worktreePath!]);
    expect(direct("nested", "git branch feat/x").exitCode).toBe(0);
    await h.s.workspaces.stop("nested");
    await h.s.workspaces.start("nested");
    // Only refs/heads/feat/ changes now: the branch's own ref, refs/heads/ and HEAD stay as they were.
    const made = direct("nested", `c=$(${G} commit-tree 'HEAD^{tree}' -p HEAD -m 'on feat/x') && git update-ref refs/heads/feat/x "$c" && echo "$c"`);
    expect(made.exitCode).toBe(0);
    await h.s.workspaces.stop("nested");
    const id = h.s.workspaces.resolve("nested").id;
    expect(git(repo, "rev-parse", `refs/nexus/workspaces/${id}/heads/feat/x`)).toBe(made.stdout);
    await h.s.workspaces.destroy("nested", { force: true });
  }, T);

  test("a container stopped behind the daemon's back with commits not brought over: destroy refuses, --force destroys", async () => {
    const ws = await h.s.workspaces.create({ name: "cut", path: repo });
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", ws.worktreePath!]);
    expect(direct("cut", `${G} commit -q --allow-empty -m 'not yet on the host'`).exitCode).toBe(0);
    execFileSync("docker", ["stop", "-t", "1", h.s.workspaces.resolve("cut").containerId!]);
    let err: unknown;
    try {
      await h.s.workspaces.destroy("cut");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("INVALID_STATE");
    expect(h.s.workspaces.resolve("cut").status).not.toBe("destroying");
    await h.s.workspaces.destroy("cut", { force: true });
    expect(() => h.s.workspaces.resolve("cut")).toThrow();
  }, T);
});

describe("both sides", () => {
  test("both committed: neither branch moves, the workspace's tip is kept on the host; staged changes on the host are left alone", async () => {
    const ws = await h.s.workspaces.create({ name: "both", path: repo });
    const wt = ws.worktreePath!;
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", wt]);
    const inside = direct("both", `${G} commit -q --allow-empty -m 'inside' && git rev-parse HEAD`);
    expect(inside.exitCode).toBe(0);
    git(wt, "-c", "user.name=h", "-c", "user.email=h@e", "commit", "-q", "--allow-empty", "-m", "host");
    const hostTip = git(repo, "rev-parse", "nexus/both");
    await h.sh("both", "true");
    const id = h.s.workspaces.resolve("both").id;
    expect(git(repo, "rev-parse", "nexus/both")).toBe(hostTip);
    expect(git(repo, "rev-parse", `refs/nexus/workspaces/${id}/heads/nexus/both`)).toBe(inside.stdout);
    expect(direct("both", "git rev-parse HEAD").stdout).toBe(inside.stdout);

    // The workspace takes the host's commit (rebase inside): then the host's branch follows, but its
    // index holds a staged file, so the index stays as it was.
    expect(direct("both", `${G} rebase -q ${hostTip} && git rev-parse HEAD`).exitCode).toBe(0);
    const rebased = direct("both", "git rev-parse HEAD").stdout;
    writeFileSync(join(wt, "staged.txt"), "staged\n");
    git(wt, "add", "staged.txt");
    await h.sh("both", "true");
    expect(git(repo, "rev-parse", "nexus/both")).toBe(rebased);
    expect(git(wt, "diff", "--cached", "--name-only", hostTip)).toBe("staged.txt");
    await h.s.workspaces.destroy("both", { force: true });
  }, T);
});

describe("--no-worktree", () => {
  test("the repository's own .git is not reachable from inside; commits inside reach the checked-out branch", async () => {
    const folder = makeRepo(join(h.root.path, "folder"));
    const before = readFileSync(join(folder, ".git", "config"), "utf8");
    await h.s.workspaces.create({ name: "direct", path: folder, noWorktree: true });
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", folder]);
    const id = h.s.workspaces.resolve("direct").containerId!;
    const planted = spawnSync("docker", ["exec", "-u", "0", "-w", "/workspace", id, "sh", "-c", "printf '#!/bin/sh\\ntouch /tmp/x\\n' > .git/hooks/post-checkout && git config -f .git/config core.fsmonitor 'touch /tmp/y'"], { encoding: "utf8" });
    expect(planted.status).toBe(0);
    expect(existsSync(join(folder, ".git", "hooks", "post-checkout"))).toBe(false);
    expect(readFileSync(join(folder, ".git", "config"), "utf8")).toBe(before);
    // Undo the plant inside so the workspace's own git works again for the rest of the test.
    spawnSync("docker", ["exec", "-u", "0", "-w", "/workspace", id, "sh", "-c", "rm .git/hooks/post-checkout; git config -f .git/config --unset core.fsmonitor"]);
    const r = await h.sh("direct", `echo d > d.txt && git add d.txt && ${G} commit -q -m 'direct commit' && git rev-parse HEAD`);
    expect(r.exitCode).toBe(0);
    expect(git(folder, "rev-parse", "main")).toBe(r.stdout.trim());
    expect(git(folder, "status", "--porcelain")).toBe("");
    await h.s.workspaces.destroy("direct");
  }, T);
});
