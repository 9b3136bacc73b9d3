// Waiting in tests: on a condition with a deadline, never a fixed sleep. A loaded machine (2 cores,
// load 10+) makes everything slower by an unknown factor, so a test waits for what it needs to see
// and fails only after a generous deadline, naming what it waited for and the last thing it saw.
import { pollUntil } from "../../src/kernel/poll.ts";

export interface WaitOptions {
  /** How long at the most (default 60 s: containers and SSH on a loaded machine). */
  timeoutMs?: number;
  /** The pause between probes (default 100 ms). */
  intervalMs?: number;
  /** Extra words for the failure (a log tail, a screen). */
  detail?: () => string;
}

/**
 * Probes until `ok` holds for what the probe answers (by default: the answer is truthy), then
 * returns that answer; after the deadline throws `<what>: still <last answer>`. A probe that
 * throws ends the wait with its error.
 */
export async function until<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean = Boolean, opts: WaitOptions | number = {}): Promise<T> {
  const o = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? 60_000;
  let last: T | undefined;
  const found = await pollUntil(
    async () => {
      last = await probe();
      return ok(last) ? { value: last } : undefined;
    },
    { deadline: Date.now() + timeoutMs, intervalMs: o.intervalMs ?? 100 },
  );
  if (found) return found.value;
  // One last look: the deadline may have passed while the previous probe ran.
  last = await probe();
  if (ok(last)) return last;
  const shown = typeof last === "string" ? last : JSON.stringify(last);
  throw new Error(`${what}: not within ${timeoutMs} ms; still ${shown}${o.detail ? `\n${o.detail()}` : ""}`);
}
