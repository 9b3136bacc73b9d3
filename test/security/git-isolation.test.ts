// Issue 11, findings 1-3, against the real engine and a real sshd: a workspace attacks the host
// through git. Before the workspace had its own git dir, the host repository's git dir was mounted
// read-write: every attack below worked (hooks and fsmonitor ran on the host, as root under a root
// daemon; history was deleted; main was moved). Git inside must still work, and its commits reach
// the host's nexus/<name> branch.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { NexusError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/log.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("sec-git");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "src/a.txt": "a\n" });
/** Where a planted program would leave a mark if the host ran it. */
const marks = join(root.path, "pwned");
const isRoot = process.getuid!() === 0;
let s: Services;
const wt = join(repo, ".worktree", "iso");
const T = 300_000;

/** Runs a shell line inside the workspace through the daemon's exec, as its user. */
async function inside(line: string, opts: { ws?: string } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return s.workspaces.execCollect(opts.ws ?? "iso", { command: "sh", args: ["-c", line] });
}

/**
 * The attacks run in their own workspace (what they plant poisons its git, not the others'), as the
 * container's root (`docker exec -u 0`): the strongest attacker inside, whatever sudo allows.
 */
async function attack(line: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const id = s.workspaces.resolve("evil").containerId!;
  const r = spawnSync("docker", ["exec", "-u", "0", "-w", "/workspace", id, "sh", "-c", line], { encoding: "utf8" });
  return { exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function ok(line: string): Promise<string> {
  const r = await inside(line);
  if (r.exitCode !== 0) throw new Error(`inside: ${line}\nexit ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

const G = "git -c user.name=agent -c user.email=agent@example.com";

function marksLeft(): string[] {
  return existsSync(marks) ? readdirSync(marks) : [];
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  mkdirSync(marks, { recursive: true, mode: 0o777 });
  execFileSync("chmod", ["0777", marks]);
  s = buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: process.env.SEC_DEBUG ? { info: (m: string) => console.error("INFO", m), warn: (m: string) => console.error("WARN", m), error: (m: string) => console.error("ERR", m) } : silentLogger });
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "iso", path: repo });
  // A root daemon maps the container user to uid 1000, which cannot write root's files: let it.
  if (isRoot) execFileSync("chmod", ["-R", "a+rwX", wt]);
}, T);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("git inside keeps working and its commits reach the host", () => {
  test("status, diff, add, commit, log, branch, stash and rebase inside", async () => {
    await ok(`echo more >> src/a.txt && git status --short | grep -q 'M src/a.txt' && git diff | grep -q '+more'`);
    await ok(`git add src/a.txt && ${G} commit -q -m 'edit a'`);
    expect(await ok("git log --format=%s -1")).toBe("edit a");
    await ok(`git branch side && git branch --list side | grep -q side`);
    await ok(`echo stash-me >> README.md && git stash -q && git stash list | grep -q stash@ && git stash pop -q && git checkout -q -- README.md`);
    await ok(`echo b > b.txt && git add b.txt && ${G} commit -q -m 'add b'`);
    // A real rebase: the branch's last commit moves onto another one (its own branch rewritten).
    const log = await ok(`git checkout -q -b side2 HEAD~1 && echo c > c.txt && git add c.txt && ${G} commit -q -m 'add c' && git checkout -q nexus/iso && ${G} rebase -q side2 && git log --format=%s -3`);
    expect(log.split("\n")).toEqual(["add b", "add c", "edit a"]);
    expect(git(repo, "log", "--format=%s", "-2", "nexus/iso").split("\n")).toEqual(["add b", "add c"]);
    expect(await ok("git status --porcelain")).toBe("");
  }, T);

  test("a commit made inside is on the host's nexus/iso as soon as the exec ends, with a clean host index", async () => {
    const r = await inside(`echo from-inside > inside.txt && git add inside.txt && ${G} commit -q -m 'inside commit' && git rev-parse HEAD`);
    expect(r.exitCode).toBe(0);
    const tip = r.stdout.trim();
    expect(git(repo, "rev-parse", "nexus/iso")).toBe(tip);
    expect(git(repo, "log", "--format=%s", "-1", "nexus/iso")).toBe("inside commit");
    expect(git(wt, "status", "--porcelain")).toBe("");
    git(repo, "fsck", "--no-progress", "--connectivity-only");
  }, T);

  test("a commit made on the host in the worktree reaches the workspace, with a clean index inside", async () => {
    writeFileSync(join(wt, "host.txt"), "from host\n");
    git(wt, "add", "host.txt");
    git(wt, "-c", "user.name=h", "-c", "user.email=h@e", "commit", "-q", "-m", "host commit");
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", wt]);
    const tip = git(repo, "rev-parse", "nexus/iso");
    await s.workspaces.execCollect("iso", { command: "true", args: [] });
    expect(await ok("git rev-parse HEAD")).toBe(tip);
    expect(await ok("git status --porcelain")).toBe("");
  }, T);

  test("destroy sees commits made inside: on another branch it refuses, naming where they are kept", async () => {
    await ok(`git checkout -q -b elsewhere && ${G} commit -q --allow-empty -m 'only here' && git checkout -q nexus/iso`);
    let err: unknown;
    try {
      await s.workspaces.destroy("iso");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("INVALID_STATE");
    expect((err as NexusError).message).toContain("made inside");
    const id = s.workspaces.get("iso").id;
    expect(git(repo, "log", "--format=%s", "-1", `refs/nexus/workspaces/${id}/heads/elsewhere`)).toBe("only here");
    await s.workspaces.destroy("iso", { force: true });
    // --force: the workspace goes; commits that are nowhere else stay reachable on the host.
    expect(git(repo, "log", "--format=%s", "-1", `refs/nexus/workspaces/${id}/heads/elsewhere`)).toBe("only here");
    expect(git(repo, "log", "--format=%s", "-1", "nexus/iso")).not.toBe("");
    expect(existsSync(join(home, "workspaces", id))).toBe(false);
  }, T);
});

describe("attacks from inside a workspace", () => {
  const evilWt = join(repo, ".worktree", "evil");
  beforeAll(async () => {
    await s.workspaces.create({ name: "evil", path: repo });
    if (isRoot) execFileSync("chmod", ["-R", "a+rwX", evilWt]);
  }, T);

describe("finding 1: the daemon runs nothing a workspace planted", () => {
  test("hooks and core.fsmonitor planted from inside run neither on the next create nor on destroy's status", async () => {
    const hook = (name: string) => `mkdir -p ${repo}/.git/hooks && printf '#!/bin/sh\\ntouch ${marks}/${name}\\n' > ${repo}/.git/hooks/${name} && chmod 755 ${repo}/.git/hooks/${name}`;
    for (const name of ["post-checkout", "reference-transaction", "post-index-change"]) await attack(hook(name));
    await attack(`printf '#!/bin/sh\\ntouch ${marks}/fsmonitor\\n' > /tmp/fsm && chmod 755 /tmp/fsm && cp /tmp/fsm ${repo}/.git/fsm && git config -f ${repo}/.git/config core.fsmonitor ${repo}/.git/fsm`);
    const second = await s.workspaces.create({ name: "iso-two", path: repo });
    writeFileSync(join(second.worktreePath!, "README.md"), "changed\n");
    await expect(s.workspaces.destroy("iso-two")).rejects.toThrow(/uncommitted/);
    await s.workspaces.destroy("iso-two", { force: true });
    expect(marksLeft()).toEqual([]);
    // And the host's git dir never took them.
    expect(existsSync(join(repo, ".git", "hooks", "post-checkout"))).toBe(false);
    expect(readFileSync(join(repo, ".git", "config"), "utf8")).not.toContain("fsmonitor");
  }, T);
});

describe("finding 2: the host's git dir cannot be written from inside", () => {
  test("none of the 7 vectors reaches the host's git: your own git status, checkout and fetch run nothing", async () => {
    const cfg = (k: string, v: string, file = `${repo}/.git/config`) => `git config -f ${file} ${k} '${v}'`;
    const adm = readFileSync(join(evilWt, ".git"), "utf8").trim().replace(/^gitdir: /, "");
    const lines = [
      cfg("core.fsmonitor", `touch ${marks}/v-fsmonitor; false`),
      `printf '#!/bin/sh\\ntouch ${marks}/v-hook\\n' > ${repo}/.git/hooks/post-checkout; chmod 755 ${repo}/.git/hooks/post-checkout`,
      `mkdir -p /tmp/h && printf '#!/bin/sh\\ntouch ${marks}/v-hookspath\\n' > /tmp/h/post-checkout && chmod 755 /tmp/h/post-checkout && cp -r /tmp/h ${repo}/.git/evilhooks && ${cfg("core.hooksPath", `${repo}/.git/evilhooks`)}`,
      `${cfg("core.sshCommand", `touch ${marks}/v-ssh; false`)} && ${cfg("remote.origin.url", "ssh://example.invalid/x")}`,
      `${cfg("extensions.worktreeConfig", "true")} && ${cfg("core.fsmonitor", `touch ${marks}/v-wtconfig; false`, `${adm}/config.worktree`)}`,
      `mkdir -p ${repo}/.git/modules/sub && ${cfg("core.fsmonitor", `touch ${marks}/v-submodule; false`, `${repo}/.git/modules/sub/config`)}`,
      `${cfg("core.pager", `touch ${marks}/v-pager; cat`)}`,
    ];
    for (const l of lines) await attack(l);
    const before = readFileSync(join(repo, ".git", "config"), "utf8");
    // The user's own, unhardened git on the host.
    git(repo, "status");
    git(evilWt, "status");
    git(repo, "checkout", "-q", "-b", "probe");
    git(repo, "checkout", "-q", "main");
    git(repo, "branch", "-q", "-D", "probe");
    try {
      git(repo, "fetch", "-q", "origin");
    } catch {
      // No origin on the host: the fetch fails, as it should, without running anything.
    }
    expect(marksLeft()).toEqual([]);
    expect(readFileSync(join(repo, ".git", "config"), "utf8")).toBe(before);
    expect(existsSync(join(repo, ".git", "modules"))).toBe(false);
    expect(existsSync(join(repo, ".git", "evilhooks"))).toBe(false);
  }, T);

  test("the worktree's .git file cannot be pointed elsewhere from inside", async () => {
    const before = readFileSync(join(evilWt, ".git"), "utf8");
    const r = await attack(`printf 'gitdir: /tmp/evil\\n' > /workspace/.git`);
    expect(r.exitCode).not.toBe(0);
    expect(readFileSync(join(evilWt, ".git"), "utf8")).toBe(before);
  }, T);
});

describe("finding 3: nothing outside the workspace's branch is lost or moved", () => {
  test("rm -rf .git/objects/?? inside loses nothing on the host", async () => {
    const mainTip = git(repo, "rev-parse", "main");
    await attack(`rm -rf ${repo}/.git/objects/?? /nexus/host-git/objects/??`);
    expect(git(repo, "rev-parse", "main")).toBe(mainTip);
    git(repo, "fsck", "--no-progress", "--connectivity-only");
    expect(git(repo, "log", "--format=%s", "main")).toBe("initial");
    // Its own store lost what the workspace deleted; the host's, read-only, still serves history.
    const log = await inside("git log --format=%s -1", { ws: "evil" });
    expect(log.stdout.trim()).toBe("initial");
  }, T);

  test("git update-ref refs/heads/main inside does not move the host's main", async () => {
    const mainTip = git(repo, "rev-parse", "main");
    await inside(`git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c user.name=a -c user.email=a@e commit -q --allow-empty -m evil && git update-ref refs/heads/main HEAD && git branch -f other HEAD`, { ws: "evil" });
    await s.workspaces.execCollect("evil", { command: "true", args: [] });
    expect(git(repo, "rev-parse", "main")).toBe(mainTip);
    expect(git(repo, "branch", "--list", "other")).toBe("");
    // The commit itself reached the workspace's branch, which is the workspace's to move.
    expect(git(repo, "log", "--format=%s", "-1", "nexus/evil")).toBe("evil");
  }, T);
});

});
