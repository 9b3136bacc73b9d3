// Finding 1 of issue 11, on the host side: a repository whose git dir holds planted hooks and
// config (a hostile clone, or one a workspace could write before it had its own git dir) runs none of
// them when the daemon runs git in it. No engine needed: this is the daemon's git against a real repository.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as g from "../../src/git/git.ts";
import { hardenedEnv, hardeningArgs } from "../../src/git/hardened.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

/** Plants every hook and config key that makes git run a program; each one touches `<marker>/<name>`. */
function plant(repo: string, marker: string): void {
  mkdirSync(marker, { recursive: true });
  const hooks = join(repo, ".git", "hooks");
  for (const hook of ["post-checkout", "reference-transaction", "post-index-change", "pre-commit", "post-commit", "pre-auto-gc"]) {
    writeFileSync(join(hooks, hook), `#!/bin/sh\ntouch '${marker}/${hook}'\n`);
    chmodSync(join(hooks, hook), 0o755);
  }
  const evil = join(repo, "evil-hooks");
  mkdirSync(evil, { recursive: true });
  writeFileSync(join(evil, "post-checkout"), `#!/bin/sh\ntouch '${marker}/hooksPath'\n`);
  chmodSync(join(evil, "post-checkout"), 0o755);
  writeFileSync(join(repo, "fsmonitor.sh"), `#!/bin/sh\ntouch '${marker}/fsmonitor'\n`);
  chmodSync(join(repo, "fsmonitor.sh"), 0o755);
  git(repo, "config", "core.fsmonitor", join(repo, "fsmonitor.sh"));
  git(repo, "config", "core.sshCommand", `touch '${marker}/sshCommand' #`);
}

describe("the daemon's git runs nothing a repository planted", () => {
  test("worktree add, status, rev-list, branch -D and worktree remove with planted hooks and fsmonitor", async () => {
    await using dir = tempDir("sec-git");
    const repo = makeRepo(join(dir.path, "repo"));
    const marker = join(dir.path, "ran");
    plant(repo, marker);
    const wt = join(repo, ".worktree", "w");
    await g.addWorktree(repo, wt, "nexus/w", { createFrom: "main" });
    writeFileSync(join(wt, "README.md"), "changed\n");
    const wip = await g.workInProgress(wt, "nexus/w");
    expect(wip.uncommitted).toEqual([" M README.md"]);
    await g.localOnlyCommits(repo);
    await g.removeWorktree(repo, wt);
    await g.deleteBranch(repo, "nexus/w");
    expect(await g.branchExists(repo, "nexus/w")).toBe(false);
    expect(existsSync(marker) ? readdirSync(marker) : []).toEqual([]);
  });

  test("core.hooksPath from the repository is not followed", async () => {
    await using dir = tempDir("sec-git");
    const repo = makeRepo(join(dir.path, "repo"));
    const marker = join(dir.path, "ran");
    plant(repo, marker);
    git(repo, "config", "core.hooksPath", join(repo, "evil-hooks"));
    await g.addWorktree(repo, join(repo, ".worktree", "h"), "nexus/h", { createFrom: "main" });
    expect(readdirSync(marker).sort()).toEqual([]);
  });

  test("the planted hooks do run under plain git (the test's attack is real)", async () => {
    await using dir = tempDir("sec-git");
    const repo = makeRepo(join(dir.path, "repo"));
    const marker = join(dir.path, "ran");
    plant(repo, marker);
    git(repo, "worktree", "add", "-q", "-b", "nexus/p", join(repo, ".worktree", "p"));
    git(join(repo, ".worktree", "p"), "status");
    const ran = readdirSync(marker).sort();
    expect(ran).toContain("post-checkout");
    expect(ran).toContain("reference-transaction");
    expect(ran).toContain("fsmonitor");
  });
});

describe("hardenedEnv", () => {
  test("drops variables that point git elsewhere, keeps the user's ssh agent and ssh command", () => {
    const env = hardenedEnv({ PATH: "/bin", GIT_DIR: "/evil", GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "core.pager", GIT_CONFIG_VALUE_0: "x", SSH_AUTH_SOCK: "/a", GIT_SSH_COMMAND: "ssh -i k" });
    expect(env).toMatchObject({ PATH: "/bin", SSH_AUTH_SOCK: "/a", GIT_SSH_COMMAND: "ssh -i k", GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" });
    for (const k of ["GIT_DIR", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"]) expect(env[k]).toBeUndefined();
    expect(hardeningArgs({ GIT_SSH_COMMAND: "ssh -i k" })).toContain("core.sshCommand=ssh -i k");
    expect(hardeningArgs({})).toContain("core.hooksPath=/dev/null");
  });
});
