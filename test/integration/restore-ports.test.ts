// The host ports of a workspace through a restore. Another NEXUS_HOME's daemon on the same engine
// skips ports that any container publishes, stopped or only created (815260f); before that, its
// allocator took a restoring workspace's port in a moment no container had it running, and the
// restore's start failed with "port is already allocated" five times over (the flake of issue 14's
// generations test). So at every instant of a restore some container of the workspace must publish
// its ports: the new one is made before the old one goes. This test follows the engine's events of
// the workspace's containers through a real restore and checks that, and that the ports stay the
// same. Only this test's NEXUS_HOME's resources are touched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { canBind } from "../../src/core/ports.ts";
import { CHECKPOINT_LABELS } from "../../src/docker/checkpoints.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { docker, engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("restore-ports");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const instance = instanceId(home);
let s: Services;
let events: ChildProcess | undefined;
const seen: Array<{ action: string; id: string; name: string }> = [];

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.checkpoints.reconcile();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "ports", path: repo });
  events = spawn("docker", ["events", "--filter", "type=container", "--filter", `label=${LABELS.instance}=${instance}`, "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"], { stdio: ["ignore", "pipe", "ignore"] });
  let buf = "";
  events.stdout!.on("data", (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [action = "", id = "", name = ""] = buf.slice(0, nl).split(" ");
      buf = buf.slice(nl + 1);
      seen.push({ action, id, name });
    }
  });
}, 900_000);

afterAll(async () => {
  events?.kill();
  s?.workspaces.shutdown();
  removeLeftovers(home);
  const images = docker("images", "-q", "--filter", `label=${CHECKPOINT_LABELS.instance}=${instance}`).split("\n").filter(Boolean);
  if (images.length) docker("rmi", "-f", ...images);
  await root[Symbol.asyncDispose]();
});

describe("ports through a restore", () => {
  test("some container of the workspace publishes its ports at every instant; the ports stay the same", async () => {
    const ws = s.store.findByName("ports")!;
    const before = { ...ws.ports };
    const oldId = ws.containerId!;
    const cp = await s.checkpoints.create("ports", { name: "p" });
    seen.length = 0;
    await s.checkpoints.restore(cp.id, "ports");
    const after = s.store.findByName("ports")!;
    expect(after.ports).toEqual(before);
    expect(after.containerId).not.toBe(oldId);
    // The old container's removal is the last event the restore makes (it goes while the new one starts).
    await until("the old container's destroy event", () => seen.some((e) => e.action === "destroy" && e.id === oldId), Boolean, 120_000);
    // Containers of the workspace (reader containers carry no workspace id and publish nothing).
    const mine = new Set(docker("ps", "-a", "-q", "--no-trunc", "--filter", `label=${LABELS.workspaceId}=${ws.id}`).split("\n").filter(Boolean));
    mine.add(oldId);
    const alive = new Set([oldId]);
    let emptyAt: string | undefined;
    for (const e of seen.filter((e) => mine.has(e.id) || e.name.startsWith(`${ws.containerName}-`))) {
      if (e.action === "create") alive.add(e.id);
      if (e.action === "destroy") alive.delete(e.id);
      if (alive.size === 0) emptyAt ??= `${e.action} ${e.name}`;
    }
    expect(emptyAt).toBeUndefined();
    // The new container has the port now.
    expect(await canBind(after.ports.ssh)).toBe(false);
  }, 900_000);
});
