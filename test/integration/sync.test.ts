// The unison provider against a real container: a workspace made by the real service, its sshd
// published on 127.0.0.1, and a tree in its home volume (a named volume, not a bind mount) kept in
// step with a folder on this machine — as a remote engine's /workspace is.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/core/log.ts";
import { sshAlias } from "../../src/core/workspace/names.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { syncConfigFrom } from "../../src/sync/config.ts";
import { SyncManager } from "../../src/sync/manager.ts";
import type { AttachOptions } from "../../src/sync/types.ts";
import { engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("sync");
const home = join(root.path, "nexus");
const paths = nexusPaths({ NEXUS_HOME: home });
const repo = makeRepo(join(root.path, "repo"));
const BUN = join(import.meta.dir, "../../node_modules/.bin/bun");
let s: Services;
let manager: SyncManager;
const children: ChildProcess[] = [];

/** Waits for `fn` to hold (a probe that throws is one more "not yet"): the machine is loaded; nothing here waits a fixed time. */
const waitFor = <T>(fn: () => T | Promise<T>, what: string, ms = 30_000): Promise<T> => until(what, fn, Boolean, { timeoutMs: ms, intervalMs: 50, retryErrors: true });

async function inside(script: string): Promise<string> {
  const r = await s.workspaces.execCollect("syncws", { command: "sh", args: ["-c", script] });
  if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}
const readInside = (path: string) => inside(`cat '${path}' 2>/dev/null || true`);
const readHost = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

function options(hostPath: string, remotePath: string, config: unknown = {}): AttachOptions {
  const r = s.workspaces.resolve("syncws");
  return {
    hostPath,
    remotePath,
    endpoint: { host: "127.0.0.1", port: r.ports.ssh, user: "nexus", identityFile: paths.clientKey, knownHosts: paths.knownHosts, hostKeyAlias: sshAlias(r.name) },
    config: syncConfigFrom(config),
  };
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  s = buildServices({ paths, config: parseConfig("", join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "syncws", path: repo });
  manager = new SyncManager({ dir: join(home, "sync"), env: process.env });
}, 900_000);

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await manager?.shutdown();
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("unison provider, two ways", () => {
  const host = join(root.path, "tree");
  const remote = "/home/nexus/tree";
  let id: string;

  test("attach: the first pass carries both sides' files over, and status says unison", async () => {
    mkdirSync(join(host, "src"), { recursive: true });
    writeFileSync(join(host, "src/a.txt"), "from host\n");
    writeFileSync(join(host, "debug.log"), "excluded\n");
    await inside(`mkdir -p ${remote} && echo 'from inside' > ${remote}/b.txt`);
    id = s.workspaces.resolve("syncws").id;
    const view = await manager.attach(id, options(host, remote));
    expect(view).toMatchObject({ workspaceId: id, provider: "unison", status: "syncing", error: null });
    expect(view.lastSyncAt).not.toBeNull();
    expect(await readInside(`${remote}/src/a.txt`)).toBe("from host\n");
    expect(readHost(join(host, "b.txt"))).toBe("from inside\n");
    // sync.exclude's default leaves *.log out.
    expect(await inside(`test -e ${remote}/debug.log && echo yes || echo no`)).toBe("no\n");
    expect(manager.status(id).stats.filesTotal).toBe(2);
  }, 180_000);

  test("an edit on the host is visible inside, without a flush", async () => {
    writeFileSync(join(host, "src/a.txt"), "edited on host\n");
    await waitFor(async () => (await readInside(`${remote}/src/a.txt`)) === "edited on host\n", "the host edit inside");
  }, 60_000);

  test("an edit inside reaches the host, without a flush", async () => {
    await inside(`echo 'edited inside' > ${remote}/b.txt && mkdir -p ${remote}/new && echo n > ${remote}/new/n.txt`);
    await waitFor(() => readHost(join(host, "b.txt")) === "edited inside\n" && readHost(join(host, "new/n.txt")) === "n\n", "the inside edit on the host");
  }, 60_000);

  test("flush returns once both sides agree", async () => {
    for (let i = 0; i < 20; i++) writeFileSync(join(host, `f${i}.txt`), `${i}\n`);
    const r = await manager.flush(id);
    expect(r.flushed).toBe(true);
    expect(await inside(`cat ${remote}/f0.txt ${remote}/f19.txt`)).toBe("0\n19\n");
  }, 60_000);

  test("pause stops propagation (flush answers SYNC_PAUSED); resume catches up", async () => {
    expect((await manager.pause(id)).status).toBe("paused");
    writeFileSync(join(host, "paused.txt"), "written while paused\n");
    await inside(`echo inside-paused > ${remote}/paused-in.txt`);
    const err = await manager.flush(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("SYNC_PAUSED");
    // Forty debounce windows: a paused session carries nothing over.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await readInside(`${remote}/paused.txt`)).toBe("");
    expect(existsSync(join(host, "paused-in.txt"))).toBe(false);
    expect((await manager.resume(id)).status).toBe("syncing");
    expect(await readInside(`${remote}/paused.txt`)).toBe("written while paused\n");
    expect(readHost(join(host, "paused-in.txt"))).toBe("inside-paused\n");
  }, 60_000);

  test("a conflict keeps both versions (host wins in place, the other beside it), is listed, and resolves", async () => {
    await manager.pause(id);
    writeFileSync(join(host, "src/c.ts"), "base\n");
    await manager.resume(id);
    await manager.flush(id);
    await manager.pause(id);
    writeFileSync(join(host, "src/c.ts"), "host version\n");
    await inside(`echo 'workspace version' > ${remote}/src/c.ts`);
    await manager.resume(id);
    await manager.flush(id);
    const [c] = manager.conflicts(id);
    expect(c).toMatchObject({ path: "src/c.ts", type: "edit-edit", alphaState: "modified", betaState: "modified", winner: "host" });
    expect(c!.copyPath).toMatch(/^src\/c \(conflict_on_.*\)\.ts$/);
    expect(readHost(join(host, "src/c.ts"))).toBe("host version\n");
    expect(readHost(join(host, c!.copyPath!))).toBe("workspace version\n");
    expect(await readInside(`${remote}/src/c.ts`)).toBe("host version\n");
    expect(await readInside(`${remote}/${c!.copyPath!}`)).toBe("workspace version\n");
    expect(manager.status(id).stats.conflicts).toBe(1);

    await manager.resolve(id, "src/c.ts", "workspace");
    await manager.flush(id);
    expect(manager.conflicts(id)).toEqual([]);
    expect(readHost(join(host, "src/c.ts"))).toBe("workspace version\n");
    expect(await readInside(`${remote}/src/c.ts`)).toBe("workspace version\n");
    expect(readdirSync(join(host, "src")).filter((n) => n.includes("conflict_on"))).toEqual([]);
    expect(await inside(`ls ${remote}/src | grep -c conflict_on || true`)).toBe("0\n");
    const missing = await manager.resolve(id, "src/none.ts", "host").catch((e: unknown) => e);
    expect((missing as NexusError).code).toBe("NOT_FOUND");
  }, 120_000);
});

describe("conflict.strategy manual", () => {
  test("both versions stay in place, flush answers SYNC_CONFLICT, resolve --winner host settles it", async () => {
    const host = join(root.path, "manual");
    const remote = "/home/nexus/manual";
    const id = "manual-ws";
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, "m.txt"), "base\n");
    const m = new SyncManager({ dir: join(home, "sync-manual"), env: process.env });
    try {
      await m.attach(id, options(host, remote, { conflict: { strategy: "manual" } }));
      await m.pause(id);
      writeFileSync(join(host, "m.txt"), "host\n");
      await inside(`echo inside > ${remote}/m.txt`);
      await m.resume(id);
      const err = await m.flush(id).catch((e: unknown) => e);
      expect((err as NexusError).code).toBe("SYNC_CONFLICT");
      expect(m.conflicts(id)).toMatchObject([{ path: "m.txt", type: "edit-edit", winner: null, copyPath: null }]);
      expect(readHost(join(host, "m.txt"))).toBe("host\n");
      expect(await readInside(`${remote}/m.txt`)).toBe("inside\n");
      await m.resolve(id, "m.txt", "host");
      await m.flush(id);
      expect(m.conflicts(id)).toEqual([]);
      expect(await readInside(`${remote}/m.txt`)).toBe("host\n");
    } finally {
      await m.shutdown();
    }
  }, 120_000);
});

describe("a manager killed with SIGKILL", () => {
  test("restarted, it reconciles: edits made on both sides while it was gone all arrive, none lost", async () => {
    const host = join(root.path, "killed");
    const remote = "/home/nexus/killed";
    const dir = join(home, "sync-killed");
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, "before.txt"), "before\n");
    const start = (input: unknown) => {
      const child = spawn(BUN, [join(import.meta.dir, "../helpers/sync-child.ts"), JSON.stringify(input)], { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      return new Promise<ChildProcess>((resolve, reject) => {
        child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve(child));
        child.on("exit", (code) => reject(new Error(`sync child exited ${code}`)));
      });
    };
    const first = await start({ dir, attach: { id: "killed-ws", options: options(host, remote) } });
    expect(await readInside(`${remote}/before.txt`)).toBe("before\n");
    first.kill("SIGKILL");
    await waitFor(() => first.exitCode !== null || first.signalCode !== null, "the child to die");
    // While nobody syncs: edits on both sides, and a deletion.
    writeFileSync(join(host, "while-host.txt"), "host, while dead\n");
    await inside(`echo 'inside, while dead' > ${remote}/while-inside.txt && rm ${remote}/before.txt`);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(join(host, "while-inside.txt"))).toBe(false);
    const second = await start({ dir });
    expect(await readInside(`${remote}/while-host.txt`)).toBe("host, while dead\n");
    expect(readHost(join(host, "while-inside.txt"))).toBe("inside, while dead\n");
    expect(existsSync(join(host, "before.txt"))).toBe(false);
    // And it watches again.
    writeFileSync(join(host, "after.txt"), "after restart\n");
    await waitFor(async () => (await readInside(`${remote}/after.txt`)) === "after restart\n", "an edit after the restart");
    second.kill("SIGKILL");
  }, 180_000);
});

describe("no provider", () => {
  test("attach answers SYNC_PROVIDER_NOT_FOUND with a suggestion, and leaves nothing behind", async () => {
    const dir = join(root.path, "no-provider");
    const m = new SyncManager({ dir, env: { PATH: "/nonexistent" } });
    const err = await m.attach("none-ws", options(join(root.path, "np-tree"), "/home/nexus/np")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("SYNC_PROVIDER_NOT_FOUND");
    expect((err as NexusError).suggestion).toContain("unison");
    expect(existsSync(join(dir, "none-ws"))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});
