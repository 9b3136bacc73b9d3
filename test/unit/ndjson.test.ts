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
    const res = ndjsonResponse(async (send) => {
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
    const res = ndjsonResponse(async (send) => {
      send({ type: "progress" });
      throw new NexusError("CONTAINER_ERROR", "it broke", { suggestion: "retry", details: { id: "c1" } });
    }, new AbortController().signal);
    expect(await lines(res)).toEqual([
      { type: "progress" },
      { type: "error", error: { code: "CONTAINER_ERROR", message: "it broke", suggestion: "retry", retryable: true, details: { id: "c1" } } },
    ]);
  });

  test("a plain Error becomes INTERNAL_ERROR", async () => {
    const res = ndjsonResponse(async () => {
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
    const res = ndjsonResponse(async (_send, signal) => {
      seen = signal;
      resolveRun();
      await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
      return {};
    }, client.signal);
    const reading = res.text();
    await running;
    expect(seen?.aborted).toBe(false);
    client.abort();
    expect(seen?.aborted).toBe(true);
    await reading;
  });

  test("cancelling the body aborts the operation's signal", async () => {
    let seen: AbortSignal | undefined;
    let resolveRun!: () => void;
    const running = new Promise<void>((r) => (resolveRun = r));
    const res = ndjsonResponse(async (send, signal) => {
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
