// The compiled daemon takes its configuration from defaults ← config.yaml ← NEXUS_* ← flags, as
// `nexus config` shows it. No engine is needed: the engine address does not exist.
import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, freePortPair } from "../helpers/daemon.ts";
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
    const env = { ...process.env, NEXUS_HOME: home, HOME: join(dir.path, "home"), DOCKER_HOST: NO_ENGINE, NEXUS_DAEMON_HOST: "127.0.0.2", NEXUS_DAEMON_PORT: String(other) };
    const shown = spawnSync(BIN, ["config", "--json"], { env, encoding: "utf8" });
    expect(JSON.parse(shown.stdout).daemon).toEqual({ host: "127.0.0.2", port: other, allow_privileged_ports: false });

    const child = spawn(BIN, ["daemon", "--port", String(port)], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (b) => (stderr += b));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      const deadline = Date.now() + 30_000;
      while (!existsSync(join(home, "daemon.pid"))) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await answers(`http://127.0.0.2:${port}/api/v1/health`)).toBe(401); // there, and asks for the token
      expect(await answers(`http://127.0.0.1:${port}/api/v1/health`)).toBeUndefined();
      expect(await answers(`http://127.0.0.2:${other}/api/v1/health`)).toBeUndefined();
    } finally {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
