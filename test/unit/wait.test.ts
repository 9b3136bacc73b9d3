// The tests' one wait (test/helpers/wait.ts): a condition with a deadline, what it last saw named on failure.
import { describe, expect, test } from "bun:test";
import { until } from "../helpers/wait.ts";

describe("until", () => {
  test("returns the probe's answer once it holds", async () => {
    let n = 0;
    expect(await until("n reaches 3", () => ++n, (v) => v >= 3, { intervalMs: 1 })).toBe(3);
  });

  test("past the deadline it fails naming what it waited for and the last answer", async () => {
    await expect(until("the flag", () => "not yet", (v) => v === "done", { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(/^the flag: not within 30 ms; still not yet$/);
  });

  test("a probe that throws ends the wait with its error", async () => {
    let n = 0;
    await expect(
      until("x", () => {
        n++;
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(n).toBe(1);
  });

  test("with retryErrors a throw is one more 'not yet', and the last error is named at the deadline", async () => {
    let n = 0;
    const flaky = () => {
      if (++n < 3) throw new Error(`starting ${n}`);
      return n;
    };
    expect(await until("the server", flaky, Boolean, { intervalMs: 1, retryErrors: true })).toBe(3);
    await expect(
      until("the server", () => {
        throw new Error("connection refused");
      }, Boolean, { timeoutMs: 20, intervalMs: 5, retryErrors: true }),
    ).rejects.toThrow(/^the server: not within 20 ms; still failing: connection refused$/);
  });
});
