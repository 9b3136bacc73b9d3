// A command's output held in the daemon's memory is bounded: a workspace can print without end
// (`yes`, `cat /dev/urandom`), and one such command must not grow the daemon until the host kills it.
import { NexusError } from "./errors.ts";
import type { ExecExit } from "../ssh/pool.ts";

/** stdout + stderr of one exec answered as a single JSON document (REST /exec without streaming). */
export const MAX_COLLECTED_OUTPUT_BYTES = 16 * 1024 * 1024;
/** The daemon's own shells (hooks, service probes) keep the last this-many bytes of each stream. */
export const MAX_SHELL_OUTPUT_BYTES = 4 * 1024 * 1024;

export interface ExecStreams {
  onStdout?: (b: Buffer) => void;
  onStderr?: (b: Buffer) => void;
  signal?: AbortSignal;
}

export function outputTooLarge(limit: number): NexusError {
  return new NexusError("RESOURCE_EXHAUSTED", `The command's output passed ${limit} bytes, so it was stopped`, {
    suggestion: "Stream the output instead (REST: Accept: application/x-ndjson; gRPC ExecStream; WebSocket exec; 'nexus exec' streams), or redirect it to a file",
    retryable: false,
    details: { limitBytes: limit },
  });
}

/**
 * Runs `run` collecting stdout and stderr; past `limit` bytes in all, the command is stopped (its
 * signal aborts) and RESOURCE_EXHAUSTED is thrown instead of an answer.
 */
export async function collectOutput(
  run: (streams: ExecStreams) => Promise<ExecExit>,
  opts: { limit?: number; signal?: AbortSignal } = {},
): Promise<ExecExit & { stdout: string; stderr: string }> {
  const limit = opts.limit ?? MAX_COLLECTED_OUTPUT_BYTES;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stop = new AbortController();
  let total = 0;
  const take = (into: Buffer[]) => (b: Buffer) => {
    if (stop.signal.aborted) return;
    total += b.length;
    if (total > limit) {
      out.length = 0;
      err.length = 0;
      stop.abort();
      return;
    }
    into.push(b);
  };
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let exit: ExecExit;
  try {
    exit = await run({ onStdout: take(out), onStderr: take(err), signal });
  } catch (e) {
    if (stop.signal.aborted) throw outputTooLarge(limit);
    throw e;
  }
  if (stop.signal.aborted) throw outputTooLarge(limit);
  return { ...exit, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

/** Keeps the last `limit` bytes written to it (a hook's log tail), whatever was written before. */
export class TailBuffer {
  readonly #limit: number;
  #parts: Buffer[] = [];
  #size = 0;
  #dropped = 0;

  constructor(limit = MAX_SHELL_OUTPUT_BYTES) {
    this.#limit = limit;
  }

  push = (b: Buffer): void => {
    this.#parts.push(b);
    this.#size += b.length;
    while (this.#size > this.#limit && this.#parts.length > 0) {
      const first = this.#parts[0]!;
      const excess = this.#size - this.#limit;
      if (first.length <= excess) {
        this.#parts.shift();
        this.#size -= first.length;
        this.#dropped += first.length;
      } else {
        this.#parts[0] = first.subarray(excess);
        this.#size -= excess;
        this.#dropped += excess;
      }
    }
  };

  /** Bytes left out at the front. */
  get dropped(): number {
    return this.#dropped;
  }

  toString(): string {
    const text = Buffer.concat(this.#parts).toString("utf8");
    return this.#dropped > 0 ? `[… ${this.#dropped} bytes of earlier output left out]\n${text}` : text;
  }
}
