// Waiting in tests: on a condition with a deadline, never a fixed sleep. A loaded machine (2 cores,
// load 10+) makes everything slower by an unknown factor, so a test waits for what it needs to see
// and fails only after a generous deadline, naming what it waited for and the last thing it saw.
import { existsSync, readFileSync } from "node:fs";
import { pollUntil } from "../../src/kernel/poll.ts";

export interface WaitOptions {
  /** How long at the most (default 60 s: containers and SSH on a loaded machine). */
  timeoutMs?: number;
  /** The pause between probes (default 100 ms). */
  intervalMs?: number;
  /** Extra words for the failure (a log tail, a screen). */
  detail?: () => string;
  /**
   * A probe that throws is one more "not yet" (a server still starting, a file being replaced);
   * its last error is named at the deadline. Without this, a throw ends the wait with its error.
   */
  retryErrors?: boolean;
}

/**
 * Probes until `ok` holds for what the probe answers (by default: the answer is truthy), then
 * returns that answer; after the deadline throws `<what>: still <last answer>`. A probe that
 * throws ends the wait with its error, unless `retryErrors`.
 */
export async function until<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean = Boolean, opts: WaitOptions | number = {}): Promise<T> {
  const o = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? 60_000;
  let last: T | undefined;
  let lastError: unknown;
  const look = async (): Promise<{ value: T } | undefined> => {
    try {
      last = await probe();
      lastError = undefined;
    } catch (err) {
      if (!o.retryErrors) throw err;
      lastError = err;
      return undefined;
    }
    return ok(last) ? { value: last } : undefined;
  };
  const found = await pollUntil(look, { deadline: Date.now() + timeoutMs, intervalMs: o.intervalMs ?? 100 });
  if (found) return found.value;
  // One last look: the deadline may have passed while the previous probe ran.
  const final = await look();
  if (final) return final.value;
  const shown = lastError !== undefined ? `failing: ${lastError instanceof Error ? lastError.message : String(lastError)}` : typeof last === "string" ? last : JSON.stringify(last);
  throw new Error(`${what}: not within ${timeoutMs} ms; still ${shown}${o.detail ? `\n${o.detail()}` : ""}`);
}

/**
 * The exit status a shell line wrote with `echo $? > file`, once it is written whole. The shell
 * makes the file before echo writes to it, so "the file exists" can be seen while it is still empty.
 */
export async function exitStatusIn(file: string, what = "the command exits", opts: WaitOptions | number = {}): Promise<number> {
  const line = await until(what, () => (existsSync(file) ? readFileSync(file, "utf8") : ""), (s) => s.endsWith("\n"), opts);
  return Number(line.trim());
}
