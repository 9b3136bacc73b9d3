// The core against the real Docker engine and a real sshd in a real container: no mocks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { NexusError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/log.ts";
import type { WorkspaceEvent } from "../../src/core/events.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { docker, engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("integration");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
let s: Services;
const events: WorkspaceEvent[] = [];

function services(configText = "", h = home): Services {
  const paths = nexusPaths({ NEXUS_HOME: h });
  mkdirSync(h, { recursive: true, mode: 0o700 });
  return buildServices({ paths, config: parseConfig(configText, join(h, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
}

async function expectError(p: Promise<unknown>, code: string): Promise<NexusError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe(code as NexusError["code"]);
    return err as NexusError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = services();
  s.events.subscribe((e) => events.push(e));
  await s.workspaces.reconcile();
}, 600_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("create → exec → destroy", () => {
  let id = "";

  test("create makes a worktree, a labelled container with SSH on 127.0.0.1 only, and is ready", async () => {
    const phases: string[] = [];
    const ws = await s.workspaces.create({ name: "alpha", path: repo, ports: [8000], env: { GREETING: "hello world" } }, (p) => phases.push(p.phase));
    id = ws.id;
    expect(ws.status).toBe("running");
    expect(ws.branch).toBe("nexus/alpha");
    expect(ws.worktreePath).toBe(join(repo, ".worktree", "alpha"));
    expect(phases).toContain("ready");
    expect(git(repo, "branch", "--list", "nexus/alpha")).toContain("nexus/alpha");
    // .worktree stays out of the main tree's status without touching .gitignore.
    expect(git(repo, "status", "--porcelain")).toBe("");

    const record = s.store.get(id)!;
    const inspect = JSON.parse(docker("inspect", record.containerId!))[0];
    expect(inspect.Config.Labels[LABELS.workspaceId]).toBe(id);
    expect(inspect.Config.Labels[LABELS.instance]).toBe(instanceId(home));
    for (const bindings of Object.values(inspect.HostConfig.PortBindings) as Array<Array<{ HostIp: string }>>) {
      for (const b of bindings) expect(b.HostIp).toBe("127.0.0.1");
    }
    expect(inspect.HostConfig.PortBindings["22/tcp"][0].HostPort).toBe(String(record.ports.ssh));
    expect(inspect.HostConfig.PortBindings["8000/tcp"][0].HostPort).toBe(String(record.ports.services[0]!.hostPort));
    // Keys never travel in the container's environment or labels.
    const envAndLabels = JSON.stringify([inspect.Config.Env, inspect.Config.Labels]);
    expect(envAndLabels).not.toContain("PRIVATE KEY");
    expect(envAndLabels).not.toContain("ssh-ed25519");
    expect(events.some((e) => e.type === "workspace.status" && e.payload.workspaceId === id && e.payload.status === "running")).toBe(true);
  });

  test("the pinned host key is the key sshd presents", async () => {
    const record = s.store.get(id)!;
    const scanned = execFileSync("ssh-keyscan", ["-t", "ed25519", "-p", String(record.ports.ssh), "127.0.0.1"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const presented = scanned.trim().split(/\s+/).slice(1, 3).join(" ");
    const pinned = readFileSync(join(home, "workspaces", id, "ssh", "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    expect(presented).toBe(pinned);
    expect(readFileSync(join(home, "known_hosts"), "utf8")).toContain(pinned);
    expect(readFileSync(join(home, "ssh_config"), "utf8")).toContain(`Port ${record.ports.ssh}`);
  });

  test("exec runs in /workspace with git working, separate streams and the real exit code", async () => {
    const r = await s.workspaces.execCollect("alpha", { command: "git", args: ["status", "--short", "--branch"] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("## nexus/alpha");
    const split = await s.workspaces.execCollect(id, { command: "sh", args: ["-c", "echo out; echo err >&2; exit 7"] });
    expect(split).toEqual({ exitCode: 7, stdout: "out\n", stderr: "err\n" });
    const where = await s.workspaces.execCollect(id, { command: "pwd", args: [] });
    expect(where.stdout.trim()).toBe("/workspace");
    const inTmp = await s.workspaces.execCollect(id, { command: "pwd", args: [], cwd: "/tmp" });
    expect(inTmp.stdout.trim()).toBe("/tmp");
  });

  test("argv reaches the command word for word, whatever it holds", async () => {
    const argv = ["a b", "it's", '"q"', "$HOME", "`id`", "x;y", "*", "", "new\nline", "ünï", "--flag"];
    const r = await s.workspaces.execCollect(id, { command: "printf", args: ["%s\\0", ...argv] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(argv);
  });

  test("the workspace env and per-exec env reach the command; the user is nexus with the mapped uid", async () => {
    const r = await s.workspaces.execCollect(id, { command: "sh", args: ["-c", 'echo "$GREETING|$EXTRA|$(id -un)|$LANG"'], env: { EXTRA: "x y" } });
    // On a root host the user nexus is uid 0, whose first name in /etc/passwd is root.
    expect(r.stdout.trim()).toBe(`hello world|x y|${process.getuid!() === 0 ? "root" : "nexus"}|en_US.UTF-8`);
    const uid = (await s.workspaces.execCollect(id, { command: "id", args: ["-u"] })).stdout.trim();
    const hostUid = process.getuid!();
    expect(uid).toBe(String(hostUid));
  });

  test("files written on the host show up in /workspace (bind mount) and image tools are there", async () => {
    writeFileSync(join(repo, ".worktree", "alpha", "from-host.txt"), "hi from host\n");
    const r = await s.workspaces.execCollect(id, { command: "cat", args: ["from-host.txt"] });
    expect(r.stdout).toBe("hi from host\n");
    const tools = await s.workspaces.execCollect(id, { command: "sh", args: ["-c", "command -v git tmux python3 curl sudo less ps && echo tools-ok"] });
    expect(tools.exitCode).toBe(0);
    // sudo is there, yet works only with the project's `sudo: true` (test/security/setuid.test.ts).
    expect(tools.stdout).toContain("tools-ok");
  });

  test("40 concurrent execs share one connection (sshd MaxSessions is raised above 10)", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => s.workspaces.execCollect(id, { command: "sh", args: ["-c", `sleep 0.3; echo ${i}`] })));
    results.forEach((r, i) => expect(r).toEqual({ exitCode: 0, stdout: `${i}\n`, stderr: "" }));
  });

  test("a connection lost mid-command is CONNECTION_LOST, never a fake exit code", async () => {
    const record = s.store.get(id)!;
    const running = s.workspaces.execCollect(id, { command: "sleep", args: ["30"] });
    const pgrep = (pattern: string) => spawnSync("docker", ["exec", record.containerId!, "pgrep", "-f", pattern]).status;
    await until("the command runs", () => pgrep("^sleep 30"), (code) => code === 0);
    // Kill the per-connection sshd processes inside the container: the TCP connection drops.
    docker("exec", record.containerId!, "sh", "-c", "pkill -KILL -f '[s]shd: nexus' || true");
    await expectError(running, "CONNECTION_LOST");
    // The pool drops the dead connection and the next exec reconnects.
    const again = await s.workspaces.execCollect(id, { command: "echo", args: ["back"] });
    expect(again.stdout).toBe("back\n");
  });

  test("an exec timeout kills the command and says so", async () => {
    const started = Date.now();
    const err = await expectError(s.workspaces.execCollect(id, { command: "sleep", args: ["23"], timeout: 1 }), "INVALID_STATE");
    expect(err.message).toContain("timeout");
    expect(Date.now() - started).toBeLessThan(10_000);
    // The kill reaches the command in its own time on a loaded machine: nothing is left running soon after.
    const left = () => s.workspaces.execCollect(id, { command: "pgrep", args: ["-f", "^sleep 23"] });
    expect((await until("the command is gone", left, (r) => r.exitCode !== 0, 30_000)).exitCode).toBe(1);
  });

  test("a second create of the same name gets WORKSPACE_ALREADY_EXISTS and changes nothing", async () => {
    await expectError(s.workspaces.create({ name: "alpha", path: repo }), "WORKSPACE_ALREADY_EXISTS");
    expect(s.store.list().filter((r) => r.name === "alpha")).toHaveLength(1);
  });

  test("destroy refuses uncommitted work, then removes everything but the branch", async () => {
    const wt = join(repo, ".worktree", "alpha");
    const err = await expectError(s.workspaces.destroy("alpha"), "INVALID_STATE");
    expect(err.suggestion).toContain("--force");
    expect(s.store.get(id)?.status).toBe("running");
    const record = s.store.get(id)!;
    await s.workspaces.destroy("alpha", { force: true });
    expect(s.store.get(id)).toBeUndefined();
    expect(existsSync(wt)).toBe(false);
    expect(git(repo, "branch", "--list", "nexus/alpha")).toContain("nexus/alpha");
    expect(spawnSync("docker", ["inspect", record.containerId!]).status).not.toBe(0);
    expect(spawnSync("docker", ["volume", "inspect", record.homeVolume]).status).not.toBe(0);
    expect(readFileSync(join(home, "known_hosts"), "utf8")).toBe("");
    expect(events.some((e) => e.payload.workspaceId === id && e.payload.status === "destroyed")).toBe(true);
    await expectError(s.workspaces.execCollect(id, { command: "true", args: [] }), "WORKSPACE_NOT_FOUND");
  });

  test("destroy refuses commits that no other branch or remote holds", async () => {
    const ws = await s.workspaces.create({ name: "beta", path: repo });
    const wt = ws.worktreePath;
    writeFileSync(join(wt, "work.txt"), "work\n");
    git(wt, "add", "work.txt");
    git(wt, "commit", "-q", "-m", "work in progress");
    const err = await expectError(s.workspaces.destroy("beta"), "INVALID_STATE");
    expect(err.details?.unpushedCommits).toBe(1);
    // Once another branch holds the commit, nothing would be lost.
    git(repo, "branch", "keep-beta", "nexus/beta");
    await s.workspaces.destroy("beta");
    expect(s.store.findByName("beta")).toBeUndefined();
  });
});

describe("sources: clone, existing branch, no worktree", () => {
  test("--repo clones first, then makes the worktree in the clone", async () => {
    const ws = await s.workspaces.create({ name: "cloned", repo: `file://${repo}` });
    try {
      expect(ws.repository?.url).toBe(`file://${repo}`);
      expect(ws.repository?.path.startsWith(join(home, "repos"))).toBe(true);
      const r = await s.workspaces.execCollect("cloned", { command: "git", args: ["log", "--oneline", "-1"] });
      expect(r.stdout).toContain("initial");
    } finally {
      await s.workspaces.destroy("cloned", { force: true });
    }
    // The clone was Nexus's own and its branch held nothing new: destroy leaves no folder behind.
    expect(existsSync(ws.repository!.path)).toBe(false);
  });

  test("destroy --force keeps a clone whose branch has commits that are nowhere else (the branch is kept)", async () => {
    const ws = await s.workspaces.create({ name: "clonework", repo: `file://${repo}` });
    git(ws.worktreePath, "commit", "-q", "--allow-empty", "-m", "local-only");
    await s.workspaces.destroy("clonework", { force: true });
    expect(existsSync(ws.repository!.path)).toBe(true);
    expect(git(ws.repository!.path, "log", "--format=%s", "-1", "nexus/clonework")).toBe("local-only");
  });

  test("destroy keeps a clone whose local-only commits are on another branch the user made in it", async () => {
    const ws = await s.workspaces.create({ name: "clonebranch", repo: `file://${repo}` });
    // Work on a branch of one's own: the workspace branch holds nothing new, but the clone does.
    git(ws.worktreePath, "checkout", "-q", "-b", "mine");
    git(ws.worktreePath, "commit", "-q", "--allow-empty", "-m", "on-mine");
    await s.workspaces.destroy("clonebranch");
    expect(existsSync(ws.repository!.path)).toBe(true);
    expect(git(ws.repository!.path, "log", "--format=%s", "-1", "mine")).toBe("on-mine");
  });

  test("destroy --force keeps a clone that holds a stash", async () => {
    const ws = await s.workspaces.create({ name: "clonestash", repo: `file://${repo}` });
    writeFileSync(join(ws.worktreePath, "wip.txt"), "work in progress\n");
    git(ws.worktreePath, "stash", "push", "-q", "--include-untracked");
    await s.workspaces.destroy("clonestash", { force: true });
    expect(existsSync(ws.repository!.path)).toBe(true);
    expect(git(ws.repository!.path, "stash", "list")).toContain("stash@{0}");
  });

  test("--repo with --from-branch or -b naming a branch only the remote has: it is taken from there", async () => {
    const origin = makeRepo(join(root.path, "origin-branches"));
    git(origin, "checkout", "-q", "-b", "dev");
    writeFileSync(join(origin, "dev.txt"), "dev\n");
    git(origin, "add", "dev.txt");
    git(origin, "commit", "-q", "-m", "on dev");
    git(origin, "checkout", "-q", "-b", "feature/x");
    writeFileSync(join(origin, "x.txt"), "x\n");
    git(origin, "add", "x.txt");
    git(origin, "commit", "-q", "-m", "on feature/x");
    git(origin, "checkout", "-q", "main");
    const fromDev = await s.workspaces.create({ name: "clone-from-dev", repo: `file://${origin}`, branch: "task", fromBranch: "dev" });
    const onFeature = await s.workspaces.create({ name: "clone-feature", repo: `file://${origin}`, branch: "feature/x" });
    try {
      expect(git(fromDev.worktreePath, "log", "-1", "--format=%s")).toBe("on dev");
      expect(git(fromDev.worktreePath, "branch", "--show-current")).toBe("task");
      expect(git(onFeature.worktreePath, "log", "-1", "--format=%s")).toBe("on feature/x");
      expect(git(onFeature.worktreePath, "rev-parse", "--abbrev-ref", "@{upstream}")).toBe("origin/feature/x");
    } finally {
      await s.workspaces.destroy("clone-from-dev", { force: true });
      await s.workspaces.destroy("clone-feature", { force: true });
    }
  });

  test("a clone that fails is INVALID_ARGUMENT and leaves no folder behind", async () => {
    await expectError(s.workspaces.create({ name: "badclone", repo: `file://${root.path}/no-such-repo` }), "INVALID_ARGUMENT");
    expect(existsSync(join(home, "repos")) ? spawnSync("ls", [join(home, "repos")], { encoding: "utf8" }).stdout : "").not.toContain("badclone");
  });

  test("--no-worktree mounts the repository itself", async () => {
    const ws = await s.workspaces.create({ name: "direct", path: repo, noWorktree: true });
    try {
      expect(ws.worktreePath).toBe(repo);
      expect(ws.branch).toBe("main");
      const r = await s.workspaces.execCollect("direct", { command: "git", args: ["rev-parse", "--abbrev-ref", "HEAD"] });
      expect(r.stdout.trim()).toBe("main");
    } finally {
      await s.workspaces.destroy("direct", { force: true });
    }
    // Destroy never removes the user's own repository.
    expect(existsSync(join(repo, ".git"))).toBe(true);
    expect(existsSync(join(repo, "README.md"))).toBe(true);
  });
});

describe("failures leave nothing behind", () => {
  test("a base image that cannot be had fails with CONTAINER_ERROR and rolls back everything", async () => {
    const before = git(repo, "branch", "--list");
    await expectError(s.workspaces.create({ name: "broken", path: repo, image: "nexus-test-no-such-image:none" }), "CONTAINER_ERROR");
    expect(s.store.findByName("broken")).toBeUndefined();
    expect(existsSync(join(repo, ".worktree", "broken"))).toBe(false);
    expect(git(repo, "branch", "--list")).toBe(before);
    expect(git(repo, "worktree", "list")).not.toContain("broken");
    expect(leftovers(home).containers).toEqual([]);
  });

  test("an existing branch is checked out, not recreated, and survives a failed create", async () => {
    git(repo, "branch", "existing-work");
    await expectError(s.workspaces.create({ name: "reuse", path: repo, branch: "existing-work", image: "nexus-test-no-such-image:none" }), "CONTAINER_ERROR");
    expect(git(repo, "branch", "--list", "existing-work")).toContain("existing-work");
  });

  test("no free port in the range gives RESOURCE_EXHAUSTED with a suggestion, and nothing is made", async () => {
    const h = join(root.path, "nexus-ports");
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(34990, "127.0.0.1", () => r()));
    const tight = services("ssh:\n  port_range: {start: 34990, end: 34990}\n", h);
    try {
      const err = await expectError(tight.workspaces.create({ name: "noport", path: repo }), "RESOURCE_EXHAUSTED");
      expect(err.suggestion).toContain("port_range");
      expect(existsSync(join(repo, ".worktree", "noport"))).toBe(false);
    } finally {
      busy.close();
      tight.workspaces.shutdown();
      removeLeftovers(h);
    }
  });

  test("unknown workspaces give WORKSPACE_NOT_FOUND on every operation", async () => {
    await expectError(s.workspaces.status("nope"), "WORKSPACE_NOT_FOUND");
    await expectError(s.workspaces.destroy("nope"), "WORKSPACE_NOT_FOUND");
    await expectError(s.workspaces.exec("nope", { command: "true", args: [] }), "WORKSPACE_NOT_FOUND");
    expect(() => s.workspaces.get("nope")).toThrow("doesn't exist");
  });
});

describe("reconcile at daemon start", () => {
  test("records follow the containers; orphans and unfinished creates are cleaned up", async () => {
    const ws = await s.workspaces.create({ name: "gamma", path: repo });
    const record = s.store.get(ws.id)!;
    s.workspaces.shutdown();

    // Behind the daemon's back: the container is stopped, an orphan container appears, and a
    // record is left "pending" as if the daemon died in the middle of a create.
    docker("stop", "-t", "1", record.containerId!);
    const orphan = docker("create", "--label", `${LABELS.instance}=${instanceId(home)}`, "--label", `${LABELS.workspaceId}=ws-orphan`, "--entrypoint", "true", record.image);
    const pendingRecord = { ...record, id: "ws-pending0001", name: "pending", status: "pending" as const, containerId: null, worktree: null, homeVolume: "nexus-pending-none", ports: { ssh: 34980, services: [] } };
    mkdirSync(join(home, "workspaces", pendingRecord.id), { recursive: true });
    writeFileSync(join(home, "workspaces", pendingRecord.id, "workspace.json"), JSON.stringify(pendingRecord));

    s = services();
    await s.workspaces.reconcile();
    expect(s.store.get(ws.id)?.status).toBe("stopped");
    expect(s.store.get(pendingRecord.id)).toBeUndefined();
    expect(spawnSync("docker", ["inspect", orphan]).status).not.toBe(0);

    // A container that vanished leaves the record in error, so the user sees it and can destroy it.
    docker("rm", "-f", record.containerId!);
    s.workspaces.shutdown();
    s = services();
    await s.workspaces.reconcile();
    expect(s.store.get(ws.id)?.status).toBe("error");
    await s.workspaces.destroy("gamma", { force: true });
    expect(leftovers(home)).toEqual({ containers: [], volumes: [] });
  });
});
