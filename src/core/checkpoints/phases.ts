// Where the time of a checkpoint create or restore goes: each phase's milliseconds, kept in the
// record and the restore's answer and logged, so a slow step is named instead of guessed (the
// bench prints the split). Parts that run side by side are timed each on its own.

export type PhaseTimes = Record<string, number>;

export class Phases {
  readonly ms: PhaseTimes = {};
  /** When each phase first began, in ms from the start: the log's timeline shows what overlapped. */
  readonly at: PhaseTimes = {};
  readonly #start = performance.now();
  #last = this.#start;

  /** Closes the phase that ran since the previous mark (or since the start). */
  mark(name: string): void {
    const now = performance.now();
    this.at[name] ??= Math.round(this.#last - this.#start);
    this.ms[name] = (this.ms[name] ?? 0) + Math.round(now - this.#last);
    this.#last = now;
  }

  /** Times one part that runs beside others; the sequential clock is left alone. */
  async part<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    this.at[name] ??= Math.round(t - this.#start);
    try {
      return await fn();
    } finally {
      this.ms[name] = Math.round(performance.now() - t);
    }
  }

  /** Records a phase that began at `t` (a performance.now()) and ends now, beside the others. */
  since(name: string, t: number): void {
    this.at[name] ??= Math.round(t - this.#start);
    this.ms[name] = Math.round(performance.now() - t);
  }

  /** "freeze 12 ms @0, commit 80 ms @12, ..." for the log (@: when it began). */
  toString(): string {
    return Object.entries(this.ms)
      .map(([k, v]) => `${k} ${v} ms @${this.at[k] ?? 0}`)
      .join(", ");
  }
}

/**
 * Runs parts side by side and waits for every one of them (a failed part must not leave another
 * still writing while the caller cleans up); the first failure is thrown after all have ended.
 */
export async function allSettled<T extends readonly unknown[]>(parts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(parts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
