// A create cut after the engine made the container but before the record named it (the daemon
// SIGKILLed under load, crash.test's "with an edit in the worktree: 'nexus start' finishes the
// workspace"): the record has no containerId, the engine has a container of the workspace under the
// name start gives the new one. start removes that container and makes the workspace whole; before,
// it failed with the engine's name Conflict. Real engine, a NEXUS_HOME of its own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("start-unrecorded");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
let s: Services;

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "cut", path: repo });
}, 600_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("start of a workspace whose record does not name its container", () => {
  test("removes the container the record does not name, makes a new one and runs", async () => {
    const before = s.store.findByName("cut")!;
    const stray = before.containerId!;
    // As a create cut short leaves it: the container made, the record in error without its id.
    s.store.save({ ...before, containerId: null, status: "error", error: { code: "WORKSPACE_START_FAILED", message: "cut" } });

    const started = await s.workspaces.start("cut");
    expect(started.status).toBe("running");
    const after = s.store.findByName("cut")!;
    expect(after.containerId).toBeDefined();
    expect(after.containerId).not.toBe(stray);
    expect((await s.workspaces.execCollect("cut", { command: "echo", args: ["ok"] })).stdout).toBe("ok\n");
    // One container of the workspace: the stray one is gone.
    expect(leftovers(home).containers.map((id) => after.containerId!.startsWith(id))).toEqual([true]);
  });
});
