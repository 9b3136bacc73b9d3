// The pool's scheduling: bounded channels per connection, more connections opened one at a time up to
// a bound, waiting requests served in order, a full queue refused as RESOURCE_EXHAUSTED (retryable).
// Connections here are plain emitters: the scheduling is pure logic (the real SSH load is test/security/exec-load).
import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { ConnectionGroup, type Client, type Pooled } from "../../src/ssh/connection-group.ts";
import { NexusError } from "../../src/kernel/errors.ts";

function group(limits = { channelsPerConnection: 2, connections: 2, waiting: 3, spareIdleMs: 60_000 }) {
  const made: Array<EventEmitter & { ended: boolean }> = [];
  const g = new ConnectionGroup(
    async () => {
      const c = Object.assign(new EventEmitter(), { ended: false, end() { c.ended = true; } });
      made.push(c);
      return c as unknown as Client;
    },
    { opened() {}, closed() {} },
    limits,
  );
  return { g, made };
}

const settled = () => new Promise((r) => setTimeout(r, 10));

test("channels fill a connection, then a second one is opened; past both, requests wait in order", async () => {
  const { g, made } = group();
  const a = await g.claim();
  const b = await g.claim();
  expect(a).toBe(b);
  expect(made.length).toBe(1);
  const c = await g.claim();
  expect(c).not.toBe(a);
  expect(made.length).toBe(2);
  await g.claim();
  const order: number[] = [];
  const w1 = g.claim().then((p) => (order.push(1), p));
  const w2 = g.claim().then((p) => (order.push(2), p));
  await settled();
  expect(order).toEqual([]);
  expect(made.length).toBe(2); // the bound holds
  g.release(a);
  expect(await w1).toBe(a);
  g.release(c);
  expect(await w2).toBe(c);
  expect(order).toEqual([1, 2]);
});

test("a full queue is RESOURCE_EXHAUSTED and retryable; an aborted waiter leaves the queue", async () => {
  const { g } = group({ channelsPerConnection: 1, connections: 1, waiting: 2, spareIdleMs: 60_000 });
  const held = await g.claim();
  const ac = new AbortController();
  const aborted = g.claim(ac.signal).catch((e: unknown) => e);
  const waiting = g.claim();
  let err: unknown;
  await g.claim().catch((e: unknown) => (err = e));
  expect(err).toBeInstanceOf(NexusError);
  expect((err as NexusError).code).toBe("RESOURCE_EXHAUSTED");
  expect((err as NexusError).retryable).toBe(true);
  ac.abort(new Error("gone"));
  expect(((await aborted) as Error).message).toBe("gone");
  g.release(held);
  expect(await waiting).toBe(held);
});

test("a retired connection ends with its last channel; a lost one is replaced for the waiting", async () => {
  const { g, made } = group({ channelsPerConnection: 1, connections: 1, waiting: 5, spareIdleMs: 60_000 });
  const p: Pooled = await g.claim();
  const next = g.claim();
  g.retire(p);
  expect(made[0]!.ended).toBe(false);
  g.release(p);
  expect(made[0]!.ended).toBe(true);
  const q = await next;
  expect(q).not.toBe(p);
  expect(made.length).toBe(2);
  const after = g.claim();
  made[1]!.emit("close");
  g.release(q);
  expect((await after).client).toBe(made[2] as unknown as Client);
});

test("drop fails the waiting and ends the connections", async () => {
  const { g, made } = group({ channelsPerConnection: 1, connections: 1, waiting: 5, spareIdleMs: 60_000 });
  await g.claim();
  const waiting = g.claim().catch((e: unknown) => e);
  g.drop(() => new Error("dropped"));
  expect(((await waiting) as Error).message).toBe("dropped");
  expect(made[0]!.ended).toBe(true);
});
