// A stopped workspace whose SSH host port another program took meanwhile (our range lies inside the
// kernel's ephemeral one, which Docker hands out to `-p 127.0.0.1::PORT` containers). Before, start
// failed with PORT_CONFLICT at every try while the other program held the port; now it moves the
// workspace to new ports with everything of its container: files outside the volumes (written as
// root), a file of the image deleted, the home. A failure part way leaves it as it was; a restore
// whose new container meets the taken port starts on new ports too. The "other program" is a server
// of this test on 127.0.0.1. Real engine, a NEXUS_HOME of its own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import type { ProgressEvent } from "../../src/kernel/progress.ts";
import { PORT_MOVE_LABELS } from "../../src/core/workspace/port-move.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { checkpointImages, docker, engineAnswers, leftovers, removeCheckpointImages, removeLeftovers } from "../helpers/docker.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("port-move");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
let s: Services;
let holder: Server | undefined;
let holder2: Server | undefined;

const moveImages = () => docker("images", "-q", "--filter", `label=${PORT_MOVE_LABELS.instance}=${instanceId(home)}`).split("\n").filter(Boolean);
const exists = (id: string) => docker("ps", "-aq", "--no-trunc", "--filter", `id=${id}`) !== "";

/** Holds 127.0.0.1:port as another program would. */
function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resolve(server));
  });
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.checkpoints.reconcile();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "moved", path: repo, ports: [3000] });
}, 600_000);

afterAll(async () => {
  for (const h of [holder, holder2]) await new Promise<void>((resolve) => (h ? h.close(() => resolve()) : resolve()));
  s?.workspaces.shutdown();
  removeLeftovers(home);
  removeCheckpointImages(home);
  const images = moveImages();
  if (images.length) docker("rmi", "-f", ...images);
  await root[Symbol.asyncDispose]();
});

describe("start of a workspace whose host port another program took while it was stopped", () => {
  test("a failure part way leaves it as it was; then it moves to new ports with all its files", async () => {
    const before = structuredClone(s.store.findByName("moved")!);
    const oldId = before.containerId!;
    // Outside every volume and mount, as root: the container's own filesystem; and a file of the image deleted.
    docker("exec", "-u", "0", oldId, "sh", "-c", "mkdir -p /opt/kept && echo root-file > /opt/kept/f && rm /etc/issue");
    expect((await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "echo home-file > ~/kept"] })).exitCode).toBe(0);
    await s.workspaces.stop("moved");
    holder = await hold(before.ports.ssh);

    // The new container fails to start (injected): the old container, the record and the ports stay.
    const engine = s.docker;
    const realStart = engine.start.bind(engine);
    engine.start = (id: string) => (id === oldId ? realStart(id) : Promise.reject(new NexusError("CONTAINER_ERROR", "injected: the new container does not start")));
    try {
      await expectError(s.workspaces.start("moved"), "CONTAINER_ERROR");
    } finally {
      engine.start = realStart;
    }
    const failed = s.store.findByName("moved")!;
    expect(failed.containerId).toBe(oldId);
    expect(failed.ports).toEqual(before.ports);
    expect(leftovers(home).containers.map((id) => oldId.startsWith(id))).toEqual([true]);
    expect(moveImages()).toEqual([]);

    // The port is still taken: start moves the workspace.
    const progress: ProgressEvent[] = [];
    const started = await s.workspaces.start("moved", {}, (e) => progress.push(e));
    expect(started.status).toBe("running");
    const after = s.store.findByName("moved")!;
    expect(after.ports.ssh).not.toBe(before.ports.ssh);
    expect(after.ports.services.map((p) => p.containerPort)).toEqual([3000]);
    expect(after.ports.services[0]!.hostPort).not.toBe(before.ports.services[0]!.hostPort);
    expect(started.ports.find((p) => p.name === "ssh")?.hostPort).toBe(after.ports.ssh);
    expect(after.containerId).not.toBe(oldId);
    expect(progress.map((e) => e.message)).toContain(`A port of the workspace was taken by another program; it moved to ssh port ${after.ports.ssh}`);

    // SSH answers on the new port, and everything of the old container is there.
    const look = await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "cat /opt/kept/f ~/kept; test -e /etc/issue && echo issue-back || echo issue-gone"] });
    expect(look.stdout).toBe("root-file\nhome-file\nissue-gone\n");
    expect(docker("port", after.containerId!, "22/tcp")).toBe(`127.0.0.1:${after.ports.ssh}`);
    // The old container and the interim image are gone; the new container has the workspace's name.
    expect(exists(oldId)).toBe(false);
    expect(leftovers(home).containers.map((id) => after.containerId!.startsWith(id))).toEqual([true]);
    expect(docker("inspect", "-f", "{{.Name}}", after.containerId!)).toBe(`/${after.containerName}`);
    expect(moveImages()).toEqual([]);
  }, 600_000);

  test("a move the daemon was killed in: the next reconcile removes what the record does not name, names the container back, and nothing of the workspace is lost", async () => {
    await s.workspaces.stop("moved");
    const r = s.store.findByName("moved")!;
    const kept = r.containerId!;
    // As a kill after the record was saved leaves it: the record's container still under the move's
    // name, the container it replaced still there, and the interim image.
    docker("rename", kept, `${r.containerName}-moved-abc123`);
    const labels = [LABELS.managed, LABELS.instance, LABELS.workspaceId].map((k) => `${k}=${docker("inspect", "-f", `{{index .Config.Labels "${k}"}}`, kept)}`);
    const replaced = docker("create", ...labels.flatMap((l) => ["--label", l]), "--name", `${r.containerName}-replaced`, r.image, "true");
    docker("commit", "--change", `LABEL ${PORT_MOVE_LABELS.instance}=${instanceId(home)}`, "--change", `LABEL ${PORT_MOVE_LABELS.workspaceId}=${r.id}`, replaced, `nexus-port-move:${r.id}-abc123`);
    expect(moveImages()).toHaveLength(1);

    await s.workspaces.reconcile();
    expect(exists(replaced)).toBe(false);
    expect(exists(kept)).toBe(true);
    expect(docker("inspect", "-f", "{{.Name}}", kept)).toBe(`/${r.containerName}`);
    expect(moveImages()).toEqual([]);
    expect(s.store.findByName("moved")!.containerId).toBe(kept);
    await s.workspaces.start("moved");
    const look = await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "cat /opt/kept/f ~/kept"] });
    expect(look.stdout).toBe("root-file\nhome-file\n");
  }, 600_000);

  test("a restore onto it: the restored workspace starts on new ports with the checkpoint's files, and nothing is left behind", async () => {
    expect((await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "echo v1 > ~/restored"] })).exitCode).toBe(0);
    const cp = await s.checkpoints.create("moved", { name: "before-move" });
    expect((await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "echo v2 > ~/restored"] })).exitCode).toBe(0);
    await s.workspaces.stop("moved");
    const before = structuredClone(s.store.findByName("moved")!);
    // Taken while it is stopped: the restore cannot hold it for the new container.
    holder2 = await hold(before.ports.ssh);

    const restored = await s.checkpoints.restore(cp.id, "moved");
    expect(restored.status).toBe("running");
    const after = s.store.findByName("moved")!;
    expect(after.ports.ssh).not.toBe(before.ports.ssh);
    expect(after.ports.services.map((p) => p.containerPort)).toEqual([3000]);
    expect(docker("port", after.containerId!, "22/tcp")).toBe(`127.0.0.1:${after.ports.ssh}`);
    // The checkpoint's files (not what was written after it), and the container's own ones from before.
    const look = await s.workspaces.execCollect("moved", { command: "sh", args: ["-c", "cat ~/restored /opt/kept/f"] });
    expect(look.stdout).toBe("v1\nroot-file\n");
    // One container (the workspace's, under its name), no interim image; the checkpoint and the
    // restore's automatic one are the only images.
    expect(leftovers(home).containers.map((id) => after.containerId!.startsWith(id))).toEqual([true]);
    expect(docker("inspect", "-f", "{{.Name}}", after.containerId!)).toBe(`/${after.containerName}`);
    expect(moveImages()).toEqual([]);
    expect(checkpointImages(home)).toHaveLength(2);
  }, 600_000);
});
