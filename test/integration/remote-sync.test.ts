// A workspace made with `create --engine` on the remote-engine double (scripts/remote-engine.sh: a
// private dockerd and a real sshd on 127.0.0.1): its /workspace is a volume there, kept in step with
// the worktree here by the sync service (unison). Nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { remoteEngineUnavailable, startRemoteEngine, type RemoteEngineDouble } from "../helpers/remote-engine.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const why = remoteEngineUnavailable();
const root = tempDir("remote-sync");

/** Waits until `ok` holds; a probe that throws (a file being replaced, SSH busy) is one more "not yet". */
const waitUntil = (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 60_000) => until(what, ok, Boolean, { timeoutMs, intervalMs: 50, retryErrors: true });

describe.skipIf(why !== undefined)("file sync of a workspace on a remote engine", () => {
  let remote: RemoteEngineDouble;
  let s: Services;
  let home: string;
  const watching = new AbortController();
  const repo = makeRepo(join(root.path, "repo"), { "README.md": "# remote\n", "src/app.ts": "export {};\n" });
  // The repository's own identity, an alias, an exclude and a hook: the repository inside gets them.
  for (const [k, v] of [["user.name", "Repo Person"], ["user.email", "repo@example.test"], ["alias.last", "log -1 --format=%s"]]) spawnSync("git", ["-C", repo, "config", k!, v!]);
  writeFileSync(join(repo, ".git/info/exclude"), "*.scratch\n");
  writeFileSync(join(repo, ".git/hooks/commit-msg"), '#!/bin/sh\nprintf "\\nHooked: yes\\n" >> "$1"\n', { mode: 0o755 });

  beforeAll(async () => {
    remote = startRemoteEngine();
    home = join(root.path, "nexus");
    s = serviceGraph(home, remote.configYaml);
    await s.workspaces.reconcile();
    // As the daemon does at start, while no workspace runs on the remote engine yet.
    s.workspaces.watchEngine(watching.signal);
  }, 600_000);

  afterAll(async () => {
    watching.abort();
    s?.workspaces.shutdown();
    await s?.sync.manager.shutdown();
    await remote?.[Symbol.asyncDispose]();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  const hostGit = (...args: string[]) => {
    const r = spawnSync("git", args[0] === "-C" ? args : ["-C", repo, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const inside = async (script: string) => (await s.workspaces.execCollect("far", { command: "sh", args: ["-c", script] })).stdout;

  test("create --engine: the worktree's files are inside after create, and sync status says unison", async () => {
    await s.workspaces.create({ name: "far", path: repo, engine: "remote" });
    expect(await inside("cat /workspace/src/app.ts")).toBe("export {};\n");
    const st = s.sync.status("far");
    expect(st).toMatchObject({ provider: "unison", status: "syncing", error: null });
    expect((await s.workspaces.status("far")).sync).toMatchObject({ provider: "unison", status: "syncing" });
  }, 900_000);

  test("an edit here is visible inside, an edit inside reaches the worktree", async () => {
    const worktree = s.workspaces.resolve("far").mountPath;
    writeFileSync(join(worktree, "src/app.ts"), "export const here = 1;\n");
    await waitUntil("the host edit inside", async () => (await inside("cat /workspace/src/app.ts")) === "export const here = 1;\n");
    await inside("echo 'made inside' > /workspace/inside.txt");
    await waitUntil("the inside edit here", () => existsSync(join(worktree, "inside.txt")) && readFileSync(join(worktree, "inside.txt"), "utf8") === "made inside\n");
    expect((await s.sync.flush("far")).flushed).toBe(true);
  }, 300_000);

  test("git inside: a repository of its own on the workspace's branch, clean, with the host's history", async () => {
    const tip = hostGit("rev-parse", "refs/heads/nexus/far");
    expect((await inside("cd /workspace && git branch --show-current")).trim()).toBe("nexus/far");
    expect((await inside("cd /workspace && git rev-parse HEAD")).trim()).toBe(tip);
    expect((await inside("cd /workspace && git rev-parse main")).trim()).toBe(hostGit("rev-parse", "refs/heads/main"));
    // The synced files and the index agree: what shows as changed is what the earlier test edited, as on the host.
    expect(await inside("cd /workspace && git status --porcelain")).toBe(" M src/app.ts\n?? inside.txt\n");
    expect(hostGit("-C", s.workspaces.resolve("far").mountPath, "status", "--porcelain")).toBe("M src/app.ts\n?? inside.txt");
    // The host repository's config (identity, alias), info/exclude and hooks are there, as for a local workspace.
    expect((await inside("cd /workspace && git config user.email && git last && touch x.scratch && git status --porcelain --untracked-files=all | grep -c scratch || true"))).toBe("repo@example.test\ninitial\n0\n");
    expect(await inside("test -x /workspace/.git/hooks/commit-msg && echo hook")).toBe("hook\n");
    await inside("rm -f /workspace/x.scratch");
    // The worktree's .git file here is never carried over (nor the repository inside back).
    expect(readFileSync(join(s.workspaces.resolve("far").mountPath, ".git"), "utf8")).toStartWith("gitdir: ");
  }, 300_000);

  test("a commit made inside reaches the host's nexus/far; other branches inside never move the host's", async () => {
    await inside("cd /workspace && git add inside.txt && git commit -q -m 'made inside'");
    const insideTip = (await inside("cd /workspace && git rev-parse HEAD")).trim();
    // The host repository's identity, and its commit-msg hook ran (inside).
    expect(hostGit("log", "-1", "--format=%an <%ae>|%B", insideTip)).toBe("Repo Person <repo@example.test>|made inside\n\nHooked: yes");
    expect(hostGit("rev-parse", "refs/heads/nexus/far")).toBe(insideTip);
    expect(hostGit("log", "-1", "--format=%s", "nexus/far")).toBe("made inside");
    // The host's worktree index followed: git status here is clean for the committed file.
    expect(hostGit("-C", s.workspaces.resolve("far").mountPath, "status", "--porcelain", "inside.txt")).toBe("");
    // Rewriting main inside leaves the host's main alone; the commit is kept under the workspace's namespace.
    const main = hostGit("rev-parse", "refs/heads/main");
    await inside("cd /workspace && git branch -f main HEAD");
    expect(hostGit("rev-parse", "refs/heads/main")).toBe(main);
    const id = s.workspaces.resolve("far").id;
    expect(hostGit("rev-parse", `refs/nexus/workspaces/${id}/heads/main`)).toBe(insideTip);
    await inside("cd /workspace && git branch -f main " + main);
  }, 300_000);

  test("a commit made here reaches the repository inside on sync flush", async () => {
    const worktree = s.workspaces.resolve("far").mountPath;
    writeFileSync(join(worktree, "host.txt"), "from the host\n");
    hostGit("-C", worktree, "add", "host.txt");
    hostGit("-C", worktree, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-q", "-m", "made here");
    const tip = hostGit("rev-parse", "refs/heads/nexus/far");
    await s.sync.flush("far");
    expect((await inside("cd /workspace && git rev-parse HEAD")).trim()).toBe(tip);
    expect((await inside("cd /workspace && git log -1 --format=%s")).trim()).toBe("made here");
    await waitUntil("host.txt inside", async () => (await inside("cat /workspace/host.txt 2>/dev/null || true")) === "from the host\n");
    expect(await inside("cd /workspace && git status --porcelain")).toBe(" M src/app.ts\n");
  }, 300_000);

  test("stopped, its sync is not running (flush INVALID_STATE); started again, it catches up", async () => {
    const worktree = s.workspaces.resolve("far").mountPath;
    await s.workspaces.stop("far");
    expect(s.sync.status("far")).toMatchObject({ provider: "unison", status: "paused" });
    await expectError(s.sync.flush("far"), "INVALID_STATE");
    writeFileSync(join(worktree, "while-stopped.txt"), "written while stopped\n");
    await s.workspaces.start("far");
    expect(s.sync.status("far").status).toBe("syncing");
    expect(await inside("cat /workspace/while-stopped.txt")).toBe("written while stopped\n");
  }, 600_000);

  test("its engine's events are watched from its first workspace on: a container stopped behind the daemon's back shows", async () => {
    const r = s.workspaces.resolve("far");
    expect(r.status).toBe("running");
    remote.docker("stop", "-t", "1", r.containerId!);
    await waitUntil("the record says stopped", () => s.workspaces.resolve("far").status === "stopped", 120_000);
  }, 300_000);

  test("destroy forgets its sync session", async () => {
    const id = s.workspaces.resolve("far").id;
    await s.workspaces.destroy("far", { force: true });
    expect(s.sync.manager.has(id)).toBe(false);
    expect(existsSync(join(home, "sync", id))).toBe(false);
  }, 600_000);
});
