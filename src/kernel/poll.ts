// Waiting without fixed sleeps: one abortable sleep, one poll with a deadline, one retry with
// backoff. Every loop that waits for something outside (sshd, a daemon, a service, a port, the
// cgroup freezer) goes through these, so a deadline and an abort mean the same everywhere.

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface PollOptions {
  /** Epoch milliseconds after which no new probe starts. */
  deadline: number;
  /** The pause after the n-th probe (1-based): a number, or a backoff. */
  intervalMs: number | ((attempt: number) => number);
  signal?: AbortSignal;
}

/**
 * Probes until it answers something other than `undefined`, the deadline passes or the signal
 * aborts; the answer, or `undefined`. A probe may end the wait early by returning a value the
 * caller reads as "give up" (e.g. `false`).
 */
export async function pollUntil<T>(probe: (attempt: number) => Promise<T | undefined> | T | undefined, opts: PollOptions): Promise<T | undefined> {
  for (let attempt = 1; Date.now() < opts.deadline && !opts.signal?.aborted; attempt++) {
    const answer = await probe(attempt);
    if (answer !== undefined) return answer;
    const pause = typeof opts.intervalMs === "number" ? opts.intervalMs : opts.intervalMs(attempt);
    await sleep(Math.max(0, Math.min(pause, opts.deadline - Date.now())), opts.signal);
  }
  return undefined;
}

export interface RetryOptions {
  /** How many tries in all. */
  attempts: number;
  /** The pause after the n-th failed try (1-based). */
  delayMs: (attempt: number) => number;
  /** Whether this error is worth another try; anything else is thrown at once. */
  retryOn: (err: unknown) => boolean | Promise<boolean>;
  /** Told before each pause (progress, logs). */
  onRetry?: (attempt: number, err: unknown) => void;
}

/** Runs `fn` until it succeeds, its error is not one to retry, or the tries are spent (then its last error). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.attempts || !(await opts.retryOn(err))) throw err;
      opts.onRetry?.(attempt, err);
      await sleep(opts.delayMs(attempt));
    }
  }
}
