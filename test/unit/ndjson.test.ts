import { describe, expect, test } from "bun:test";
import { ndjsonResponse, wantsStream } from "../../src/api/http/ndjson.ts";
import { NexusError } from "../../src/core/errors.ts";

async function lines(res: Response): Promise<Array<Record<string, unknown>>> {
  return (await res.text())
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("wantsStream", () => {
  test("only for an accept header naming application/x-ndjson", () => {
    expect(wantsStream("application/x-ndjson")).toBe(true);
    expect(wantsStream("application/json, application/x-ndjson;q=0.9")).toBe(true);
    expect(wantsStream("application/json")).toBe(false);
    expect(wantsStream("*/*")).toBe(false);
    expect(wantsStream(undefined)).toBe(false);
    expect(wantsStream("")).toBe(false);
  });
});

describe("ndjsonResponse", () => {
  test("streams events, then the result, one JSON object per line", async () => {
    const res = await ndjsonResponse(async (send) => {
      send({ type: "progress", n: 1 });
      send({ type: "progress", n: 2, text: "line\nbreak" });
      return { exitCode: 3 };
    }, new AbortController().signal);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await lines(res)).toEqual([
      { type: "progress", n: 1 },
      { type: "progress", n: 2, text: "line\nbreak" },
      { type: "result", exitCode: 3 },
    ]);
  });

  test("a failure ends the stream with an error event in the spec's error shape", async () => {
    const res = await ndjsonResponse(async (send) => {
      send({ type: "progress" });
      throw new NexusError("CONTAINER_ERROR", "it broke", { suggestion: "retry", details: { id: "c1" } });
    }, new AbortController().signal);
    expect(await lines(res)).toEqual([
      { type: "progress" },
      { type: "error", error: { code: "CONTAINER_ERROR", message: "it broke", suggestion: "retry", retryable: true, details: { id: "c1" } } },
    ]);
  });

  test("a plain Error becomes INTERNAL_ERROR", async () => {
    const res = await ndjsonResponse(async () => {
      throw new Error("unexpected");
    }, new AbortController().signal);
    const [only] = await lines(res);
    expect(only).toMatchObject({ type: "error", error: { code: "INTERNAL_ERROR", message: "unexpected" } });
  });

  test("the client going away aborts the operation's signal", async () => {
    const client = new AbortController();
    let seen: AbortSignal | undefined;
    let resolveRun!: () => void;
    const running = new Promise<void>((r) => (resolveRun = r));
    // Nothing is sent before the client goes: the answer is handed over only at the end.
    const answer = ndjsonResponse(async (_send, signal) => {
      seen = signal;
      resolveRun();
      await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
      return {};
    }, client.signal);
    await running;
    expect(seen?.aborted).toBe(false);
    client.abort();
    expect(seen?.aborted).toBe(true);
    await (await answer).text();
  });

  test("the answer is handed over once its first event is queued, not before", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let handedOver = false;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const answer = ndjsonResponse(async (send) => {
      await gate;
      send({ type: "progress", n: 1 });
      await done;
      return { ok: true };
    }, new AbortController().signal).then((res) => {
      handedOver = true;
      return res;
    });
    // Turns of the event loop with no event queued: still held.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    expect(handedOver).toBe(false);
    open();
    const res = await answer;
    expect(res.status).toBe(200);
    // Handed over while the work goes on: the rest streams after.
    finish();
    expect(await lines(res)).toEqual([{ type: "progress", n: 1 }, { type: "result", ok: true }]);
  });

  test("cancelling the body aborts the operation's signal", async () => {
    let seen: AbortSignal | undefined;
    let resolveRun!: () => void;
    const running = new Promise<void>((r) => (resolveRun = r));
    const res = await ndjsonResponse(async (send, signal) => {
      seen = signal;
      send({ type: "progress" });
      resolveRun();
      await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
      return {};
    }, new AbortController().signal);
    const reader = res.body!.getReader();
    await reader.read();
    await running;
    await reader.cancel();
    expect(seen?.aborted).toBe(true);
  });
});

describe("ndjsonResponse back-pressure", () => {
  const event = { type: "stdout", data: "x".repeat(1000) };
  const eventBytes = JSON.stringify(event).length + 1;

  test("send answers nothing below the high-water mark, a promise past it that settles once the client reads", async () => {
    let answers: Array<Promise<void> | undefined> = [];
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const res = await ndjsonResponse(async (send) => {
      for (let i = 0; i < 5; i++) answers.push(send(event));
      await done;
      return {};
    }, new AbortController().signal, { highWaterBytes: 3 * eventBytes });
    // Three events fill the queue to the mark: the third and later ones are told to wait.
    expect(answers.map((a) => a instanceof Promise)).toEqual([false, false, true, true, true]);
    let settled = false;
    void Promise.all(answers).then(() => (settled = true));
    const reader = res.body!.getReader();
    for (let i = 0; i < 4; i++) await reader.read();
    await Promise.all(answers);
    expect(settled).toBe(true);
    release();
    while (!(await reader.read()).done);
    answers = [];
  });

  test("a producer that waits keeps the queue at the mark while a slow reader gets every event in order", async () => {
    const mark = 8 * eventBytes;
    let sent = 0;
    let read = 0;
    let mostAhead = 0;
    const res = await ndjsonResponse(async (send) => {
      for (let i = 0; i < 400; i++) {
        const behind = send({ type: "stdout", n: i, data: event.data });
        sent += eventBytes + String(i).length + 6;
        mostAhead = Math.max(mostAhead, sent - read);
        if (behind) await behind;
      }
      return { exitCode: 0 };
    }, new AbortController().signal, { highWaterBytes: mark, maxQueuedBytes: 4 * mark });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      // A slow reader: it yields to the producer between reads.
      await new Promise((r) => setImmediate(r));
      const { done, value } = await reader.read();
      if (done) break;
      read += value.byteLength;
      text += decoder.decode(value, { stream: true });
    }
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.at(-1)).toEqual({ type: "result", exitCode: 0 });
    expect(lines.slice(0, -1).map((l) => l.n)).toEqual([...Array(400).keys()]);
    // Never more than the mark and one event ahead of the reader (the hard cap was never reached).
    expect(mostAhead).toBeLessThanOrEqual(mark + 2 * eventBytes);
  });

  test("the client going away settles a waiting send and aborts the work", async () => {
    let waiting: Promise<void> | undefined;
    let seen: AbortSignal | undefined;
    const res = await ndjsonResponse(async (send, signal) => {
      seen = signal;
      while (!(waiting = send(event)));
      await waiting;
      return {};
    }, new AbortController().signal, { highWaterBytes: 2 * eventBytes });
    const reader = res.body!.getReader();
    await reader.read();
    expect(waiting).toBeInstanceOf(Promise);
    await reader.cancel();
    await waiting;
    expect(seen?.aborted).toBe(true);
  });

  test("a producer that ignores the answer is stopped past the hard cap with RESOURCE_EXHAUSTED", async () => {
    const res = await ndjsonResponse(async (send, signal) => {
      while (!signal.aborted) send(event);
      throw signal.reason;
    }, new AbortController().signal, { highWaterBytes: 2 * eventBytes, maxQueuedBytes: 20 * eventBytes });
    const all = await lines(res);
    expect(all.at(-1)).toMatchObject({ type: "error", error: { code: "RESOURCE_EXHAUSTED", retryable: false } });
    expect(all.length).toBeLessThanOrEqual(25);
  });
});
