// Deno compatibility smoke test: the same source (src/main.ts) run under Deno, as CLI and as daemon.
// Runs with `bun test test/deno`; needs node_modules/.bin/deno (the `deno` devDependency), no Docker.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir, type TempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const ROOT = join(import.meta.dir, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const MAIN = "src/main.ts";
/** Per test: a first Deno run in a fresh HOME (the preload's) transpiles the whole daemon, which can take seconds. */
const SLOW = 90_000;

/** The environment of a Deno child: this test's (HOME already isolated by the preload), no colours, the given NEXUS_HOME. */
function denoEnv(nexusHome: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.NEXUS_URL;
  delete env.NEXUS_TOKEN;
  return { ...env, NEXUS_HOME: nexusHome, NO_COLOR: "1" };
}

interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** `deno run -A src/main.ts <args>` from the project folder, killed if it outlives `timeoutMs`. */
async function runDeno(args: string[], nexusHome: string, timeoutMs = 60_000): Promise<RunResult> {
  const proc = Bun.spawn([DENO, "run", "-A", MAIN, ...args], {
    cwd: ROOT,
    env: denoEnv(nexusHome),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

function describeRun(r: RunResult): string {
  return `exit ${r.exitCode}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Waits until `cond` holds; past the deadline, fails with `diagnostics` (a log). */
const waitFor = (what: string, cond: () => boolean, timeoutMs: number, diagnostics: () => string) => until(what, cond, Boolean, { timeoutMs, intervalMs: 50, detail: diagnostics });

/** Kills `pid` if it still runs (a daemon left behind by a failed test). */
function killIfAlive(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("the deno binary is there", () => {
  expect(existsSync(DENO)).toBe(true);
});

describe("text imports under Deno", () => {
  // The supervisor is a .py file imported as text (src/core/supervisor.ts): Deno must read it from source as Bun does.
  test("the supervisor script arrives whole", async () => {
    await using home = tempDir("deno-text");
    const proc = Bun.spawn([DENO, "eval", `import { SUPERVISOR_PY } from "./src/core/supervisor.ts"; console.log(JSON.stringify(SUPERVISOR_PY));`], {
      cwd: ROOT,
      env: denoEnv(home.path),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(JSON.parse(stdout)).toBe(readFileSync(join(ROOT, "src/core/nexus-supervise.py"), "utf8"));
  }, SLOW);
});

describe("the CLI under Deno", () => {
  let home: TempDir;
  beforeAll(() => {
    home = tempDir("deno-cli");
  });
  afterAll(async () => {
    const pidFile = join(home.path, "daemon.pid");
    if (existsSync(pidFile)) killIfAlive(Number(readFileSync(pidFile, "utf8").trim()));
    await home[Symbol.asyncDispose]();
  });

  test("`version` prints the CLI's version and that no daemon runs, and starts none", async () => {
    const r = await runDeno(["version"], home.path);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/^nexus \S+\n/);
    expect(r.stdout).toMatch(/^ {2}commit {4}\S+$/m);
    expect(r.stdout).toContain(`platform  ${process.platform}-${process.arch}`);
    expect(r.stdout).toMatch(/^ {2}daemon {4}not running$/m);
    expect(existsSync(join(home.path, "daemon.sock"))).toBe(false);
  }, SLOW);

  test("`--help` lists the commands", async () => {
    const r = await runDeno(["--help"], home.path);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(r.stdout).toContain("Usage:");
    expect(r.stdout).toContain("$ nexus <command> [options]");
    for (const cmd of ["create [name]", "list", "status [workspace]", "exec [workspace]", "destroy [workspace]", "daemon [action]", "version"]) {
      expect(r.stdout).toContain(`  ${cmd}`);
    }
    expect(existsSync(join(home.path, "daemon.sock"))).toBe(false);
  }, SLOW);

  test("`daemon start` starts a Deno daemon in the background, `daemon stop` stops it", async () => {
    const start = await runDeno(["daemon", "start", "--json"], home.path);
    expect(start.exitCode, describeRun(start)).toBe(0);
    const started = JSON.parse(start.stdout) as { running: boolean; pid: number; version: string };
    expect(started.running).toBe(true);
    expect(isAlive(started.pid)).toBe(true);
    // The background daemon is this same source under Deno (selfCommand of src/runtime/deno.ts).
    const log = readFileSync(join(home.path, "daemon.log"), "utf8");
    expect(log).toContain(`(deno) listening on ${join(home.path, "daemon.sock")}, pid ${started.pid}`);

    const stop = await runDeno(["daemon", "stop"], home.path);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    expect(stop.stdout).toContain("Daemon stopped");
    expect(existsSync(join(home.path, "daemon.sock"))).toBe(false);
    await waitFor("the daemon process to end", () => !isAlive(started.pid), 10_000, () => readFileSync(join(home.path, "daemon.log"), "utf8"));
  }, SLOW);
});

describe("the daemon under Deno", () => {
  let home: TempDir;
  let sock: string;
  let daemon: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let daemonOutput: Promise<string> | undefined;
  const log = () => (existsSync(join(home.path, "daemon.log")) ? readFileSync(join(home.path, "daemon.log"), "utf8") : "(no daemon.log)");

  beforeAll(async () => {
    home = tempDir("deno-daemon");
    sock = join(home.path, "daemon.sock");
    daemon = Bun.spawn([DENO, "run", "-A", MAIN, "daemon"], {
      cwd: ROOT,
      env: denoEnv(home.path),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const d = daemon;
    daemonOutput = Promise.all([new Response(d.stdout).text(), new Response(d.stderr).text()]).then(([o, e]) => `--- stdout\n${o}\n--- stderr\n${e}`);
    await waitFor("daemon.sock", () => existsSync(sock) || d.exitCode !== null, 120_000, log);
    if (d.exitCode !== null) throw new Error(`the Deno daemon exited with ${d.exitCode} before its socket appeared\n${await daemonOutput}\n--- daemon.log\n${log()}`);
  }, 150_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill("SIGKILL");
      await daemon.exited;
    }
    await home[Symbol.asyncDispose]();
  });

  test("GET /api/v1/version answers JSON with the version and the Deno process's pid", async () => {
    const res = await fetch("http://x/api/v1/version", { unix: sock });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type") ?? "").toContain("application/json");
    const body = (await res.json()) as { version?: unknown; commit?: unknown; pid?: unknown };
    expect(typeof body.version).toBe("string");
    expect(body.version as string).not.toBe("");
    expect(body.pid).toBe(daemon!.pid);
  });

  test("daemon.log says it runs on Deno", () => {
    expect(log()).toMatch(new RegExp(`daemon \\S+ \\(deno\\) listening on ${sock.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, pid ${daemon!.pid}\\n`));
  });

  test("the socket is a unix socket with mode 0600", () => {
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe("600");
  });

  test("the CLI under Deno reaches the Deno daemon over the unix socket", async () => {
    const api = (await (await fetch("http://x/api/v1/version", { unix: sock })).json()) as { version: string; commit: string };
    const r = await runDeno(["version"], home.path);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(r.stdout).toContain(`  daemon    ${api.version} (${api.commit}), pid ${daemon!.pid}\n`);

    // A JSON answer with a body, through the same fetchUnix; the same version, so no restart.
    const list = await runDeno(["list", "--json"], home.path);
    expect(list.exitCode, describeRun(list)).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({ workspaces: [] });
    expect(daemon!.exitCode).toBeNull();
    const again = (await (await fetch("http://x/api/v1/version", { unix: sock })).json()) as { pid: number };
    expect(again.pid).toBe(daemon!.pid);
  }, SLOW);

  test("SIGTERM stops it: exit code 0, socket and pid file removed", async () => {
    const d = daemon!;
    d.kill("SIGTERM");
    const code = await Promise.race([d.exited, Bun.sleep(60_000).then(() => "still running after 60 s")]);
    expect(code, `${await Promise.race([daemonOutput!, Bun.sleep(100).then(() => "")])}\n--- daemon.log\n${log()}`).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(join(home.path, "daemon.pid"))).toBe(false);
    expect(log()).toContain("daemon stopped");
  }, 90_000);
});
