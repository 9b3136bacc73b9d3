// The daemon the CLI starts, and one run by hand in the foreground, runs with the runtime's settings
// for it (under Bun: no JIT tier, whose code kept memory after workspaces were destroyed), read from the
// live process; a user's own value wins.
import { afterEach, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { E2E_RUNTIME, NEXUS_BIN } from "../helpers/bin.ts";
import { until } from "../helpers/wait.ts";

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) {
    spawnSync(NEXUS_BIN, ["daemon", "stop"], { env: { ...process.env, NEXUS_HOME: h }, stdio: "ignore", timeout: 60_000 });
    rmSync(h, { recursive: true, force: true });
  }
});

/** Starts the daemon through the CLI (`nexus list`) and returns its environment as /proc shows it. */
function daemonEnviron(extra: Record<string, string>): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), "nexus-daemon-env-"));
  homes.push(home);
  const r = spawnSync(NEXUS_BIN, ["list"], { env: { ...process.env, ...extra, NEXUS_HOME: home }, encoding: "utf8", timeout: 60_000 });
  expect(r.status).toBe(0);
  return environOf(readFileSync(join(home, "daemon.pid"), "utf8").trim());
}

/** A process's environment as /proc shows it: what its program started with. */
function environOf(pid: string | number): Record<string, string> {
  const pairs = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
}

/**
 * Runs `nexus daemon` in the foreground, as a person would; once it answers, returns its pid file's
 * pid, the pid it was started as, its environment, and its exit code after SIGTERM.
 */
async function foregroundDaemon(extra: Record<string, string>): Promise<{ pid: string; spawned: number; env: Record<string, string>; code: number | null }> {
  const home = mkdtempSync(join(tmpdir(), "nexus-daemon-fg-"));
  homes.push(home);
  const env = { ...process.env, ...extra, NEXUS_HOME: home };
  const child = spawn(NEXUS_BIN, ["daemon"], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await until("the foreground daemon answering", () => existsSync(join(home, "daemon.pid")) && spawnSync(NEXUS_BIN, ["version"], { env, encoding: "utf8", timeout: 30_000 }).stdout.includes("pid "), Boolean, { timeoutMs: 60_000, detail: () => stderr });
  const pid = readFileSync(join(home, "daemon.pid"), "utf8").trim();
  const environ = environOf(pid);
  child.kill("SIGTERM");
  return { pid, spawned: child.pid!, env: environ, code: await exited };
}

describe.skipIf(E2E_RUNTIME !== "bun" || process.platform !== "linux")("the daemon started by the CLI", () => {
  test("runs without the baseline and DFG JITs", () => {
    const env = daemonEnviron({});
    expect(env.BUN_JSC_useDFGJIT).toBe("0");
    expect(env.BUN_JSC_useBaselineJIT).toBe("0");
  }, 90_000);

  test("keeps the user's own BUN_JSC_useDFGJIT", () => {
    const env = daemonEnviron({ BUN_JSC_useDFGJIT: "1" });
    expect(env.BUN_JSC_useDFGJIT).toBe("1");
  }, 90_000);
});

describe.skipIf(E2E_RUNTIME !== "bun" || process.platform !== "linux")("the daemon run by hand in the foreground", () => {
  test("runs without the baseline and DFG JITs, as the same process (pid) it was started as, and stops on SIGTERM", async () => {
    const d = await foregroundDaemon({});
    expect(d.env.BUN_JSC_useDFGJIT).toBe("0");
    expect(d.env.BUN_JSC_useBaselineJIT).toBe("0");
    expect(Number(d.pid)).toBe(d.spawned);
    expect(d.code).toBe(0);
  }, 120_000);

  test("keeps the user's own BUN_JSC_useDFGJIT", async () => {
    const d = await foregroundDaemon({ BUN_JSC_useDFGJIT: "1" });
    expect(d.env.BUN_JSC_useDFGJIT).toBe("1");
    expect(Number(d.pid)).toBe(d.spawned);
  }, 120_000);
});
