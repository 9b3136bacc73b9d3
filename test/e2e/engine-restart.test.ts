// Services after an engine restart (issue 10): the engine starts the workspace's container again
// (unless-stopped), and the daemon, which follows the engine's events, starts its services again.
// Runs against a private dockerd this test starts (never the machine's engine); skipped without root.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { contextHash, DEFAULT_BASE_IMAGE, DockerEngine } from "../../src/docker/engine.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const noPrivateEngine = privateDockerdUnavailable();
if (noPrivateEngine) console.warn(`engine-restart.test: skipped: ${noPrivateEngine}`);

/** The workspace image of this build, made on the machine's engine when missing (then copied into the private one). */
async function workspaceImage(): Promise<string> {
  const tag = `nexus-workspace:${contextHash(DEFAULT_BASE_IMAGE)}`;
  if (spawnSync("docker", ["image", "inspect", tag], { stdio: "ignore" }).status === 0) return tag;
  return await new DockerEngine({ env: process.env }).ensureWorkspaceImage(DEFAULT_BASE_IMAGE, () => {});
}

describe("services after an engine restart", () => {
  test.skipIf(noPrivateEngine !== undefined)(
    "the container comes back and the daemon starts its services again, without 'nexus restart'",
    async () => {
      await using engine = await PrivateDockerd.start({ images: [DEFAULT_BASE_IMAGE, await workspaceImage()] });
      await using root = tempDir("engine-restart");
      const home = join(root.path, "nexus");
      const repo = makeRepo(join(root.path, "repo"), {
        ".nexus/workspace.yaml": "services:\n  web:\n    command: python3 -m http.server 8000 --bind 127.0.0.1\n    port: 8000\n    health: { tcp: 8000, interval: 1s }\n",
      });
      // The CLI and the daemon it starts use the private engine.
      const nexus = nexusRunner({ home, cwd: repo, env: engine.env({}) });
      const web = () => {
        const r = nexus(["services", "svc", "--json"]);
        if (r.code !== 0) return undefined;
        return (JSON.parse(r.stdout) as { services: Array<{ name: string; status: string; pid: number | null }> }).services.find((s) => s.name === "web");
      };
      try {
        const made = nexus(["create", "svc"]);
        expect(made.stderr + made.stdout).toContain("Created workspace svc");
        const before = await until("web is healthy", web, (w) => w?.status === "healthy", { timeoutMs: 120_000, intervalMs: 500 });

        await engine.restart();
        // The engine starts the container again (unless-stopped); the daemon, not a restart by hand, starts web again.
        const after = await until("web is healthy again", web, (w) => w?.status === "healthy" && w.pid !== before?.pid, { timeoutMs: 180_000, intervalMs: 500 });
        expect(after?.status).toBe("healthy");
        expect(nexus(["exec", "svc", "--", "sh", "-c", "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8000/').status)\""]).stdout.trim()).toBe("200");
      } finally {
        nexus(["destroy", "svc", "--force"]);
        nexus(["daemon", "stop"]);
      }
    },
    900_000,
  );
});
