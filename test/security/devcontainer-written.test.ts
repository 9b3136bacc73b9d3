// devcontainer.json's initializeCommand runs on this machine, and its mounts and ${localEnv:...} reach
// the host's paths and environment. The worktree is the workspace's to write, so a process inside
// (a hostile dependency, an agent) could write that file and have the host run what it says at the
// next start, restore or create --from-checkpoint. What runs on the host is what the workspace was
// created with: its devcontainer.json is read once, at create, and kept by the daemon.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { leftovers, removeCheckpointImages } from "../helpers/docker.ts";
import { expectError } from "../helpers/graph.ts";
import { git, makeRepo } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { harness, type Harness } from "./harness.ts";

slowTests(300_000);

let h: Harness;
/** Where a hostile initializeCommand would leave its mark on the host (one per test). */
const mark = (tag: string) => join(h.root.path, `host-was-reached-${tag}`);
const progress: Record<string, string[]> = {};
let checkpointId = "";

/** A devcontainer.json that, if followed, touches mark(tag) on the host and copies a host variable in. */
const hostile = (tag: string) =>
  JSON.stringify({
    image: "debian:bookworm-slim",
    initializeCommand: `touch ${mark(tag)}`,
    containerEnv: { STOLEN: "${localEnv:NEXUS_TEST_HOST_SECRET}" },
    postStartCommand: "echo followed > ~/post-start",
  });

const write = async (ws: string, path: string, text: string) => {
  const r = await h.sh(ws, `mkdir -p "$(dirname '${path}')" && printf '%s' '${text.replace(/'/g, `'"'"'`)}' > '${path}'`);
  expect(r).toMatchObject({ exitCode: 0 });
};

const restart = async (ws: string) => {
  await h.s.workspaces.stop(ws, { timeoutSeconds: 2 });
  progress[ws] = [];
  await h.s.workspaces.start(ws, {}, (e) => progress[ws]!.push(e.message));
  expect(h.s.workspaces.get(ws).status).toBe("running");
};

beforeAll(async () => {
  h = await harness("sec-dcw");
  process.env.NEXUS_TEST_HOST_SECRET = "host-only-value";
  await h.s.checkpoints.reconcile();
  // A repository of the user's own (trusted for initializeCommand) with no devcontainer.json.
  await h.s.workspaces.create({ name: "plain", path: makeRepo(join(h.root.path, "plain")) });
  // One with its own, harmless, initializeCommand.
  const dc = JSON.stringify({ image: "debian:bookworm-slim", initializeCommand: "echo init >> .init-marks", postStartCommand: "echo start >> ~/marks" });
  await h.s.workspaces.create({ name: "own", path: makeRepo(join(h.root.path, "own"), { "README.md": "# own\n", ".devcontainer/devcontainer.json": dc, ".gitignore": ".init-marks\n" }) });
}, 600_000);

afterAll(async () => {
  delete process.env.NEXUS_TEST_HOST_SECRET;
  if (!h) return;
  const home = h.home;
  await h.close();
  removeCheckpointImages(home);
});

describe("a devcontainer.json written inside the workspace", () => {
  test("where there was none: the next start runs nothing of it, on the host or inside, and says so", async () => {
    await write("plain", "/workspace/.devcontainer/devcontainer.json", hostile("plain"));
    await restart("plain");
    expect(existsSync(mark("plain"))).toBe(false);
    expect((await h.sh("plain", "cat ~/post-start 2>/dev/null; printf %s \"$STOLEN\"")).stdout).toBe("");
    expect(progress.plain!.join("\n")).toContain(".devcontainer/devcontainer.json is not the one this workspace was created with");
  }, 300_000);

  test("over the project's own: the next start runs the one from create, not the new one", async () => {
    const wt = h.s.store.findByName("own")!.mountPath;
    expect(readFileSync(join(wt, ".init-marks"), "utf8")).toBe("init\n");
    await write("own", "/workspace/.devcontainer/devcontainer.json", hostile("own"));
    await restart("own");
    expect(existsSync(mark("own"))).toBe(false);
    // The create's initializeCommand and postStartCommand ran again; nothing of the new file did.
    expect(readFileSync(join(wt, ".init-marks"), "utf8")).toBe("init\ninit\n");
    expect((await h.sh("own", "cat ~/marks; cat ~/post-start 2>/dev/null; printf %s \"$STOLEN\"")).stdout).toBe("start\nstart\n");
    expect(progress.own!.join("\n")).toContain(".devcontainer/devcontainer.json is not the one this workspace was created with");
  }, 300_000);

  test("a restore of a checkpoint that holds it runs nothing of it either", async () => {
    await write("plain", "/workspace/.devcontainer/devcontainer.json", hostile("checkpoint"));
    const cp = await h.s.checkpoints.create("plain", { name: "with-hostile-file" });
    checkpointId = cp.id;
    await h.s.checkpoints.restore(cp.id, "plain");
    expect(h.s.workspaces.get("plain").status).toBe("running");
    expect(existsSync(mark("checkpoint"))).toBe(false);
    expect((await h.sh("plain", "cat /workspace/.devcontainer/devcontainer.json")).stdout).toContain("initializeCommand");
    expect((await h.sh("plain", "cat ~/post-start 2>/dev/null; printf %s \"$STOLEN\"")).stdout).toBe("");
  }, 300_000);

  test("a branch a workspace committed it to: a new workspace from that branch asks for --trust (a review of an agent's work)", async () => {
    const agent = h.s.store.findByName("own")!;
    // The worktree holds the hostile file (the test before); the workspace commits it on its branch.
    await write("own", "/workspace/.devcontainer/devcontainer.json", hostile("branch"));
    expect(await h.sh("own", "cd /workspace && git add -A && git -c user.name=agent -c user.email=agent@example.invalid commit -qm 'tooling'")).toMatchObject({ exitCode: 0 });
    const repo = agent.repository!.path;
    expect(git(repo, "show", `${agent.branch}:.devcontainer/devcontainer.json`)).toContain(mark("branch"));
    const before = leftovers(h.home);
    const err = await expectError(h.s.workspaces.create({ name: "review", path: repo, branch: "review", fromBranch: agent.branch }), "PERMISSION_DENIED");
    expect(err.message).toContain("runs a command on this machine (initializeCommand), and it is not the .devcontainer/devcontainer.json of");
    expect(err.details?.trustRequired).toBe(true);
    expect(existsSync(mark("branch"))).toBe(false);
    expect(h.s.store.findByName("review")).toBeUndefined();
    expect(leftovers(h.home)).toEqual(before);
    // The project's own file, as the checkout has it, still runs without asking (the "own" workspace's create).
  }, 300_000);

  test("create --from-checkpoint asks for --trust before the file's initializeCommand runs on this machine; nothing is left behind", async () => {
    const before = leftovers(h.home);
    const err = await expectError(h.s.workspaces.create({ name: "copy", fromCheckpoint: checkpointId }), "PERMISSION_DENIED");
    expect(err.message).toContain("runs a command on this machine (initializeCommand)");
    expect(err.suggestion).toContain("--trust");
    expect(existsSync(mark("checkpoint"))).toBe(false);
    expect(h.s.store.findByName("copy")).toBeUndefined();
    expect(leftovers(h.home)).toEqual(before);
  }, 300_000);
});
