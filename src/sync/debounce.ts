// Bursts of file events (an editor's save, a checkout) become one sync pass: the pass runs `delayMs`
// after the last event, and at the latest `maxWaitMs` after the first, so a steady stream of events
// (a build writing files) still syncs while it goes on.
export interface Debouncer {
  /** An event happened. */
  poke(): void;
  /** Drops a waiting call. */
  cancel(): void;
  readonly pending: boolean;
}

export function debounce(fn: () => void, delayMs: number, maxWaitMs = delayMs * 10): Debouncer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let first = 0;
  const fire = () => {
    timer = undefined;
    first = 0;
    fn();
  };
  return {
    poke() {
      const now = Date.now();
      if (timer === undefined) first = now;
      else clearTimeout(timer);
      const wait = Math.max(0, Math.min(delayMs, first + maxWaitMs - now));
      timer = setTimeout(fire, wait);
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      first = 0;
    },
    get pending() {
      return timer !== undefined;
    },
  };
}
