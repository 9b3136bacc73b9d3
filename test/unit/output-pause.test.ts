// Back-pressure from exec readers to the SSH channel (src/ssh/output-pause.ts), on node streams that
// behave as ssh2's channel and its stderr do (Readables that buffer while paused). The SSH window
// itself closing is shown end to end in test/e2e/backpressure.test.ts.
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { pausedWhileBehind, type OutputChannel } from "../../src/ssh/output-pause.ts";

function channel(): PassThrough & { stderr: PassThrough } {
  return Object.assign(new PassThrough(), { stderr: new PassThrough() });
}

/** Lets the streams deliver what they can. */
const settle = () => new Promise((r) => setImmediate(r));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("pausedWhileBehind", () => {
  test("a reader that answers with a promise pauses stdout and stderr until it settles", async () => {
    const ch = channel();
    const got: string[] = [];
    const gate = deferred();
    let first = true;
    pausedWhileBehind(ch as unknown as OutputChannel, {
      onStdout: (b) => {
        got.push(`out:${b}`);
        if (first) {
          first = false;
          return gate.promise;
        }
        return undefined;
      },
      onStderr: (b) => void got.push(`err:${b}`),
    });
    ch.write("a");
    await settle();
    ch.write("b");
    ch.stderr.write("c");
    await settle();
    expect(got).toEqual(["out:a"]);
    expect(ch.isPaused() && ch.stderr.isPaused()).toBe(true);
    gate.resolve();
    await settle();
    expect(got.sort()).toEqual(["err:c", "out:a", "out:b"]);
    expect(ch.isPaused() || ch.stderr.isPaused()).toBe(false);
  });

  test("callbacks answering anything but a promise never pause (the fast path)", async () => {
    const ch = channel();
    let n = 0;
    pausedWhileBehind(ch as unknown as OutputChannel, { onStdout: () => ++n, onStderr: () => 0 });
    for (let i = 0; i < 100; i++) ch.write("x");
    await settle();
    expect(n).toBeGreaterThan(0);
    expect(ch.isPaused()).toBe(false);
  });

  test("a pending promise of either stream holds both; output resumes when none is pending", async () => {
    const ch = channel();
    const out = deferred();
    const err = deferred();
    const got: string[] = [];
    let outCalls = 0;
    pausedWhileBehind(ch as unknown as OutputChannel, {
      onStdout: (b) => (got.push(`out:${b}`), ++outCalls === 1 ? out.promise : undefined),
      onStderr: (b) => (got.push(`err:${b}`), err.promise),
    });
    ch.write("1");
    await settle();
    ch.stderr.write("2");
    await settle();
    expect(got).toEqual(["out:1"]);
    out.resolve();
    await settle();
    // stderr's reader is behind now: stdout waits for it too.
    expect(got).toContain("err:2");
    ch.write("3");
    await settle();
    expect(got).not.toContain("out:3");
    err.resolve();
    await settle();
    expect(got).toContain("out:3");
  });

  test("an abort drops the rest unread and resumes, so the channel can end; ended waits for stderr's end", async () => {
    const ch = channel();
    const abort = new AbortController();
    const got: string[] = [];
    const out = pausedWhileBehind(ch as unknown as OutputChannel, {
      onStdout: (b) => (got.push(String(b)), new Promise<void>(() => {})), // a reader that never reads again
      signal: abort.signal,
    });
    ch.write("first");
    await settle();
    ch.write("second");
    ch.stderr.write("unread");
    let stderrEnded = false;
    void out.ended().then(() => (stderrEnded = true));
    ch.end();
    await settle();
    expect(got).toEqual(["first"]);
    expect(ch.readableEnded).toBe(false);
    abort.abort();
    ch.stderr.end();
    await settle();
    await settle();
    expect(got).toEqual(["first"]);
    expect(ch.readableEnded).toBe(true);
    expect(stderrEnded).toBe(true);
  });
});
