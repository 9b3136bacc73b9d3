// The security suite's attacks run against the real engine: a daemon's services in-process (the same
// graph the daemon builds), a temporary NEXUS_HOME and repository, and workspaces made for the attack.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { NexusError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/log.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { tempDir, type TempDir } from "../helpers/fixtures.ts";
import { expect } from "bun:test";
import { createApp } from "../../src/api/http/app.ts";
import { buildInfo } from "../../src/version.ts";
import { appRequester, type AppRequest } from "../helpers/http.ts";

export interface Harness {
  root: TempDir;
  /** The REST app over these services, called in-process. */
  req: AppRequest;
  home: string;
  s: Services;
  /** Runs a shell line in the workspace as its user; answers exit code and output. */
  sh(ws: string, line: string): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /**
   * Runs a shell line in the workspace's container as its root (`docker exec -u 0`): the strongest
   * attacker inside, whatever sudo and the workspace user may do there.
   */
  rootSh(ws: string, line: string): { exitCode: number; stdout: string; stderr: string };
  close(): Promise<void>;
}

export async function harness(prefix: string, configText = ""): Promise<Harness> {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  const root = tempDir(prefix);
  const home = join(root.path, "nexus");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const s = buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig(configText, join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
  await s.workspaces.reconcile();
  const app = createApp({ workspaces: s.workspaces, forwards: s.forwards, build: buildInfo(), daemon: { shutdown() {}, pid: process.pid, startedAt: new Date().toISOString() }, log: silentLogger });
  return {
    root,
    req: appRequester(app),
    home,
    s,
    sh: (ws, line) => s.workspaces.execCollect(ws, { command: "bash", args: ["-c", line] }),
    rootSh: (ws, line) => {
      const id = s.workspaces.resolve(ws).containerId!;
      const r = spawnSync("docker", ["exec", "-u", "0", "-w", "/workspace", id, "bash", "-c", line], { encoding: "utf8" });
      return { exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    close: async () => {
      s.workspaces.shutdown();
      removeLeftovers(home);
      await root[Symbol.asyncDispose]();
    },
  };
}

/** The NexusError `p` rejects with, failing the test when it resolves or throws something else. */
export async function rejection(p: Promise<unknown> | (() => unknown), code?: string): Promise<NexusError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    if (code) expect((err as NexusError).code).toBe(code as NexusError["code"]);
    return err as NexusError;
  }
  throw new Error(`expected ${code ?? "an error"}, but it succeeded`);
}
