// Checkpoints of a workspace on a remote engine, against the remote-engine double (scripts/remote-engine.sh:
// a private dockerd and a real sshd on 127.0.0.1; the workspace's /workspace is a volume there, kept in
// step with the worktree here by unison). The commit and its image stay on that engine; the home tar
// and the worktree's git objects are here. Restore puts the files back here and the first sync pass
// mirrors them there: nothing the restore removed comes back, nothing it put back goes. Nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { CHECKPOINT_LABELS } from "../../src/docker/checkpoints.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { remoteEngineUnavailable, startRemoteEngine, type RemoteEngineDouble } from "../helpers/remote-engine.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const why = remoteEngineUnavailable();
const root = tempDir("checkpoints-remote");

describe.skipIf(why !== undefined)("checkpoints of a workspace on a remote engine", () => {
  let remote: RemoteEngineDouble;
  let s: Services;
  const watching = new AbortController();
  // sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
  const repo = makeRepo(join(root.path, "repo"), { "README.md": "# remote\n", "src/app.txt": "v1\n", ".nexus/workspace.yaml": "sudo: true\n" });

  beforeAll(async () => {
    remote = startRemoteEngine();
    s = serviceGraph(join(root.path, "nexus"), remote.configYaml);
    await s.checkpoints.reconcile();
    await s.workspaces.reconcile();
    s.workspaces.watchEngine(watching.signal);
    await s.workspaces.create({ name: "far", path: repo, engine: "remote" });
  }, 900_000);

  afterAll(async () => {
    watching.abort();
    for (const name of ["far2", "far"]) if (s?.store.findByName(name)) await s.workspaces.destroy(name, { force: true }).catch(() => {});
    s?.workspaces.shutdown();
    await s?.sync.manager.shutdown();
    await remote?.[Symbol.asyncDispose]();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  const run = async (ws: string, script: string) => {
    const r = await s.workspaces.execCollect(ws, { command: "sh", args: ["-c", script] });
    if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout;
  };
  const read = (ws: string, path: string) => run(ws, `cat ${path} 2>/dev/null || echo '<absent>'`);
  const worktree = (ws: string) => s.store.findByName(ws)!.mountPath;
  const hostRead = (ws: string, rel: string) => (existsSync(join(worktree(ws), rel)) ? readFileSync(join(worktree(ws), rel), "utf8") : "<absent>\n");
  /** A file of an image on the remote engine, read by a throwaway container there. */
  const imageFile = (image: string, path: string) => {
    const r = spawnSync("docker", ["-H", `unix://${remote.socket}`, "run", "--rm", "--network", "none", "--entrypoint", "cat", image, path], { encoding: "utf8", timeout: 120_000 });
    return r.status === 0 ? r.stdout : "<absent>\n";
  };
  const tarFile = (tar: string, member: string) => {
    const r = spawnSync("tar", ["-xOf", tar, member], { encoding: "utf8" });
    return r.status === 0 ? r.stdout : "<absent>\n";
  };

  let first = "";

  test("create: the commit is on the remote engine (labelled there), home and worktree are here, the worktree after a sync flush", async () => {
    await run("far", "sudo sh -c 'echo opt-1 > /opt/marker' && echo home-1 > ~/note.txt");
    // Written inside: the checkpoint flushes the sync first, so the worktree part has them.
    await run("far", "cd /workspace && echo untracked-1 > new.txt && echo changed-1 >> src/app.txt");
    const cp = await s.checkpoints.create("far", { name: "before" });
    first = cp.id;
    const record = s.checkpoints.resolve(cp.id);
    expect(record.engine).toBe("remote");
    expect(record.container!.changes!.copy).toContain("/opt/marker");
    expect(record.container!.changes!.copy.some((p) => p.startsWith("/workspace") || p.startsWith("/home/nexus"))).toBe(false);
    const labels = JSON.parse(remote.docker("image", "inspect", record.container!.image))[0].Config.Labels as Record<string, string>;
    expect(labels[CHECKPOINT_LABELS.id]).toBe(cp.id);
    expect(labels["dev.nexus.remote.local-ports"] ?? "").toBe("");
    // Not on the local engine.
    expect(spawnSync("docker", ["image", "inspect", record.container!.image]).status).not.toBe(0);
    expect(existsSync(record.home!.file)).toBe(true);
    expect(tarFile(record.home!.file, "nexus/note.txt")).toBe("home-1\n");
    expect(git(repo, "show", `${cp.holds.worktree!.ref}:new.txt`)).toBe("untracked-1");
    expect(git(repo, "show", `${cp.holds.worktree!.ref}:src/app.txt`)).toBe("v1\nchanged-1");
    expect(Object.keys(record.phasesMs!)).toContain("sync-flush");
    expect(s.checkpoints.list("far").map((c) => c.id)).toEqual([cp.id]);
  }, 600_000);

  test("restore brings back /opt, ~ and the worktree there and here; what came after does not come back through sync; the automatic checkpoint holds it", async () => {
    await run("far", "sudo sh -c 'echo opt-2 > /opt/marker' && echo home-2 > ~/note.txt");
    await run("far", "cd /workspace && rm new.txt && echo untracked-2 > after.txt && echo changed-2 >> src/app.txt");
    const oldContainer = s.store.findByName("far")!.containerId;
    const result = await s.checkpoints.restore("before", "far");
    expect(result.status).toBe("running");
    expect(result.safetyCheckpoint.auto).toBe(true);
    expect(s.store.findByName("far")!.containerId).not.toBe(oldContainer);

    expect(await read("far", "/opt/marker")).toBe("opt-1\n");
    expect(await read("far", "~/note.txt")).toBe("home-1\n");
    for (const side of [(p: string) => read("far", `/workspace/${p}`), async (p: string) => hostRead("far", p)]) {
      expect(await side("new.txt")).toBe("untracked-1\n");
      expect(await side("src/app.txt")).toBe("v1\nchanged-1\n");
      expect(await side("after.txt")).toBe("<absent>\n");
    }
    // Sync keeps going both ways, and a full pass brings nothing old back.
    await run("far", "echo later > /workspace/later.txt");
    await s.sync.flush("far");
    expect(hostRead("far", "later.txt")).toBe("later\n");
    expect(hostRead("far", "after.txt")).toBe("<absent>\n");
    expect(await read("far", "/workspace/after.txt")).toBe("<absent>\n");
    expect(await read("far", "/workspace/new.txt")).toBe("untracked-1\n");
    expect(s.sync.conflicts("far").conflicts).toEqual([]);

    // What the restore replaced is in the automatic checkpoint: rootfs on the remote engine, home and worktree here.
    const safety = s.checkpoints.resolve(result.safetyCheckpoint.id);
    expect(safety.engine).toBe("remote");
    expect(imageFile(safety.container!.image, "/opt/marker")).toBe("opt-2\n");
    expect(tarFile(safety.home!.file, "nexus/note.txt")).toBe("home-2\n");
    expect(git(repo, "show", `${safety.worktree!.ref}:after.txt`)).toBe("untracked-2");
    expect(git(repo, "show", `${safety.worktree!.ref}:src/app.txt`)).toBe("v1\nchanged-1\nchanged-2");
    expect(spawnSync("git", ["-C", repo, "cat-file", "-e", `${safety.worktree!.ref}:new.txt`]).status).not.toBe(0);
  }, 900_000);

  test("create --from-checkpoint makes the new workspace on the checkpoint's engine, with its files; another engine is refused", async () => {
    const wrong = await expectError(s.workspaces.create({ name: "far3", fromCheckpoint: first, engine: "local" }), "INVALID_ARGUMENT");
    expect(wrong.message).toContain("engine 'remote'");
    expect(s.store.findByName("far3")).toBeUndefined();
    await s.workspaces.create({ name: "far2", fromCheckpoint: first });
    expect(s.store.findByName("far2")!.engine).toBe("remote");
    expect(await read("far2", "/opt/marker")).toBe("opt-1\n");
    expect(await read("far2", "~/note.txt")).toBe("home-1\n");
    expect(await read("far2", "/workspace/new.txt")).toBe("untracked-1\n");
    expect(await read("far2", "/workspace/src/app.txt")).toBe("v1\nchanged-1\n");
    expect(hostRead("far2", "new.txt")).toBe("untracked-1\n");
  }, 900_000);

  test("delete frees the image on the remote engine, the ref and the tar", async () => {
    const record = s.checkpoints.resolve(first);
    await s.checkpoints.delete(first, "far");
    expect(remote.docker("images", "-q", record.container!.image)).toBe("");
    expect(existsSync(record.home!.file)).toBe(false);
    expect(spawnSync("git", ["-C", repo, "rev-parse", "--verify", "-q", record.worktree!.ref]).status).not.toBe(0);
    await expectError(s.checkpoints.restore(first, "far"), "NOT_FOUND");
  }, 300_000);
});
