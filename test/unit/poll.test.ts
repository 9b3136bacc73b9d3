import { describe, expect, test } from "bun:test";
import { NexusError, hasCode } from "../../src/kernel/errors.ts";
import { pollUntil, retry, sleep } from "../../src/kernel/poll.ts";

describe("sleep", () => {
  test("an abort ends it at once", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const done = sleep(60_000, ac.signal);
    ac.abort();
    await done;
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("pollUntil", () => {
  test("answers the first value that is not undefined, with the backoff's pauses between probes", async () => {
    const pauses: number[] = [];
    const answer = await pollUntil((n) => (n === 3 ? "ready" : undefined), { deadline: Date.now() + 60_000, intervalMs: (n) => (pauses.push(n), 1) });
    expect(answer).toBe("ready");
    expect(pauses).toEqual([1, 2]);
  });

  test("a passed deadline gives undefined; a probe can give up with a value of its own", async () => {
    expect(await pollUntil(() => undefined, { deadline: Date.now() + 30, intervalMs: 5 })).toBeUndefined();
    expect(await pollUntil(() => false, { deadline: Date.now() + 60_000, intervalMs: 5 })).toBe(false);
  });

  test("an aborted signal stops it without another probe", async () => {
    const ac = new AbortController();
    let probes = 0;
    const result = pollUntil(() => { probes++; ac.abort(); return undefined; }, { deadline: Date.now() + 60_000, intervalMs: 60_000, signal: ac.signal });
    expect(await result).toBeUndefined();
    expect(probes).toBe(1);
  });
});

describe("retry", () => {
  const conflict = () => new NexusError("PORT_CONFLICT", "taken");

  test("tries again only on the errors it is told, then succeeds", async () => {
    const told: number[] = [];
    const got = await retry(async (n) => { if (n < 3) throw conflict(); return n; }, { attempts: 5, delayMs: () => 1, retryOn: hasCode("PORT_CONFLICT"), onRetry: (n) => told.push(n) });
    expect(got).toBe(3);
    expect(told).toEqual([1, 2]);
  });

  test("another error, or the last try's error, is thrown", async () => {
    let tries = 0;
    await expect(retry(async () => { tries++; throw new Error("other"); }, { attempts: 5, delayMs: () => 1, retryOn: hasCode("PORT_CONFLICT") })).rejects.toThrow("other");
    expect(tries).toBe(1);
    tries = 0;
    await expect(retry(async () => { tries++; throw conflict(); }, { attempts: 3, delayMs: () => 1, retryOn: hasCode("PORT_CONFLICT") })).rejects.toThrow("taken");
    expect(tries).toBe(3);
  });
});
