import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { canBind, PortAllocator } from "../../src/core/ports.ts";
import { rejectionOf as rejection } from "../helpers/errors.ts";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Listens on 127.0.0.1 (port 0: the kernel picks a free one) and returns the port. */
function listen(port = 0, host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen({ port, host, exclusive: true }, () => {
      servers.push(s);
      resolve((s.address() as { port: number }).port);
    });
  });
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const p = await listen();
  await new Promise((r) => servers.pop()!.close(r));
  return p;
}

/** A window of `size` ports that all bind right now, somewhere above 20000. */
async function freeWindow(size: number): Promise<{ start: number; end: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 20000 + Math.floor(Math.random() * 20000);
    const checks = await Promise.all(Array.from({ length: size }, (_, i) => canBind(start + i)));
    if (checks.every(Boolean)) return { start, end: start + size - 1 };
  }
  throw new Error(`no window of ${size} free ports found`);
}

describe("canBind", () => {
  test("is true for a free port and false for one a server listens on", async () => {
    const busy = await listen();
    expect(await canBind(busy)).toBe(false);
    const free = await freePort();
    expect(await canBind(free)).toBe(true);
  });

  test("is false for a port a server holds on all interfaces", async () => {
    expect(await canBind(await listen(0, "0.0.0.0"))).toBe(false);
  });
});

describe("PortAllocator", () => {
  test("hands out ports from the range", async () => {
    const range = await freeWindow(5);
    const a = new PortAllocator(range, () => []);
    const got = await a.allocate(3);
    expect(got).toEqual([range.start, range.start + 1, range.start + 2]);
  });

  test("20 concurrent allocate(1) get 20 distinct ports", async () => {
    const range = await freeWindow(40);
    const a = new PortAllocator(range, () => []);
    const got = (await Promise.all(Array.from({ length: 20 }, () => a.allocate(1)))).flat();
    expect(got).toHaveLength(20);
    expect(new Set(got).size).toBe(20);
    for (const p of got) {
      expect(p).toBeGreaterThanOrEqual(range.start);
      expect(p).toBeLessThanOrEqual(range.end);
    }
  });

  test("skips a port a server listens on", async () => {
    const busy = await listen();
    const a = new PortAllocator({ start: busy, end: busy + 30 }, () => []);
    const [p] = await a.allocate(1);
    expect(p).not.toBe(busy);
    expect(p!).toBeGreaterThan(busy);
  });

  test("a range whose only port is held by a server is exhausted", async () => {
    const busy = await listen();
    const e = await rejection(new PortAllocator({ start: busy, end: busy }, () => []).allocate(1));
    expect(e.code).toBe("RESOURCE_EXHAUSTED");
  });

  test("skips ports that records hold", async () => {
    const range = await freeWindow(3);
    const a = new PortAllocator(range, () => [range.start, range.start + 1]);
    expect(await a.allocate(1)).toEqual([range.start + 2]);
  });

  test("skips ports the engine's containers publish (stopped ones too), and goes on without them when the engine does not answer", async () => {
    const range = await freeWindow(3);
    const held = new PortAllocator(range, () => [], async () => [range.start, range.start + 1]);
    expect(await held.allocate(1)).toEqual([range.start + 2]);
    const down = new PortAllocator(range, () => [], () => Promise.reject(new Error("engine down")));
    expect(await down.allocate(1)).toEqual([range.start]);
  });

  test("exhaustion is RESOURCE_EXHAUSTED (503, retryable) naming the range", async () => {
    const port = await freePort();
    const a = new PortAllocator({ start: port, end: port }, () => []);
    expect(await a.allocate(1)).toEqual([port]);
    const e = await rejection(a.allocate(1));
    expect(e.code).toBe("RESOURCE_EXHAUSTED");
    expect(e.httpStatus).toBe(503);
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(`${port}-${port}`);
    expect(e.details).toEqual({ range: { start: port, end: port } });
  });

  test("release makes ports available again", async () => {
    const range = await freeWindow(2);
    const a = new PortAllocator(range, () => []);
    const first = await a.allocate(2);
    expect((await rejection(a.allocate(1))).code).toBe("RESOURCE_EXHAUSTED");
    a.release([first[0]!]);
    expect(await a.allocate(1)).toEqual([first[0]!]);
    a.release(first);
    expect((await a.allocate(2)).sort()).toEqual([...first].sort());
  });

  test("a failed allocation reserves nothing, and later allocations still run", async () => {
    const range = await freeWindow(2);
    const a = new PortAllocator(range, () => []);
    expect((await rejection(a.allocate(3))).code).toBe("RESOURCE_EXHAUSTED");
    expect(await a.allocate(2)).toEqual([range.start, range.start + 1]);
  });

  test("claim marks ports as taken", async () => {
    const range = await freeWindow(2);
    const a = new PortAllocator(range, () => []);
    a.claim([range.start]);
    expect(await a.allocate(1)).toEqual([range.start + 1]);
    expect((await rejection(a.allocate(1))).code).toBe("RESOURCE_EXHAUSTED");
  });

  test("a just-released port is not handed out again at once while others are free", async () => {
    const range = await freeWindow(4);
    const a = new PortAllocator(range, () => []);
    const [p1] = await a.allocate(1);
    a.release([p1!]);
    const [p2] = await a.allocate(1);
    expect(p2).not.toBe(p1);
  });

  test("allocation wraps around to the start of the range", async () => {
    const range = await freeWindow(3);
    const a = new PortAllocator(range, () => []);
    const all = await a.allocate(3);
    a.release([all[0]!]);
    expect(await a.allocate(1)).toEqual([all[0]!]);
  });
});
