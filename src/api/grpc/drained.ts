// Waiting for a server stream's queue to empty: how a producer (a tar, exec output) honours a slow reader.

/** What a grpc-js server call gives for this: its 'drain' event. */
interface Drains {
  on(event: "drain", fn: () => void): unknown;
  off(event: "drain", fn: () => void): unknown;
}

/** Resolves when the call can take more, or when it is cancelled (a cancelled call never drains). */
export function drained(call: Drains, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.on("drain", done);
    signal.addEventListener("abort", done);
  });
}
