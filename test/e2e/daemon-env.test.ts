// The daemon the CLI starts runs with the runtime's settings for it (under Bun: no DFG JIT, which kept
// memory after workspaces were destroyed), read from the live process; a user's own value wins.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { E2E_RUNTIME, NEXUS_BIN } from "../helpers/bin.ts";

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
  const pid = readFileSync(join(home, "daemon.pid"), "utf8").trim();
  const pairs = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
}

describe.skipIf(E2E_RUNTIME !== "bun" || process.platform !== "linux")("the daemon started by the CLI", () => {
  test("runs without the DFG JIT", () => {
    const env = daemonEnviron({});
    expect(env.BUN_JSC_useDFGJIT).toBe("0");
  }, 90_000);

  test("keeps the user's own BUN_JSC_useDFGJIT", () => {
    const env = daemonEnviron({ BUN_JSC_useDFGJIT: "1" });
    expect(env.BUN_JSC_useDFGJIT).toBe("1");
  }, 90_000);
});
