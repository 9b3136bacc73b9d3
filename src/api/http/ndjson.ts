import { NexusError, toNexusError } from "../../core/errors.ts";

/** Bytes of a streamed answer queued for a client that does not read, before the work is stopped. */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/**
 * A streamed answer: one JSON object per line. `run` writes events with `send`; its result ends the
 * stream as {type:"result"}, its error as {type:"error"}. Aborted when the client goes away.
 */
export function ndjsonResponse(run: (send: (event: object) => void, signal: AbortSignal) => Promise<object>, clientSignal: AbortSignal): Response {
  const encoder = new TextEncoder();
  const abort = new AbortController();
  const onClientGone = () => abort.abort(new Error("client went away"));
  clientSignal.addEventListener("abort", onClientGone, { once: true });
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      let open = true;
      let tooSlow = false;
      const send = (event: object) => {
        if (!open) return;
        controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
        // A client that does not read must not grow the daemon's memory: past the limit the work stops.
        if (!tooSlow && (controller.desiredSize ?? 0) < -MAX_QUEUED_BYTES) {
          tooSlow = true;
          abort.abort(new Error("client too slow"));
        }
      };
      try {
        const result = await run(send, abort.signal).catch((err: unknown) => {
          if (tooSlow) throw new NexusError("RESOURCE_EXHAUSTED", `The client fell ${MAX_QUEUED_BYTES} bytes behind the stream; the work was stopped`, { suggestion: "Read the stream as it comes", retryable: false });
          throw err;
        });
        send({ type: "result", ...result });
      } catch (err) {
        send({ type: "error", error: toNexusError(err).toJSON() });
      } finally {
        open = false;
        clientSignal.removeEventListener("abort", onClientGone);
        try {
          controller.close();
        } catch {
          // Already closed because the client went away.
        }
      }
    },
    cancel() {
      abort.abort(new Error("client went away"));
    },
  }, { highWaterMark: 64 * 1024, size: (chunk) => chunk?.byteLength ?? 0 });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
}

export function wantsStream(accept: string | undefined): boolean {
  return !!accept && accept.includes("application/x-ndjson");
}
