// Waiting for a channel's write window: the one wait both exec transports (pool.ts, exec-agent.ts) use.

/** An SSH channel, or any stream that says "drain" when it takes writes again and "close" when it ends. */
interface Drainable {
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Resolves once `channel` takes writes again or closes (at once when `closed()` says it has). */
export function drained(channel: Drainable, closed: () => boolean = () => false): Promise<void> {
  return new Promise((resolve) => {
    if (closed()) return resolve();
    const done = () => {
      channel.off("drain", done);
      channel.off("close", done);
      resolve();
    };
    channel.on("drain", done);
    channel.on("close", done);
  });
}
