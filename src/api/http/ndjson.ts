import { NexusError, toNexusError } from "../../core/errors.ts";

/**
 * Bytes queued for the client before `send` says to wait. Exec output honours it (the SSH channel
 * pauses), so its queue stays near this; a few KiB would cost a pause per SSH chunk for a fast reader.
 */
export const QUEUE_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Bytes of a streamed answer queued for a client that does not read, before the work is stopped. Only
 * a producer that ignores `send`'s answer gets here (progress events are small; exec waits).
 */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/**
 * Queues an event. Returns a promise when the client is behind (the queue is past its high-water
 * mark): a producer that can wait (exec output) waits for it before sending more. It settles when the
 * client has read below the mark, or when the stream ends (client gone): it never rejects.
 */
export type NdjsonSend = (event: object) => Promise<void> | undefined;

/**
 * A streamed answer: one JSON object per line. `run` writes events with `send`; its result ends the
 * stream as {type:"result"}, its error as {type:"error"}. Aborted when the client goes away.
 *
 * The answer is handed to the server once its first event is queued (or the stream ended): Bun sends
 * no header before the first chunk anyway, but a stream whose first chunk comes after the handler
 * returned goes out in pieces, a send() per header line and value (9 for an exec of `true`), where an
 * answer handed over with its first event goes out in one (a short exec's whole answer) or three.
 * When the run has already ended by then (a short exec: its result is the first event), the answer
 * is those bytes rather than the stream, so the server writes them without reading a stream: the
 * same status, headers and body (Bun frames both with a Content-Length).
 */
export function ndjsonResponse(run: (send: NdjsonSend, signal: AbortSignal) => Promise<object>, clientSignal: AbortSignal, opts: { highWaterBytes?: number; maxQueuedBytes?: number } = {}): Promise<Response> {
  const highWater = opts.highWaterBytes ?? QUEUE_HIGH_WATER_BYTES;
  const maxQueued = opts.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  const encoder = new TextEncoder();
  const abort = new AbortController();
  const onClientGone = () => abort.abort(new Error("client went away"));
  clientSignal.addEventListener("abort", onClientGone, { once: true });
  // Producers waiting for the client to read: woken by pull (the queue fell below the mark) or the end.
  let waiting: Array<() => void> = [];
  const wake = () => {
    const w = waiting;
    waiting = [];
    for (const fn of w) fn();
  };
  abort.signal.addEventListener("abort", wake, { once: true });
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let firstOut!: () => void;
  const started = new Promise<void>((resolve) => (firstOut = resolve));
  let open = true;
  let tooSlow = false;
  // What was queued before the answer was handed over (then undefined), and whether the run had ended by then.
  let early: Uint8Array<ArrayBuffer>[] | undefined = [];
  let ended = false;
  const send: NdjsonSend = (event) => {
    if (!open) return undefined;
    try {
      const bytes = encoder.encode(JSON.stringify(event) + "\n");
      controller.enqueue(bytes);
      early?.push(bytes);
    } catch {
      open = false; // cancelled by the client: nothing more can be queued
      return undefined;
    }
    firstOut();
    const desired = controller.desiredSize ?? 0;
    // A client that does not read must not grow the daemon's memory: past the limit the work stops.
    if (!tooSlow && desired < highWater - maxQueued) {
      tooSlow = true;
      abort.abort(new Error("client too slow"));
    }
    if (desired > 0 || abort.signal.aborted) return undefined;
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const work = async () => {
    try {
      const result = await run(send, abort.signal).catch((err: unknown) => {
        if (tooSlow) throw new NexusError("RESOURCE_EXHAUSTED", `The client fell ${maxQueued} bytes behind the stream; the work was stopped`, { suggestion: "Read the stream as it comes", retryable: false });
        throw err;
      });
      send({ type: "result", ...result });
    } catch (err) {
      send({ type: "error", error: toNexusError(err).toJSON() });
    } finally {
      open = false;
      wake();
      clientSignal.removeEventListener("abort", onClientGone);
      abort.signal.removeEventListener("abort", wake);
      try {
        controller.close();
        ended = true;
      } catch {
        // Already closed because the client went away.
      }
      firstOut();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    // start must return at once: the stream calls pull (which wakes waiting producers) only after it.
    start(c) {
      controller = c;
      void work();
    },
    // Called on each read while the queue is under the mark; waiting producers go on once it is half
    // empty, so a reader just behind the producer does not pause and resume the work on every chunk.
    pull(c) {
      if (waiting.length > 0 && (c.desiredSize ?? 0) >= highWater / 2) wake();
    },
    cancel() {
      abort.abort(new Error("client went away"));
    },
  }, { highWaterMark: highWater, size: (chunk) => chunk?.byteLength ?? 0 });
  const headers = { "content-type": "application/x-ndjson", "cache-control": "no-store" };
  const response = new Response(body, { status: 200, headers });
  return started.then(() => {
    const whole = early;
    early = undefined;
    return ended && whole ? new Response(whole.length === 1 ? whole[0]! : Buffer.concat(whole), { status: 200, headers }) : response;
  });
}

export function wantsStream(accept: string | undefined): boolean {
  return !!accept && accept.includes("application/x-ndjson");
}
