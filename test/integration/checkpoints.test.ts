// Checkpoints against the real engine and a real sshd: container filesystem, home and worktree come
// back after restore; the automatic checkpoint holds what restore replaced; a new workspace can start
// from a checkpoint; the commit base stays the original image across generations.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { CreateCheckpointInput } from "../../src/core/checkpoints/inputs.ts";
import { parseInput } from "../../src/core/inputs.ts";
import { CHECKPOINT_LABELS } from "../../src/docker/checkpoints.ts";
import { workspaceShell } from "../helpers/workspace-shell.ts";
import { checkpointImages as checkpointImagesOf, docker, engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("checkpoints");
const home = join(root.path, "nexus");
// sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "src/app.txt": "v1\n", ".nexus/workspace.yaml": "sudo: true\n" });
let s: Services;

const { run, inWorktree } = workspaceShell(() => s);
const read = (ws: string, path: string) => run(ws, `cat ${path} 2>/dev/null || echo '<absent>'`);
const worktree = (ws: string) => s.store.findByName(ws)!.mountPath;
const indexHash = (ws: string) => createHash("sha256").update(readFileSync(git(worktree(ws), "rev-parse", "--path-format=absolute", "--git-path", "index"))).digest("hex");
/** The workspace's own git dir, seen from inside: HEAD's commit, and the index's sha256 (empty when there is none). */
const insideHead = (ws: string) => run(ws, "cd /workspace && git rev-parse HEAD").then((o) => o.trim());
const insideIndex = (ws: string) => run(ws, `cd /workspace && f=$(git rev-parse --git-path index) && if [ -e "$f" ]; then sha256sum < "$f" | cut -d' ' -f1; fi`).then((o) => o.trim());
const insideStaged = (ws: string) => run(ws, "cd /workspace && git diff --cached --name-only").then((o) => o.trim());
/** Whether another process can bind the port on 127.0.0.1 now: spawnSync, so this process (the daemon's graph) is held still meanwhile. */
function otherProcessCanBind(port: number): boolean {
  const script = `require("node:net").createServer().once("error", () => process.exit(3)).listen({ port: ${port}, host: "127.0.0.1", exclusive: true }, () => process.exit(0))`;
  const r = spawnSync(process.execPath, ["-e", script], { timeout: 30_000 });
  if (r.status !== 0 && r.status !== 3) throw new Error(`the bind probe failed: ${r.stderr}`);
  return r.status === 0;
}
const checkpointImages = () => checkpointImagesOf(home);
const layers = (image: string) => (JSON.parse(docker("image", "inspect", image))[0].RootFS.Layers as string[]).length;

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.checkpoints.reconcile();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "cp", path: repo, env: { API_TOKEN: "s3cret-value" } });
}, 900_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  const images = checkpointImages();
  if (images.length) docker("rmi", "-f", ...images);
  await root[Symbol.asyncDispose]();
});

let first = "";

describe("create", () => {
  test("holds the container filesystem, home and worktree (untracked included); HEAD and the user's index untouched", async () => {
    await run("cp", "sudo sh -c 'echo opt-1 > /opt/marker && rm -rf /usr/share/doc/tmux' && echo home-1 > ~/note.txt");
    await inWorktree("cp", "echo untracked-1 > new.txt && echo changed-1 >> src/app.txt && echo staged > staged.txt");
    // Staged on the host, and inside in the workspace's own git dir (its own index: see git-sync/service.ts).
    git(worktree("cp"), "add", "staged.txt");
    await inWorktree("cp", "echo inside > inside-staged.txt && git add inside-staged.txt");
    const head = git(worktree("cp"), "rev-parse", "HEAD");
    const index = indexHash("cp");
    const [ownHead, ownIndex] = [await insideHead("cp"), await insideIndex("cp")];
    expect(await insideStaged("cp")).toBe("inside-staged.txt");
    const cp = await s.checkpoints.create("cp", { name: "before", description: "first state" });
    first = cp.id;
    expect(cp.name).toBe("before");
    expect(cp.auto).toBe(false);
    expect(cp.holds.home!.bytes).toBeGreaterThan(0);
    expect(cp.holds.worktree!.branch).toBe("nexus/cp");
    expect(cp.holds.worktree!.head).toBe(head);
    const record = s.checkpoints.resolve(cp.id);
    // The first checkpoint of an image takes `docker diff` while frozen (later ones list the commit afterwards).
    expect(record.container!.changes!.copy).toContain("/opt/marker");
    expect(record.container!.changes!.remove).toContain("/usr/share/doc/tmux");
    // Mounts and files the daemon writes are not part of it.
    expect(record.container!.changes!.copy.some((p) => p.startsWith("/home/nexus") || p.startsWith("/workspace") || p.startsWith("/etc/nexus"))).toBe(false);
    expect(git(worktree("cp"), "rev-parse", "HEAD")).toBe(head);
    expect(indexHash("cp")).toBe(index);
    // The workspace's own git dir: HEAD and index untouched, the index held, HEAD recorded.
    expect(await insideHead("cp")).toBe(ownHead);
    expect(await insideIndex("cp")).toBe(ownIndex);
    expect(record.ownGit!.head).toBe(ownHead);
    expect(existsSync(record.ownGit!.indexFile!)).toBe(true);
    // Where the time went, phase by phase.
    expect(Object.keys(record.phasesMs!)).toEqual(expect.arrayContaining(["freeze", "diff", "commit", "home", "worktree", "git-index", "unfreeze"]));
    expect(git(repo, "show", `${cp.holds.worktree!.ref}:new.txt`)).toBe("untracked-1");
    expect(git(repo, "show", `${cp.holds.worktree!.ref}:src/app.txt`)).toBe("v1\nchanged-1");
    // Frozen for the instant it was taken, running again after.
    expect(JSON.parse(docker("inspect", s.store.findByName("cp")!.containerId!))[0].State.Status).toBe("running");
  }, 300_000);

  test("a later checkpoint takes no docker diff while frozen: its changes are listed from the commit after the answer, and are the ones docker diff found", async () => {
    await s.checkpoints.settled();
    const again = await s.checkpoints.create("cp", { name: "again" });
    expect(Object.keys(s.checkpoints.resolve(again.id).phasesMs!)).not.toContain("diff");
    await s.checkpoints.settled();
    const listed = s.checkpoints.resolve(again.id).container!.changes!;
    const diffed = s.checkpoints.resolve(first).container!.changes!;
    expect(listed.copy).toContain("/opt/marker");
    expect(listed.remove).toContain("/usr/share/doc/tmux");
    expect(listed.copy.some((p) => p.startsWith("/home/nexus") || p.startsWith("/workspace") || p.startsWith("/etc/nexus"))).toBe(false);
    // What docker diff found a moment before is all there (the workspace may have written a log or two since).
    expect(listed.copy).toEqual(expect.arrayContaining(diffed.copy));
    expect(listed.remove).toEqual(expect.arrayContaining(diffed.remove));
    await s.checkpoints.delete(again.id);
  }, 300_000);

  test("the committed image is one layer on the original image and carries no secret in its environment", () => {
    const r = s.checkpoints.resolve(first);
    expect(layers(r.container!.image)).toBe(layers(r.container!.baseImage) + 1);
    const config = JSON.parse(docker("image", "inspect", r.container!.image))[0].Config;
    expect(JSON.stringify(config.Env)).not.toContain("s3cret-value");
    expect(config.Labels[CHECKPOINT_LABELS.id]).toBe(first);
    // The workspace's labels are blanked: a container made from it is never taken for the workspace's.
    expect(config.Labels["dev.nexus.workspace.id"] ?? "").toBe("");
  });

  test("bad names, taken names, unknown ids and another workspace's checkpoint are clear errors", async () => {
    const bad = await expectError(Promise.resolve().then(() => parseInput(CreateCheckpointInput, { name: "Bad Name" }, "checkpoint request")), "INVALID_ARGUMENT");
    expect(bad.message).toContain("checkpoint name must be");
    await expectError(Promise.resolve().then(() => parseInput(CreateCheckpointInput, { name: "ckpt-0123456789ab" }, "checkpoint request")), "INVALID_ARGUMENT");
    const taken = await expectError(s.checkpoints.create("cp", { name: "before" }), "INVALID_ARGUMENT");
    expect(taken.message).toContain("already has a checkpoint named 'before'");
    const unknown = await expectError(s.checkpoints.restore("nope", "cp"), "NOT_FOUND");
    expect(unknown.suggestion).toContain("nexus checkpoint list cp");
    await expectError(s.checkpoints.create("no-such-ws", {}), "WORKSPACE_NOT_FOUND");
  });
});

describe("restore", () => {
  test("brings back the file in /opt, the file in ~ and the worktree; the automatic checkpoint holds what it replaced", async () => {
    await run("cp", "sudo sh -c 'echo opt-2 > /opt/marker && touch /opt/later' && echo home-2 > ~/note.txt && touch ~/extra");
    await inWorktree("cp", "rm new.txt && echo untracked-2 > new2.txt && echo changed-2 >> src/app.txt");
    git(worktree("cp"), "reset", "-q", "staged.txt");
    await inWorktree("cp", "git reset -q");
    expect(await insideStaged("cp")).toBe("");
    const { containerId: oldContainer, homeVolume: oldVolume, ports } = s.store.findByName("cp")!;
    const published = [ports.ssh, ...ports.services.map((p) => p.hostPort)];
    // While no container has them (the old one ended, the new one not started yet: the restore's
    // first "start" line), nobody else can take the ports.
    const heldWhileDown: boolean[] = [];
    const result = await s.checkpoints.restore("before", "cp", (p) => {
      if (p.phase === "start" && heldWhileDown.length === 0) heldWhileDown.push(...published.map((port) => !otherProcessCanBind(port)));
    });
    expect(heldWhileDown.length).toBe(published.length);
    expect(heldWhileDown.every(Boolean)).toBe(true);
    expect(result.status).toBe("running");
    expect(result.phasesMs!.start).toBeGreaterThan(0);
    expect(result.headMoved).toBe(false);
    expect(result.safetyCheckpoint.name).toStartWith("auto-before-restore-");
    expect(result.safetyCheckpoint.auto).toBe(true);

    expect(await read("cp", "/opt/marker")).toBe("opt-1\n");
    expect(await read("cp", "/opt/later")).toBe("<absent>\n");
    expect(await run("cp", "test -e /usr/share/doc/tmux && echo present || echo gone")).toBe("gone\n");
    expect(await read("cp", "~/note.txt")).toBe("home-1\n");
    expect(await read("cp", "~/extra")).toBe("<absent>\n");
    expect(await read("cp", "/workspace/new.txt")).toBe("untracked-1\n");
    expect(await read("cp", "/workspace/new2.txt")).toBe("<absent>\n");
    expect(await read("cp", "/workspace/src/app.txt")).toBe("v1\nchanged-1\n");
    expect(git(worktree("cp"), "diff", "--cached", "--name-only")).toBe("staged.txt");
    // The workspace's own index is the checkpoint's again (HEAD inside had not moved).
    expect(await insideStaged("cp")).toBe("inside-staged.txt");
    expect(await read("cp", "/workspace/inside-staged.txt")).toBe("inside\n");
    // The same host ports, published by the new container.
    const mine = s.store.findByName("cp")!;
    expect([mine.ports.ssh, ...mine.ports.services.map((p) => p.hostPort)]).toEqual(published);
    expect(docker("port", mine.containerId!, "22/tcp")).toContain(`127.0.0.1:${ports.ssh}`);

    // Same name, new container and home volume; the old ones are gone.
    const after = s.store.findByName("cp")!;
    expect(after.containerId).not.toBe(oldContainer);
    expect(JSON.parse(docker("inspect", after.containerId!))[0].Name).toBe(`/${after.containerName}`);
    expect(after.homeVolume).not.toBe(oldVolume);
    expect(docker("volume", "ls", "-q", "--filter", `name=^${oldVolume}$`)).toBe("");

    // The automatic checkpoint brings the replaced state back.
    await s.checkpoints.restore(result.safetyCheckpoint.id, "cp");
    expect(await read("cp", "/opt/marker")).toBe("opt-2\n");
    expect(await read("cp", "~/note.txt")).toBe("home-2\n");
    expect(await read("cp", "/workspace/new2.txt")).toBe("untracked-2\n");
    expect(await read("cp", "/workspace/new.txt")).toBe("<absent>\n");
    expect(await read("cp", "/workspace/src/app.txt")).toBe("v1\nchanged-1\nchanged-2\n");
  }, 600_000);

  test("HEAD moved since the checkpoint: the branch stays where it is, the files are the checkpoint's on the current HEAD, the indexes are left, and the answer says so", async () => {
    await inWorktree("cp", "echo staged-then > then.txt && git add then.txt");
    const then = await s.checkpoints.create("cp", { name: "then" });
    // A commit inside moves HEAD (the daemon's sync brings it to the host branch).
    await inWorktree("cp", "git add -A && git -c user.name=t -c user.email=t@t commit -q -m 'inside commit' && echo after > after.txt && echo staged-now > now.txt && git add now.txt");
    const moved = await insideHead("cp");
    const ownIndex = await insideIndex("cp");
    const result = await s.checkpoints.restore(then.id, "cp");
    expect(result.headMoved).toBe(true);
    expect(result.message).toContain("moved since the checkpoint");
    expect(result.message).toContain("git index was left as it is");
    // The branch is where the user had it, inside and on the host.
    expect(await insideHead("cp")).toBe(moved);
    expect(git(worktree("cp"), "rev-parse", "HEAD")).toBe(moved);
    // The files are the checkpoint's; the workspace's index is the one it had (now.txt staged).
    expect(await read("cp", "/workspace/then.txt")).toBe("staged-then\n");
    expect(await read("cp", "/workspace/after.txt")).toBe("<absent>\n");
    expect(await insideIndex("cp")).toBe(ownIndex);
    expect(await insideStaged("cp")).toContain("now.txt");
  }, 600_000);

  test("the commit base stays the original image across generations of checkpoint and restore", async () => {
    const base = s.checkpoints.resolve(first).container!.baseImage;
    for (let gen = 1; gen <= 4; gen++) {
      await run("cp", `sudo sh -c 'echo gen-${gen} > /opt/generation'`);
      const cp = await s.checkpoints.create("cp", { name: `gen-${gen}` });
      const r = s.checkpoints.resolve(cp.id);
      expect(r.container!.baseImage).toBe(base);
      expect(layers(r.container!.image)).toBe(layers(base) + 1);
      await s.checkpoints.restore(cp.id, "cp");
      expect(JSON.parse(docker("inspect", s.store.findByName("cp")!.containerId!))[0].Image).toBe(base);
      expect(await read("cp", "/opt/generation")).toBe(`gen-${gen}\n`);
    }
  }, 900_000);
});

describe("from a checkpoint, delete, destroy", () => {
  test("a workspace created from a checkpoint has its files, on its own branch and ports", async () => {
    const ws = await s.workspaces.create({ name: "cp-copy", fromCheckpoint: first });
    expect(ws.branch).toBe("nexus/cp-copy");
    expect(ws.ports[0]!.hostPort).not.toBe(s.store.findByName("cp")!.ports.ssh);
    expect(await read("cp-copy", "/opt/marker")).toBe("opt-1\n");
    expect(await read("cp-copy", "~/note.txt")).toBe("home-1\n");
    expect(await read("cp-copy", "/workspace/new.txt")).toBe("untracked-1\n");
    expect(await read("cp-copy", "/workspace/src/app.txt")).toBe("v1\nchanged-1\n");
    // Its checkpoints are its own: one of 'cp' is refused with the way forward.
    const other = await expectError(s.checkpoints.restore(first, "cp-copy"), "INVALID_ARGUMENT");
    expect(other.message).toContain("belongs to workspace 'cp'");
  }, 600_000);

  test("delete frees the image and the ref; destroy removes checkpoints unless kept", async () => {
    const cp = await s.checkpoints.create("cp-copy", { name: "doomed" });
    const ref = cp.holds.worktree!.ref;
    await s.checkpoints.delete("doomed", "cp-copy");
    expect(docker("images", "-q", cp.holds.container!.image)).toBe("");
    expect(() => git(repo, "rev-parse", "--verify", "-q", ref)).toThrow();
    await expectError(s.checkpoints.restore("doomed", "cp-copy"), "NOT_FOUND");

    const kept = await s.checkpoints.create("cp-copy", { name: "kept" });
    await s.workspaces.destroy("cp-copy", { force: true, keepCheckpoints: true });
    expect(s.checkpoints.list("cp-copy").map((c) => c.name)).toEqual(["kept"]);
    expect(existsSync(join(home, "checkpoints", `${kept.id}.home.tar`))).toBe(true);
    await expectError(s.checkpoints.restore("kept"), "INVALID_STATE");

    const images = s.checkpoints.list("cp").map((c) => c.holds.container!.image);
    await s.workspaces.destroy("cp", { force: true });
    for (const image of images) expect(docker("images", "-q", image)).toBe("");
    await expectError(Promise.resolve().then(() => s.checkpoints.list("cp")), "WORKSPACE_NOT_FOUND");
  }, 600_000);
});
