// Waiting for a stream to take writes again: how a producer honours a slow reader. One wait for the
// exec transports' SSH channels (ssh/pool.ts, ssh/exec-agent.ts) and the gRPC server's calls.

/** An SSH channel, a gRPC server call, or any stream that says "drain" when it takes writes again and "close" when it ends. */
interface Drainable {
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Resolves once `stream` takes writes again or closes, or `signal` aborts (a cancelled gRPC call never
 * drains); at once when `closed()` says it has ended or the signal has aborted already.
 */
export function drained(stream: Drainable, opts: { closed?: () => boolean; signal?: AbortSignal } = {}): Promise<void> {
  if (opts.closed?.() || opts.signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      opts.signal?.removeEventListener("abort", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    opts.signal?.addEventListener("abort", done);
  });
}
