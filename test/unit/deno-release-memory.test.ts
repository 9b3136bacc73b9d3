// The Deno daemon's release after a burst of destroys (src/runtime/deno.ts releaseMemory): a full
// collection at once and a second one shortly after, for what the first one's finalizers freed, as
// under Bun. V8's gc() exists only with --expose-gc (the daemon's DENO_V8_FLAGS): a stand-in counts.
import { describe, expect, test } from "bun:test";
import { until } from "../helpers/wait.ts";

const onDeno = "Deno" in globalThis;

describe.skipIf(!onDeno)("Deno releaseMemory", () => {
  test("collects now and once more shortly after; without gc() it does nothing", async () => {
    const { denoRuntime } = await import("../../src/runtime/deno.ts");
    const g = globalThis as { gc?: () => void };
    const own = g.gc;
    try {
      let calls = 0;
      g.gc = () => void calls++;
      denoRuntime.releaseMemory();
      expect(calls).toBe(1);
      await until("the second collection", () => calls, (n) => n === 2, { timeoutMs: 10_000, intervalMs: 20 });
      delete g.gc;
      expect(() => denoRuntime.releaseMemory()).not.toThrow();
    } finally {
      if (own) g.gc = own;
      else delete g.gc;
    }
  });
});
