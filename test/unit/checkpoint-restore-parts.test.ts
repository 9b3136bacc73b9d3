// Pieces of a checkpoint restore that need no engine: the workspace's host ports held while no
// container has them (real sockets; another process tries to bind them), and the phase clock.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";
import { allSettled, Phases } from "../../src/core/checkpoints/phases.ts";
import { holdPorts } from "../../src/core/checkpoints/restore.ts";
import { slowTests } from "../helpers/timeout.ts";
import { evalArgv } from "../helpers/runtime-argv.ts";

slowTests();

/** Whether another process can bind the port on 127.0.0.1 now (spawnSync: this process's sockets stay as they are meanwhile). */
function otherProcessCanBind(port: number): boolean {
  const script = `import("node:net").then((net) => net.createServer().once("error", () => process.exit(3)).listen({ port: ${port}, host: "127.0.0.1", exclusive: true }, () => process.exit(0)))`;
  const r = spawnSync(...evalArgv(script), { timeout: 30_000 });
  if (r.status !== 0 && r.status !== 3) throw new Error(`the bind probe failed: ${r.stderr}`);
  return r.status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen({ port: 0, host: "127.0.0.1" }, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("holdPorts", () => {
  test("another process cannot bind a held port; after the release it can; a connection to it is refused quietly", async () => {
    const [a, b] = [await freePort(), await freePort()];
    const release = await holdPorts([
      { host: "127.0.0.1", port: a },
      { host: "127.0.0.1", port: b },
    ]);
    expect(otherProcessCanBind(a)).toBe(false);
    expect(otherProcessCanBind(b)).toBe(false);
    // Someone connecting meanwhile (an SSH client retrying) gets closed, and nothing throws here.
    await new Promise<void>((resolve) => {
      const c = connect(a, "127.0.0.1");
      c.on("error", () => resolve());
      c.on("close", () => resolve());
    });
    await release();
    await release(); // idempotent
    expect(otherProcessCanBind(a)).toBe(true);
    expect(otherProcessCanBind(b)).toBe(true);
  }, 60_000);

  test("a port someone else holds is left as it is (no error); the others are held", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ port: 0, host: "127.0.0.1" }, () => r()));
    const busy = (taken.address() as { port: number }).port;
    const free = await freePort();
    const release = await holdPorts([
      { host: "127.0.0.1", port: busy },
      { host: "127.0.0.1", port: free },
    ]);
    expect(otherProcessCanBind(free)).toBe(false);
    await release();
    await new Promise<void>((r) => taken.close(() => r()));
    expect(otherProcessCanBind(busy)).toBe(true);
  }, 60_000);
});

describe("phases", () => {
  test("marks add up in order; parts beside each other are timed each on its own", async () => {
    const p = new Phases();
    await new Promise((r) => setTimeout(r, 20));
    p.mark("first");
    await Promise.all([p.part("x", () => new Promise((r) => setTimeout(r, 30))), p.part("y", async () => 1)]);
    p.mark("second");
    expect(Object.keys(p.ms).sort()).toEqual(["first", "second", "x", "y"]);
    expect(p.ms.first!).toBeGreaterThanOrEqual(15);
    expect(p.ms.x!).toBeGreaterThanOrEqual(25);
    expect(String(p)).toContain("first ");
    // The timeline: when each began (x and y together, after first; a mark's phase began at the mark before it).
    expect(p.at.first).toBe(0);
    expect(p.at.x!).toBeGreaterThanOrEqual(p.ms.first! - 1);
    expect(Math.abs(p.at.x! - p.at.y!)).toBeLessThanOrEqual(5);
    expect(Math.abs(p.at.second! - p.ms.first!)).toBeLessThanOrEqual(1);
    expect(p.ms.second!).toBeGreaterThanOrEqual(25);
    const t = performance.now() - 40;
    p.since("late", t);
    expect(p.ms.late!).toBeGreaterThanOrEqual(39);
    expect(p.at.late!).toBeLessThanOrEqual(p.at.second! + p.ms.second!);
    expect(String(p)).toMatch(/x \d+ ms @\d+/);
  });

  test("allSettled waits for every part before it throws the first failure", async () => {
    let slowDone = false;
    const err = await allSettled([
      Promise.reject(new Error("boom")),
      new Promise<void>((r) =>
        setTimeout(() => {
          slowDone = true;
          r();
        }, 30),
      ),
    ] as const).catch((e: Error) => e);
    expect((err as Error).message).toBe("boom");
    expect(slowDone).toBe(true);
    expect(await allSettled([Promise.resolve(1), Promise.resolve("a")] as const)).toEqual([1, "a"]);
  });
});
