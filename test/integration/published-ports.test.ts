// Ports another daemon's stopped workspace holds: a stopped container binds its published ports
// again when it starts, so the allocator must not hand them out although nothing listens on them
// now (two NEXUS_HOMEs on one machine: one's create took the port of the other's stopped
// workspace, whose start then failed with "address already in use"). Real engine; the one container
// made here carries a label of this test's own and is removed after.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { canBind, PortAllocator } from "../../src/core/ports.ts";
import { DEFAULT_BASE_IMAGE, DockerEngine } from "../../src/docker/engine.ts";
import { docker, engineAnswers } from "../helpers/docker.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const LABEL = `dev.nexus.test.published-ports=${process.pid}`;
const engine = new DockerEngine({ env: process.env });
let range: { start: number; end: number };
let stopped = "";

/** Two neighbouring ports that bind now, away from the workspaces' default range. */
async function freePair(): Promise<{ start: number; end: number }> {
  for (let i = 0; i < 50; i++) {
    const start = 41000 + Math.floor(Math.random() * 8000);
    if ((await canBind(start)) && (await canBind(start + 1))) return { start, end: start + 1 };
  }
  throw new Error("no free pair of ports");
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh");
  range = await freePair();
  // Made, never started: it publishes range.start, and nothing listens there.
  stopped = docker("create", "--label", LABEL, "-p", `127.0.0.1:${range.start}:22`, DEFAULT_BASE_IMAGE, "true");
});

afterAll(() => {
  if (stopped) docker("rm", "-f", stopped);
});

describe("ports of stopped containers", () => {
  test("the engine names them among its published host ports", async () => {
    expect(await canBind(range.start)).toBe(true);
    expect(await engine.publishedHostPorts()).toContain(range.start);
  });

  test("the allocator skips them", async () => {
    const ports = new PortAllocator(range, () => [], () => engine.publishedHostPorts());
    expect(await ports.allocate(1)).toEqual([range.start + 1]);
  });
});
