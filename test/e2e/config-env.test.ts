// The compiled daemon takes its configuration from defaults ← config.yaml ← NEXUS_* ← flags, as
// `nexus config` shows it. No engine is needed: the engine address does not exist.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePortPair } from "../helpers/daemon.ts";
import { exitWithin, nexusRunner } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const NO_ENGINE = "unix:///nonexistent/nexus-config-env-e2e.sock";

async function answers(url: string): Promise<number | undefined> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return undefined;
  }
}

describe("the daemon's effective configuration", () => {
  test("daemon.host from NEXUS_DAEMON_HOST over the file; --port over NEXUS_DAEMON_PORT and the file", async () => {
    await using dir = tempDir("config-env-e2e");
    const home = join(dir.path, "nexus");
    mkdirSync(home, { recursive: true });
    const [port, other] = [await freePortPair(), await freePortPair()];
    writeFileSync(join(home, "config.yaml"), `daemon:\n  host: 127.0.0.3\n  port: ${other}\n`);
    // 127.0.0.2 is loopback on Linux but not where a daemon listens unless the config says so.
    const nexus = nexusRunner({ home, env: { HOME: join(dir.path, "home"), DOCKER_HOST: NO_ENGINE, NEXUS_DAEMON_HOST: "127.0.0.2", NEXUS_DAEMON_PORT: String(other) } });
    const shown = nexus(["config", "--json"]);
    expect(JSON.parse(shown.stdout).daemon).toEqual({ host: "127.0.0.2", port: other, allow_privileged_ports: false });

    const daemon = nexus.start(["daemon", "--port", String(port)]);
    const child = daemon.child;
    try {
      await until("the daemon's pid file", () => existsSync(join(home, "daemon.pid")) || child.exitCode !== null, Boolean, { timeoutMs: 30_000, intervalMs: 50 });
      if (child.exitCode !== null) throw new Error(`daemon did not start: ${daemon.out.stderr}`);
      expect(await answers(`http://127.0.0.2:${port}/api/v1/health`)).toBe(401); // there, and asks for the token
      expect(await answers(`http://127.0.0.1:${port}/api/v1/health`)).toBeUndefined();
      expect(await answers(`http://127.0.0.2:${other}/api/v1/health`)).toBeUndefined();
    } finally {
      child.kill("SIGTERM");
      await exitWithin(daemon, 10_000).catch(() => {}); // SIGKILLed when it does not end
    }
  });
});
