// The compiled binary, black box, as a user runs it: temporary NEXUS_HOME and git repository.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { leftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { E2E_RUNTIME } from "../helpers/bin.ts";
import { exitStatusIn, until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "some-git-repo"));

const nexus = nexusRunner({ home, cwd: repo });

beforeAll(() => {
  requireE2E();
});

afterAll(() => tearDown(nexus, root));

describe("the user story", () => {
  test("create starts the daemon, builds what is missing and shows progress", () => {
    expect(existsSync(join(home, "daemon.sock"))).toBe(false);
    const r = nexus(["create", "demo"]);
    expect(r.stderr).toContain("Started the Nexus daemon");
    expect(r.stderr).toContain("Creating worktree");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Created workspace demo");
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, "daemon.sock")).mode & 0o777).toBe(0o600);
  }, 600_000);

  test("the quick forms (--help, version, list) print what the full command table prints", () => {
    const full = { env: { NEXUS_FULL_CLI: "1" } };
    for (const args of [["--help"], ["-h"], [], ["list"], ["ls", "--json"], ["version", "--json"]]) {
      const quick = nexus(args);
      const slow = nexus(args, full);
      expect({ args, code: quick.code }).toEqual({ args, code: slow.code });
      // (list's CREATED column may tick between the two runs)
      const steady = (out: string) => out.replace(/\b\d+[smhd] ago\b/g, "<ago>");
      expect({ args, stdout: steady(quick.stdout) }).toEqual({ args, stdout: steady(slow.stdout) });
    }
    expect(nexus(["--help"]).stdout).toContain("Usage:");
  }, 120_000);

  test("the quick lifecycle forms (pause, resume, stop, start) answer as the full command table does", () => {
    const full = { env: { NEXUS_FULL_CLI: "1" } };
    // Durations differ from run to run; everything else is the same.
    const steady = (out: string) => out.replace(/\b\d+(\.\d+)?\s*(ms|s)\b/g, "<t>").replace(/"(durationMs|updatedAt|lastActiveAt)": [^,\n]+/g, '"$1": <t>');
    const both = (args: string[]) => {
      const quick = nexus(args);
      const slow = nexus(args, full);
      expect({ args, code: quick.code, stdout: steady(quick.stdout) }).toEqual({ args, code: slow.code, stdout: steady(slow.stdout) });
      return quick;
    };
    // Each state change once per form, and the "already" answer of each.
    for (const [verb, extra] of [["pause", []], ["resume", ["--json"]], ["stop", ["--timeout", "1"]], ["start", []]] as const) {
      const quick = nexus([verb, "demo", ...extra]);
      expect({ verb, code: quick.code, stderr: quick.code === 0 ? "" : quick.stderr }).toEqual({ verb, code: 0, stderr: "" });
      if (verb !== "start") both([verb, "demo", ...extra]);
    }
    expect(nexus(["resume", "demo"]).stdout).toMatch(/^Resumed demo in \d+ ms/);
    // Errors: the same code, message and exit code.
    for (const args of [["resume", "no-such-ws"], ["stop", "no-such-ws", "--json"], ["pause", "no-such-ws"]]) {
      const quick = nexus(args);
      const slow = nexus(args, full);
      expect({ args, code: quick.code, stdout: quick.stdout, stderr: quick.stderr }).toEqual({ args, code: slow.code, stdout: slow.stdout, stderr: slow.stderr });
      expect(quick.code).not.toBe(0);
    }
  }, 300_000);

  test("list shows a table, and --json the spec's shape", () => {
    const table = nexus(["list"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+STATUS/);
    expect(table.stdout).toMatch(/demo\s+running\s+nexus\/demo/);
    const json = JSON.parse(nexus(["list", "--json"]).stdout);
    expect(json.workspaces).toHaveLength(1);
    expect(json.workspaces[0]).toMatchObject({ name: "demo", status: "running", backend: "docker" });
    expect(json.workspaces[0].id).toMatch(/^ws-/);
    expect(json.workspaces[0].ports[0]).toMatchObject({ name: "ssh", containerPort: 22 });
    expect(JSON.parse(nexus(["ls", "--json", "--status", "stopped"]).stdout)).toEqual({ workspaces: [] });
    expect(nexus(["workspace", "list", "--json"]).stdout).toBe(nexus(["list", "--json"]).stdout);
  });

  test("status shows the workspace; --json gives the status object", () => {
    const r = nexus(["status", "demo"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("running");
    const s = JSON.parse(nexus(["status", "demo", "--json"]).stdout);
    expect(s).toMatchObject({ name: "demo", status: "running", backend: "docker" });
    expect(typeof s.ports.ssh).toBe("number");
    expect(s.createdAt).toBeTruthy();
    expect(s.lastActiveAt).toBeTruthy();
  });

  test("sync on a local workspace: provider bind, the same files, pause refused, flush done at once", () => {
    const s = JSON.parse(nexus(["sync", "status", "demo", "--json"]).stdout);
    expect(s).toMatchObject({ provider: "bind", status: "syncing", sessionId: null, error: null, stats: { conflicts: 0, bytesTransferred: 0 } });
    expect(s.stats.filesSynced).toBe(s.stats.filesTotal);
    expect(nexus(["sync", "status", "demo"]).stdout).toContain("provider bind");
    expect(JSON.parse(nexus(["status", "demo", "--json"]).stdout).sync).toEqual({ provider: "bind", status: "syncing", lastSyncAt: null });
    const paused = nexus(["sync", "pause", "demo", "--json"]);
    expect(paused.code).not.toBe(0);
    expect(JSON.parse(paused.stdout).error).toMatchObject({ code: "INVALID_STATE" });
    expect(JSON.parse(nexus(["sync", "flush", "demo", "--json"]).stdout)).toEqual({ flushed: true, durationMs: 0 });
    expect(JSON.parse(nexus(["sync", "conflicts", "demo", "--json"]).stdout)).toEqual({ conflicts: [] });
    const resolve = nexus(["sync", "resolve", "demo", "a.txt", "--winner", "host", "--json"]);
    expect(JSON.parse(resolve.stdout).error).toMatchObject({ code: "NOT_FOUND" });
    expect(nexus(["sync", "resolve", "demo", "a.txt", "--winner", "nobody"]).code).toBe(2);
  });

  test("exec runs over SSH inside the container, in /workspace", () => {
    const r = nexus(["exec", "demo", "--", "git", "status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("On branch nexus/demo");
    expect(nexus(["exec", "demo", "--", "pwd"]).stdout).toBe("/workspace\n");
  });

  test("exec exits with the command's own exit code and keeps stdout and stderr apart", () => {
    const r = nexus(["exec", "demo", "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 7"]);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe("to-out\n");
    expect(r.stderr).toBe("to-err\n");
    const j = JSON.parse(nexus(["exec", "demo", "--json", "--", "sh", "-c", "echo hi; exit 3"]).stdout);
    expect(j).toEqual({ exitCode: 3, stdout: "hi\n", stderr: "" });
  });

  test("exec streams output as it comes", async () => {
    const child = nexus.spawn(["exec", "demo", "--", "sh", "-c", "echo first; sleep 2; echo second"]);
    // Measured from the first output, not from the spawn: the CLI's own start (seconds for a
    // source run under Deno on a loaded machine) is not what this test is about.
    const first = await new Promise<{ at: number; text: string }>((resolve) => child.stdout!.once("data", (b) => resolve({ at: Date.now(), text: String(b) })));
    const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    expect(first.text).toBe("first\n");
    expect(Date.now() - first.at).toBeGreaterThanOrEqual(1500);
    expect(code).toBe(0);
  });

  test("Ctrl-C on exec stops the remote command too", async () => {
    const child = nexus.spawn(["exec", "demo", "--", "sh", "-c", "echo started; sleep 47"]);
    await new Promise((resolve) => child.stdout!.once("data", resolve));
    child.kill("SIGINT");
    const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    expect(code).toBe(130);
    // The remote command ends in its own time after the signal: gone soon, not at once.
    expect(await until("the remote command is gone", () => nexus(["exec", "demo", "--", "pgrep", "-f", "sleep 47"]).code, (code) => code !== 0, 30_000)).toBe(1);
  });
});

describe("ssh and console", () => {
  test("workspace ssh -- cmd runs one command in /workspace with its exit code", () => {
    const r = nexus(["workspace", "ssh", "demo", "--", "sh", "-c", "pwd; exit 3"]);
    expect(r.stdout).toBe("/workspace\n");
    expect(r.code).toBe(3);
  });

  test("console opens an interactive login shell in /workspace through a real terminal", async () => {
    const out = join(root.path, "console-exit");
    const session = `nexus-e2e-${process.pid}`;
    const cmd = `${nexus.line(["console", "demo"])}; echo $? > '${out}'`;
    spawnSync("tmux", ["new-session", "-d", "-s", session, "-x", "120", "-y", "30", "sh", "-c", cmd]);
    try {
      const screen = (want: string) =>
        until(`the terminal shows '${want}'`, () => spawnSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" }).stdout, (text) => text.includes(want));
      // The prompt names the user by uid: on a root host, nexus is uid 0, whose name is root.
      await screen(`${process.getuid?.() === 0 ? "root" : "nexus"}@demo`);
      spawnSync("tmux", ["send-keys", "-t", session, "echo at-$(pwd) cols-$(tput cols)", "Enter"]);
      expect(await screen("at-/workspace")).toContain("cols-120");
      spawnSync("tmux", ["send-keys", "-t", session, "exit 5", "Enter"]);
      expect(await exitStatusIn(out, "the console exits")).toBe(5);
    } finally {
      spawnSync("tmux", ["kill-session", "-t", session]);
    }
  });
});

describe("errors: the spec's code, a suggestion, and a distinct exit code", () => {
  test("unknown workspace exits 4 with WORKSPACE_NOT_FOUND", () => {
    const r = nexus(["exec", "nope", "--", "true"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("Workspace 'nope' doesn't exist");
    expect(r.stderr).toContain("nexus list");
    const j = JSON.parse(nexus(["status", "nope", "--json"]).stdout);
    expect(j.error).toMatchObject({ code: "WORKSPACE_NOT_FOUND", retryable: false, details: { workspaceName: "nope" } });
  });

  test("a bad name exits 2 with INVALID_ARGUMENT and makes nothing", () => {
    const r = nexus(["create", "Bad_Name"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("INVALID_ARGUMENT");
    expect(r.stderr).toContain("lowercase");
    expect(existsSync(join(repo, ".worktree", "Bad_Name"))).toBe(false);
  });

  test("a name in use exits 5 with WORKSPACE_ALREADY_EXISTS", () => {
    const r = nexus(["create", "demo"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("WORKSPACE_ALREADY_EXISTS");
  });

  test("create outside a git repository says how to fix it", () => {
    // A folder of its own: root.path holds NEXUS_HOME, which no workspace may mount (security).
    const outside = join(root.path, "not-a-repo");
    mkdirSync(outside, { recursive: true });
    const r = nexus(["create", "outside"], { cwd: outside });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not inside a git repository");
  });

  test("create without a name, no TTY: a clear error pointing at the usage", () => {
    const r = nexus(["create"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nexus create <name>");
  });

  test("no Docker engine: BACKEND_UNAVAILABLE with a suggestion, and nothing is made", () => {
    const otherHome = join(root.path, "nexus-no-engine");
    const noEngine = { home: otherHome, env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } };
    try {
      const r = nexus(["create", "no-engine", "--json"], noEngine);
      expect(r.code).toBe(1);
      const body = JSON.parse(r.stdout);
      expect(body.error.code).toBe("BACKEND_UNAVAILABLE");
      expect(body.error.suggestion).toContain("docker");
      expect(existsSync(join(repo, ".worktree", "no-engine"))).toBe(false);
      expect(spawnSync("git", ["branch", "--list", "nexus/no-engine"], { cwd: repo, encoding: "utf8" }).stdout).toBe("");
    } finally {
      nexus(["daemon", "stop"], noEngine);
    }
  });

  test("an unreachable daemon URL exits 3", () => {
    const r = nexus(["list", "--url", "http://127.0.0.1:9"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("DAEMON_UNREACHABLE");
  });
});

describe("daemon management", () => {
  test("the CLI restarts a daemon of another version", () => {
    expect(nexus(["daemon", "stop"]).code).toBe(0);
    expect(nexus(["daemon", "status"]).code).toBe(3);
    // A daemon from the source tree reports version 0.0.0-dev; the compiled CLI must replace it.
    // Under Deno (a source run, 0.0.0-dev itself) the other version is the compiled binary's.
    const other = E2E_RUNTIME === "deno" ? [join(import.meta.dir, "..", "..", "dist", "nexus")] : [process.execPath, join(import.meta.dir, "..", "..", "src", "main.ts")];
    const otherVersion = E2E_RUNTIME === "deno" ? JSON.parse(nexus(["version", "--json"], { bin: other }).stdout).version : "0.0.0-dev";
    const started = nexus(["daemon", "start"], { bin: other });
    expect(started.code).toBe(0);
    expect(JSON.parse(nexus(["daemon", "status", "--json"]).stdout).version).toBe(otherVersion);
    const r = nexus(["list"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Restarting the daemon");
    expect(JSON.parse(nexus(["daemon", "status", "--json"]).stdout).version).not.toBe(otherVersion);
    // Records survive the restart (reconciled at start).
    expect(r.stdout).toContain("demo");
  }, 60_000);

  test("version prints the CLI's and the daemon's versions", () => {
    const r = nexus(["version", "--json"]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout);
    // A source run (Deno mode) has no build version.
    if (E2E_RUNTIME === "deno") expect(v.version).toBe("0.0.0-dev");
    else expect(v.version).not.toBe("0.0.0-dev");
    expect(v.daemon.version).toBe(v.version);
    expect(v.platform).toBe(`${process.platform}-${process.arch}`);
  });
});

describe("no daemon running", () => {
  // version and list first try their shortest path (src/cli/instant.ts), which leaves a missing
  // daemon to the full path: version must not start one, list must.
  test("version says so and starts none; list starts one and lists", () => {
    expect(nexus(["daemon", "stop"]).code).toBe(0);
    const v = nexus(["version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("daemon    not running");
    expect(JSON.parse(nexus(["version", "--json"]).stdout).daemon).toBeNull();
    expect(nexus(["daemon", "status"]).code).toBe(3);
    const l = nexus(["list"]);
    expect({ code: l.code, started: l.stderr.includes("Started the Nexus daemon") }).toEqual({ code: 0, started: true });
    expect(l.stdout).toContain("demo");
    expect(nexus(["daemon", "status"]).code).toBe(0);
  }, 120_000);
});

describe("destroy", () => {
  test("destroy --force removes the workspace and leaves nothing labelled behind", () => {
    const r = nexus(["destroy", "demo", "--force"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(nexus(["list", "--json"]).stdout)).toEqual({ workspaces: [] });
    expect(leftovers(home)).toEqual({ containers: [], volumes: [] });
    expect(existsSync(join(repo, ".worktree", "demo"))).toBe(false);
  });
});
