// Checkpoints when `tar` is missing. A workspace image is built on its base with apt-get, and dpkg
// will not run without tar: a base without it is refused at create with CONTAINER_ERROR naming tar
// (real engine, the base built here from the local Debian image with tar taken out). A workspace
// whose tar is gone afterwards (removed inside) commits checkpoint images without it: restore and
// `create --from-checkpoint` cannot make the one tar of the changed paths inside a container of the
// checkpoint image, and read them path by path through the engine's archive API instead.
// Everything made here carries this test's labels or names, and is removed after.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { lineLogger } from "../../src/core/log.ts";
import { contextHash, DEFAULT_BASE_IMAGE } from "../../src/docker/engine.ts";
import { workspaceShell } from "../helpers/workspace-shell.ts";
import { checkpointImages as checkpointImagesOf, docker, engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("checkpoints-no-tar");
const home = join(root.path, "nexus");
/** The minimal base: the local Debian image without tar. */
const BASE = `nexus-test-no-tar:${process.pid}`;
const LABEL = `dev.nexus.test.checkpoints-no-tar=${process.pid}`;
// sudo: true, so the workspace user may remove tar and write /opt as a non-root host user too.
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", ".nexus/workspace.yaml": "sudo: true\n" });
const minimal = makeRepo(join(root.path, "minimal"), { "README.md": "# fixture\n", ".nexus/workspace.yaml": `image: ${BASE}\n` });
const log: string[] = [];
let s: Services;

const { run, inWorktree } = workspaceShell(() => s);
/** /opt (container filesystem), ~ (home), the worktree, and a file the checkpoint deleted. */
const state = (ws: string) => run(ws, "for f in /opt/marker ~/note.txt /workspace/new.txt /etc/motd; do cat $f 2>/dev/null || echo '<absent>'; done");
const write = (ws: string, v: string) =>
  run(ws, `sudo sh -c 'echo ${v} > /opt/marker' && echo ${v} > ~/note.txt`).then(() => inWorktree(ws, `echo ${v} > new.txt`));
const checkpointImages = () => checkpointImagesOf(home);
const hasTar = (image: string) => spawnSync("docker", ["run", "--rm", "--network", "none", "--label", LABEL, "--entrypoint", "tar", image, "--version"], { stdio: "ignore" }).status === 0;

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home, "", lineLogger((line) => log.push(line)));
  await s.checkpoints.reconcile();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "bare", path: repo });
  // tar gone from the workspace (as dpkg --purge --force-remove-essential tar, or an agent, would leave it).
  await run("bare", "sudo rm -f /usr/bin/tar /bin/tar");
}, 1_800_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  const images = checkpointImages();
  if (images.length) docker("rmi", "-f", ...images);
  // The workspace image built on this test's base, then the base.
  spawnSync("docker", ["rmi", "-f", `nexus-workspace:${contextHash(BASE)}`], { stdio: "ignore" });
  spawnSync("docker", ["rmi", "-f", BASE], { stdio: "ignore" });
  await root[Symbol.asyncDispose]();
});

describe("a base image without tar", () => {
  test("create answers CONTAINER_ERROR naming tar, with the way out, and leaves nothing", async () => {
    const built = spawnSync("docker", ["build", "-q", "--label", LABEL, "-t", BASE, "-"], {
      input: `FROM ${DEFAULT_BASE_IMAGE}\nRUN rm -f /usr/bin/tar /bin/tar && ! command -v tar\n`,
      encoding: "utf8",
    });
    if (built.status !== 0) throw new Error(`building ${BASE}: ${built.stderr}`);
    const err = await expectError(s.workspaces.create({ name: "minimal", path: minimal }), "CONTAINER_ERROR");
    expect(err.message).toContain("dpkg found no tar in the base image");
    expect(err.suggestion).toContain("dpkg needs tar");
    expect(s.workspaces.list().map((w) => w.name)).toEqual(["bare"]);
    expect(leftovers(home).containers).toHaveLength(1);
    // No worktree or branch of it left in the repository.
    expect(git(minimal, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree "))).toHaveLength(1);
    expect(git(minimal, "branch", "--list", "nexus/minimal")).toBe("");
  }, 900_000);
});

describe("a workspace whose tar is gone", () => {
  let first = "";

  test("has no tar", async () => {
    expect(await run("bare", "command -v tar || echo none")).toBe("none\n");
  }, 600_000);

  test("checkpoint create and list work", async () => {
    await write("bare", "one");
    await run("bare", "sudo rm /etc/motd");
    // The first checkpoint of an image takes docker diff; the second lists its changes from the commit (GNU find is there).
    const cp = await s.checkpoints.create("bare", { name: "one" });
    first = cp.id;
    await write("bare", "two");
    const second = await s.checkpoints.create("bare", { name: "two" });
    await s.checkpoints.settled();
    const list = s.checkpoints.list("bare");
    expect(list.map((c) => c.name)).toEqual(["one", "two"]);
    for (const c of list) {
      expect(c.holds.container!.changedPaths).toBeGreaterThan(0);
      // /etc/motd and tar itself.
      expect(c.holds.container!.deletedPaths).toBe(2);
      expect(hasTar(c.holds.container!.image)).toBe(false);
    }
    expect(second.holds.home).not.toBeNull();
  }, 600_000);

  test("restore brings every part back, reading the changed paths one by one", async () => {
    await write("bare", "three");
    await run("bare", "echo back | sudo tee /etc/motd >/dev/null");
    log.length = 0;
    const r = await s.checkpoints.restore("one", "bare");
    expect(r.status).toBe("running");
    expect(await state("bare")).toBe("one\none\none\n<absent>\n");
    expect(log.some((l) => /has no tar to run; reading its \d+ changed paths one by one/.test(l))).toBe(true);
    // What it replaced is in the automatic checkpoint, which restores the same way.
    await s.checkpoints.restore(r.safetyCheckpoint.id, "bare");
    expect(await state("bare")).toBe("three\nthree\nthree\nback\n");
  }, 900_000);

  test("a workspace created from a checkpoint has its files", async () => {
    log.length = 0;
    await s.workspaces.create({ name: "bare-copy", fromCheckpoint: first });
    expect(await state("bare-copy")).toBe("one\none\none\n<absent>\n");
    expect(log.some((l) => /has no tar to run/.test(l))).toBe(true);
    await s.workspaces.destroy("bare-copy", { force: true });
  }, 900_000);
});
