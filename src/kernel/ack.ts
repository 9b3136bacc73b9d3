// Back-pressure acknowledgements: an output callback answers a promise (any thenable) when its reader
// is behind, anything else when the output was taken (ssh/pool.ts OutputAck). Producers that hand one
// piece of their source to several callbacks (a chunk split into log lines) wait for all of them.

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/**
 * Collects the acks of one piece of output: `add` each callback's answer, `ack` is what the producer
 * answers in turn: undefined when every reader took its part, else a promise that settles (never
 * rejects) once all the pending ones have.
 */
export class Acks {
  #pending: PromiseLike<unknown>[] = [];

  add(v: unknown): void {
    if (isThenable(v)) this.#pending.push(v);
  }

  ack(): Promise<void> | undefined {
    const p = this.#pending;
    this.#pending = [];
    if (p.length === 0) return undefined;
    const settle = () => undefined;
    return Promise.all(p.map((x) => Promise.resolve(x).then(settle, settle))).then(settle);
  }
}

/** Waits for an ack when it is a promise (its rejection is the reader's business, not the producer's). */
export async function waitAck(v: unknown): Promise<void> {
  if (isThenable(v)) await Promise.resolve(v).then(() => undefined, () => undefined);
}
