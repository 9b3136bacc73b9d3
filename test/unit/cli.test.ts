// The CLI as a process (bun src/main.ts). No command here may start a daemon: the ones that need one
// either fail before asking for it, use --url to a closed port, or find an in-process API already
// answering on NEXUS_HOME/daemon.sock (with an engine address that does not exist). The last block
// alone runs a daemon (in the foreground, stopped at its end).
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createApp } from "../../src/api/http/app.ts";
import { parseConfig } from "../../src/config/load.ts";
import { EventBus } from "../../src/core/events.ts";
import { silentLogger } from "../../src/core/log.ts";
import { PortAllocator } from "../../src/core/ports.ts";
import { WorkspaceService } from "../../src/core/workspaces.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import { currentRuntime } from "../../src/runtime/index.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { WorkspaceStore } from "../../src/store/workspaces.ts";
import { buildInfo } from "../../src/version.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { nexusFromSource, type SourceRun } from "../helpers/source-cli.ts";
import { serveLocal } from "../helpers/serve.ts";
import { idleText } from "../../src/cli/commands/workspaces.ts";
import { makeRecord } from "../helpers/records.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const NO_ENGINE = "unix:///nonexistent/nexus-cli-test-docker.sock";

type Run = SourceRun;

/** Runs `nexus <args>` from source, asynchronously (an in-process API may have to answer it), with no engine. */
function nexus(args: string[], home: string, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return nexusFromSource(args, home, { cwd: opts.cwd, env: { DOCKER_HOST: NO_ENGINE, ...opts.env } });
}

/** No daemon was started: no socket, lock, pid file or log in NEXUS_HOME. */
function expectNoDaemon(home: string): void {
  const dir = join(home, "nexus");
  const present = existsSync(dir) ? readdirSync(dir) : [];
  for (const f of ["daemon.sock", "daemon.lock", "daemon.pid", "daemon.log"]) expect(present).not.toContain(f);
}

describe("without a daemon", () => {
  test("--help exits 0 and lists the commands", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["--help"], dir.path);
    expect(r.code).toBe(0);
    for (const cmd of ["create", "list", "status", "exec", "destroy", "daemon", "version"]) expect(r.stdout).toContain(cmd);
    expect(r.stdout).toContain("--json");
    expectNoDaemon(dir.path);
  });

  test("no arguments prints the help and exits 0", async () => {
    await using dir = tempDir("cli");
    const r = await nexus([], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:");
    expectNoDaemon(dir.path);
  });

  test("a command's --help shows its flags", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["exec", "--help"], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--cwd");
    expect(r.stdout).toContain("--timeout");
    expectNoDaemon(dir.path);
  });

  test("version exits 0, reports no daemon, and starts none", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["version"], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`nexus ${buildInfo().version}`);
    expect(r.stdout).toMatch(/daemon +not running/);
    expectNoDaemon(dir.path);
  });

  test("version --json", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["version", "--json"], dir.path);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: buildInfo().version, commit: buildInfo().commit, daemon: null });
    expectNoDaemon(dir.path);
  });

  test("--version prints the version", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["--version"], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(buildInfo().version);
  });

  test("an unknown command exits 2 and says so on stderr", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["frobnicate"], dir.path);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Unknown command 'frobnicate'");
    expect(r.stderr).toContain("nexus --help");
    expectNoDaemon(dir.path);
  });

  test("--json errors are {\"error\":{...}} on stdout, with the spec's fields", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["frobnicate", "--json"], dir.path);
    expect(r.code).toBe(2);
    const body = JSON.parse(r.stdout);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error).toMatchObject({ code: "INVALID_ARGUMENT", retryable: false });
    expect(body.error.message).toContain("frobnicate");
    expect(typeof body.error.suggestion).toBe("string");
    expect(r.stderr).not.toContain("Error:");
  });

  test("exec with no workspace and no active workspace exits 2 pointing at 'nexus use'", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["exec", "--", "ls"], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No workspace given");
    expect(r.stderr).toContain("nexus use");
    expectNoDaemon(dir.path);
    const j = await nexus(["exec", "--json", "--", "ls"], dir.path);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe("INVALID_ARGUMENT");
    expect(JSON.parse(j.stdout).error.suggestion).toContain("nexus use");
    expectNoDaemon(dir.path);
  });

  test("exec without a command exits 2", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["exec", "somews"], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No command given");
    expectNoDaemon(dir.path);
  });

  test("status and destroy without a workspace exit 2", async () => {
    await using dir = tempDir("cli");
    for (const cmd of ["status", "destroy"]) {
      const r = await nexus([cmd], dir.path);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("No workspace given");
    }
    expectNoDaemon(dir.path);
  });

  test("create without a name exits 2", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["create"], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("A workspace name is needed");
    expectNoDaemon(dir.path);
  });

  test("create with an env that is not KEY=VALUE exits 2 before asking the daemon", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["create", "ws1", "-e", "NOEQUALS"], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'NOEQUALS' is not KEY=VALUE");
    expectNoDaemon(dir.path);
  });

  test("--url to a closed port: list exits 3 (daemon unreachable) and starts nothing", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["--url", "http://127.0.0.1:1", "list"], dir.path);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("DAEMON_UNREACHABLE");
    expect(r.stderr).toContain("http://127.0.0.1:1");
    expectNoDaemon(dir.path);
    const j = await nexus(["--url", "http://127.0.0.1:1", "list", "--json"], dir.path);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout).error.code).toBe("DAEMON_UNREACHABLE");
    expectNoDaemon(dir.path);
  });

  test("NEXUS_URL works like --url", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["list"], dir.path, { env: { NEXUS_URL: "http://127.0.0.1:1" } });
    expect(r.code).toBe(3);
    expectNoDaemon(dir.path);
  });

  test("'nexus workspace <verb>' is the same command as '<verb>'", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["workspace", "list", "--url", "http://127.0.0.1:1"], dir.path);
    expect(r.code).toBe(3);
    const d = await nexus(["workspace", "delete"], dir.path);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain("No workspace given");
    expectNoDaemon(dir.path);
  });

  test("the active workspace is used when the argument is left out", async () => {
    await using dir = tempDir("cli");
    const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
    mkdirSync(join(paths.home, "session"), { recursive: true });
    writeFileSync(paths.activeWorkspace, "current-ws\n");
    // Past the workspace check (no exit 2): it goes on to the (unreachable) daemon.
    const r = await nexus(["--url", "http://127.0.0.1:1", "exec", "--", "ls"], dir.path);
    expect(r.code).toBe(3);
  });

  test("an unknown option is a usage error", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["--url", "http://127.0.0.1:1", "list", "--no-such-flag"], dir.path);
    expect(r.code).toBe(2);
    expectNoDaemon(dir.path);
  });

  test("daemon status with no daemon exits 3 and starts none", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["daemon", "status"], dir.path);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("Daemon not running");
    expectNoDaemon(dir.path);
    const j = await nexus(["daemon", "status", "--json"], dir.path);
    expect(JSON.parse(j.stdout)).toMatchObject({ running: false });
  });

  test("daemon with an unknown action or option, or a bad --port, exits 2", async () => {
    await using dir = tempDir("cli");
    expect((await nexus(["daemon", "bogus"], dir.path)).code).toBe(2);
    expect((await nexus(["daemon", "--bogus"], dir.path)).code).toBe(2);
    const p = await nexus(["daemon", "--port", "http"], dir.path);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("--port");
    const t = await nexus(["daemon", "--daemon-token", "short"], dir.path);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("--daemon-token must be at least 32 characters");
    expectNoDaemon(dir.path);
  });

  test("daemon stop with no daemon says so and exits 0", async () => {
    await using dir = tempDir("cli");
    const r = await nexus(["daemon", "stop"], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("not running");
    expectNoDaemon(dir.path);
  });
});

describe("against an API answering on daemon.sock", () => {
  /** Serves the real app (engine unreachable) on NEXUS_HOME/daemon.sock from this process. */
  async function serveApi(root: string) {
    const paths = nexusPaths({ NEXUS_HOME: join(root, "nexus") });
    mkdirSync(paths.home, { recursive: true });
    const config = parseConfig("", "x.yaml");
    const store = new WorkspaceStore(paths);
    const key = generateEd25519("cli-test");
    const service = new WorkspaceService({
      paths,
      config,
      store,
      docker: new DockerEngine({ host: NO_ENGINE, env: {} }),
      ssh: new SshPool({ privateKey: key.privateKey }),
      ports: new PortAllocator(config.ssh.port_range, () => []),
      events: new EventBus(),
      log: silentLogger,
      instance: "cli-test",
      clientKey: key,
      hostUser: { uid: 1000, gid: 1000, home: root },
    });
    const app = createApp({ workspaces: service, build: buildInfo(), daemon: { shutdown() {}, pid: process.pid, startedAt: new Date().toISOString() }, log: silentLogger });
    const server = await (await currentRuntime()).serveUnix(paths.daemonSocket, (req) => app.fetch(req));
    return {
      paths,
      store,
      app,
      async [Symbol.asyncDispose]() {
        await server.stop();
        service.shutdown();
      },
    };
  }

  test("list --json prints the API's body", async () => {
    await using dir = tempDir("cli");
    await using api = await serveApi(dir.path);
    const r = await nexus(["list", "--json"], dir.path);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ workspaces: [] });
    expect(existsSync(api.paths.lockFile)).toBe(false); // no daemon of its own was started
  });

  test("list prints a table of workspaces", async () => {
    await using dir = tempDir("cli");
    await using api = await serveApi(dir.path);
    const empty = await nexus(["ls"], dir.path);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain("No workspaces");
    api.store.save(makeRecord({ name: "tabled", ports: { ssh: 32950, services: [{ name: "port-3000", containerPort: 3000, hostPort: 32951 }] } }));
    const r = await nexus(["list"], dir.path);
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.trim().split("\n");
    expect(header).toMatch(/^NAME +STATUS +BRANCH +SSH +PORTS +CREATED$/);
    expect(row).toMatch(/^tabled +running +nexus\/tabled +32950 +32951→3000 +\d+[smhd] ago$/);
  });

  test("status of an unknown workspace exits 4 (not found)", async () => {
    await using dir = tempDir("cli");
    await using _api = await serveApi(dir.path);
    const r = await nexus(["status", "nope"], dir.path);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("Workspace 'nope' doesn't exist");
    expect(r.stderr).toContain("nexus list");
    const j = await nexus(["status", "nope", "--json"], dir.path);
    expect(j.code).toBe(4);
    expect(JSON.parse(j.stdout)).toEqual({
      error: {
        code: "WORKSPACE_NOT_FOUND",
        message: "Workspace 'nope' doesn't exist",
        suggestion: "Run 'nexus list' to see available workspaces",
        retryable: false,
        details: { workspaceName: "nope" },
      },
    });
  });

  test("status of a workspace on record, as JSON and as text", async () => {
    await using dir = tempDir("cli");
    await using api = await serveApi(dir.path);
    const rec = makeRecord({ name: "known", status: "stopped" });
    api.store.save(rec);
    const r = await nexus(["status", "known", "--json"], dir.path);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ workspaceId: rec.id, name: "known", status: "stopped" });
    const human = await nexus(["status", "known"], dir.path);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`known (${rec.id})  stopped`);
    expect(human.stdout).toContain(`ssh          127.0.0.1:${rec.ports.ssh}`);
    // What idleness does to it (and, when running, what keeps it awake) shows in the text too.
    expect(human.stdout).toContain("  idle         pauses after 30m without activity\n");
  });

  test("update --cpu alone keeps the memory limit, and --memory alone the CPUs", async () => {
    await using dir = tempDir("cli");
    await using api = await serveApi(dir.path);
    api.store.save(makeRecord({ name: "sized", status: "stopped", resources: { preset: "large", cpu: 4, memoryBytes: 8 * 1024 ** 3 } }));
    const cpu = await nexus(["update", "sized", "--cpu", "1", "--json"], dir.path);
    expect(cpu.code).toBe(0);
    expect(JSON.parse(cpu.stdout).resources).toEqual({ cpu: 1, memoryBytes: 8 * 1024 ** 3 });
    const mem = await nexus(["update", "sized", "--memory", "2GB", "--json"], dir.path);
    expect(JSON.parse(mem.stdout).resources).toEqual({ cpu: 1, memoryBytes: 2 * 1024 ** 3 });
  });

  test("the idle line says what keeps a workspace awake, or how long it has been idle", () => {
    const idle = { timeoutSeconds: 1800, action: "pause" as const, lastActiveAt: new Date().toISOString(), idleForSeconds: 90, keptAwakeBy: [] as string[] };
    expect(idleText("running", idle)).toBe("nothing keeps it awake; idle for 2m, pauses after 30m without activity");
    expect(idleText("running", { ...idle, keptAwakeBy: ["1 SSH connection", "2 commands running"] })).toBe("kept awake by 1 SSH connection, 2 commands running");
    expect(idleText("running", { ...idle, timeoutSeconds: 0 })).toBe("never paused for idleness (idle timeout 0)");
    expect(idleText("running", { ...idle, action: "stop", timeoutSeconds: 45 })).toBe("nothing keeps it awake; idle for 2m, stops after 45s without activity");
  });

  test("exec and destroy of an unknown workspace exit 4", async () => {
    await using dir = tempDir("cli");
    await using _api = await serveApi(dir.path);
    const e = await nexus(["exec", "nope", "--", "true"], dir.path);
    expect(e.code).toBe(4);
    expect(e.stderr).toContain("WORKSPACE_NOT_FOUND");
    const d = await nexus(["destroy", "nope"], dir.path);
    expect(d.code).toBe(4);
  });

  test("exec in a stopped workspace exits 1 with INVALID_STATE", async () => {
    await using dir = tempDir("cli");
    await using api = await serveApi(dir.path);
    api.store.save(makeRecord({ name: "halted", status: "stopped" }));
    const r = await nexus(["exec", "halted", "--json", "--", "true"], dir.path);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe("INVALID_STATE");
  });

  test("create with a port that is not a number is refused by the API (exit 2)", async () => {
    await using dir = tempDir("cli");
    await using _api = await serveApi(dir.path);
    const r = await nexus(["create", "ws1", "-p", "web", "--json"], dir.path);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe("INVALID_ARGUMENT");
  });

  test("version with --url or NEXUS_URL reports the daemon at that URL, not the local socket", async () => {
    await using dir = tempDir("cli");
    await using other = tempDir("cli");
    await using api = await serveApi(dir.path);
    const tcp = serveLocal((req) => api.app.fetch(req));
    try {
      const url = `http://127.0.0.1:${tcp.port}`;
      const r = await nexus(["--url", url, "version", "--json"], other.path);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).daemon).toMatchObject({ version: buildInfo().version, pid: process.pid });
      const e = await nexus(["version"], other.path, { env: { NEXUS_URL: url } });
      expect(e.stdout).toContain(`pid ${process.pid}`);
      expectNoDaemon(other.path);
    } finally {
      await tcp.stop();
    }
  });
});

// The one test here that runs a daemon: from source, in the foreground, with no engine, stopped at the end.
describe("a foreground daemon", () => {
  test("daemon --daemon-token: TCP clients must present that token, not ~/.nexus/token", async () => {
    await using dir = tempDir("cli");
    const home = join(dir.path, "nexus");
    const probe = serveLocal(() => new Response());
    const port = probe.port;
    await probe.stop();
    const given = "given-daemon-token-0123456789abcdefghijkl";
    const child = spawn(BUN, [join(ROOT, "src/main.ts"), "daemon", "--port", String(port), "--daemon-token", given], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(dir.path, "home"), NEXUS_HOME: home, DOCKER_HOST: NO_ENGINE },
      stdio: "ignore",
    });
    try {
      await until("the daemon starts", () => existsSync(join(home, "daemon.pid")));
      const get = (token: string) => fetch(`http://127.0.0.1:${port}/api/v1/version`, { headers: { authorization: `Bearer ${token}` } });
      expect((await get(given)).status).toBe(200);
      expect((await get("x".repeat(43))).status).toBe(401);
      expect(existsSync(join(home, "token"))).toBe(false); // the given token is not written anywhere
      const jwt = (await (await fetch(`http://127.0.0.1:${port}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${given}` }, body: "{}" })).json()) as { token: string };
      expect((await get(jwt.token)).status).toBe(200);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
