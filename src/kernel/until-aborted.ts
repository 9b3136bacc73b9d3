// A wait that Ctrl-C (an abort) ends: the CLI waits for its output to be written, which a reader that
// never reads (a full pipe, a paused terminal) would hold for ever.

/** `held`'s outcome, or a rejection with the signal's reason once it aborts first. */
export function untilAborted<T>(held: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(signal.reason)));
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([held, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
