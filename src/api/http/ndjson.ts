import { toNexusError } from "../../core/errors.ts";

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
      const send = (event: object) => {
        if (open) controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
      };
      try {
        const result = await run(send, abort.signal);
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
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
}

export function wantsStream(accept: string | undefined): boolean {
  return !!accept && accept.includes("application/x-ndjson");
}
