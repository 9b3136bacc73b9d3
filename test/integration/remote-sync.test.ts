// A workspace made with `create --engine` on the remote-engine double (scripts/remote-engine.sh: a
// private dockerd and a real sshd on 127.0.0.1): its /workspace is a volume there, kept in step with
// the worktree here by the sync service (unison). Nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { remoteEngineUnavailable, startRemoteEngine, type RemoteEngineDouble } from "../helpers/remote-engine.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const why = remoteEngineUnavailable();
const root = tempDir("remote-sync");

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(ok).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await Bun.sleep(50);
  }
}

describe.skipIf(why !== undefined)("file sync of a workspace on a remote engine", () => {
  let remote: RemoteEngineDouble;
  let s: Services;
  let home: string;
  const repo = makeRepo(join(root.path, "repo"), { "README.md": "# remote\n", "src/app.ts": "export {};\n" });

  beforeAll(async () => {
    remote = startRemoteEngine();
    home = join(root.path, "nexus");
    s = serviceGraph(home, remote.configYaml);
    await s.workspaces.reconcile();
  }, 600_000);

  afterAll(async () => {
    s?.workspaces.shutdown();
    await s?.sync.manager.shutdown();
    await remote?.[Symbol.asyncDispose]();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  const inside = async (script: string) => (await s.workspaces.execCollect("far", { command: "sh", args: ["-c", script] })).stdout;

  test("create --engine: the worktree's files are inside after create, and sync status says unison", async () => {
    await s.workspaces.create({ name: "far", path: repo, engine: "remote" });
    expect(await inside("cat /workspace/src/app.ts")).toBe("export {};\n");
    const st = s.sync.status("far");
    expect(st).toMatchObject({ provider: "unison", status: "syncing", error: null });
    expect((await s.workspaces.status("far")).sync).toMatchObject({ provider: "unison", status: "syncing" });
  }, 900_000);

  test("an edit here is visible inside, an edit inside reaches the worktree", async () => {
    const worktree = s.workspaces.resolve("far").mountPath;
    writeFileSync(join(worktree, "src/app.ts"), "export const here = 1;\n");
    await until("the host edit inside", async () => (await inside("cat /workspace/src/app.ts")) === "export const here = 1;\n");
    await inside("echo 'made inside' > /workspace/inside.txt");
    await until("the inside edit here", () => existsSync(join(worktree, "inside.txt")) && readFileSync(join(worktree, "inside.txt"), "utf8") === "made inside\n");
    expect((await s.sync.flush("far")).flushed).toBe(true);
  }, 300_000);

  test("stopped, its sync is not running (flush INVALID_STATE); started again, it catches up", async () => {
    const worktree = s.workspaces.resolve("far").mountPath;
    await s.workspaces.stop("far");
    expect(s.sync.status("far")).toMatchObject({ provider: "unison", status: "paused" });
    await expectError(s.sync.flush("far"), "INVALID_STATE");
    writeFileSync(join(worktree, "while-stopped.txt"), "written while stopped\n");
    await s.workspaces.start("far");
    expect(s.sync.status("far").status).toBe("syncing");
    expect(await inside("cat /workspace/while-stopped.txt")).toBe("written while stopped\n");
  }, 600_000);

  test("destroy forgets its sync session", async () => {
    const id = s.workspaces.resolve("far").id;
    await s.workspaces.destroy("far", { force: true });
    expect(s.sync.manager.has(id)).toBe(false);
    expect(existsSync(join(home, "sync", id))).toBe(false);
  }, 600_000);
});
