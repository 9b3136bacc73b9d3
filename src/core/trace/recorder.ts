// The operation history (`nexus trace`): records arrive from the façade wrapper (facades.ts), wait in
// memory for the next turn of the event loop and are then appended in one write, so recording costs
// an operation a push onto an array, never a disk write in its path. Reads flush first.
import type { TraceRecord, TraceStats, TraceSurface } from "../../kernel/trace.ts";
import { toNexusError } from "../../kernel/errors.ts";
import type { TraceLog } from "../../store/trace-log.ts";
import type { Logger } from "../log.ts";
import { traceStats } from "./stats.ts";

/** Where records also go when telemetry is on (telemetry.ts). */
export interface TraceSink {
  push(r: TraceRecord): void;
}

export interface OperationTraceDeps {
  log: TraceLog;
  logger?: Logger;
  /** Telemetry, when enabled and given an endpoint. */
  sink?: TraceSink;
  /** False: nothing is recorded (NEXUS_TRACE=off; the benchmark's baseline). */
  enabled?: boolean;
}

export interface TraceQuery {
  /** A workspace's id or name. */
  workspace?: string;
  limit?: number;
}

/** The start of one operation; `end` records it (a span never ended leaves no record). */
export interface TraceSpan {
  end(outcome: { error?: unknown; workspaceId?: string; workspace?: string; exitCode?: number }): void;
}

let counter = 0;
/** op-<start time base36>-<random>: unique and sorted by start. */
function newId(startMs: number): string {
  counter = (counter + 1) % 1296;
  const rand = Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString("hex");
  return `op-${startMs.toString(36)}${counter.toString(36).padStart(2, "0")}-${rand}`;
}

export class OperationTrace {
  readonly #d: OperationTraceDeps;
  #unmade: Array<() => TraceRecord> = [];
  #flushing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(deps: OperationTraceDeps) {
    this.#d = deps;
  }

  get enabled(): boolean {
    return this.#d.enabled !== false;
  }

  /** Marks the start of an operation; the record is made when its span ends. */
  begin(operation: string, surface: TraceSurface, who: { workspaceId?: string; workspace?: string } = {}): TraceSpan {
    if (!this.enabled) return { end: () => {} };
    const startMs = Date.now();
    const t0 = performance.now();
    return {
      end: (outcome) => {
        // The duration is taken now; the record is made off the operation's path, before anything reads it (#made).
        const durationMs = Math.round((performance.now() - t0) * 10) / 10;
        this.#add(() => {
          const r: TraceRecord = {
            id: newId(startMs),
            operation,
            startedAt: new Date(startMs).toISOString(),
            durationMs,
            result: outcome.error === undefined ? "ok" : "error",
            surface,
          };
          if (outcome.error !== undefined) {
            const e = toNexusError(outcome.error);
            r.errorCode = e.code;
            r.errorMessage = e.message.slice(0, 300);
          }
          const workspaceId = outcome.workspaceId ?? who.workspaceId;
          const workspace = outcome.workspace ?? who.workspace;
          if (workspaceId) r.workspaceId = workspaceId;
          if (workspace) r.workspace = workspace;
          if (outcome.exitCode !== undefined) r.exitCode = outcome.exitCode;
          return r;
        });
      },
    };
  }

  #add(make: () => TraceRecord): void {
    this.#unmade.push(make);
    // One write per turn of the event loop, whatever the number of records.
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, 0);
    }
  }

  /**
   * The records of the spans ended since, made in the order they ended, and handed to telemetry.
   * Made here, in the flush's timer rather than in the operation, a record that cannot be made (an
   * error whose message or text throws) is logged and left out: it must not end the daemon.
   */
  #made(): TraceRecord[] {
    const made: TraceRecord[] = [];
    for (const make of this.#unmade.splice(0)) {
      let r: TraceRecord;
      try {
        r = make();
      } catch (err) {
        this.#d.logger?.warn(`operation history: a record could not be made: ${describe(err)}`);
        continue;
      }
      made.push(r);
      try {
        this.#d.sink?.push(r);
      } catch {
        // Telemetry never fails an operation.
      }
    }
    return made;
  }

  /** Writes what waits; resolves when it is on disk (or failed: logged, dropped). */
  flush(): Promise<void> {
    const batch = this.#made();
    const previous = this.#flushing ?? Promise.resolve();
    const run = previous.then(() =>
      this.#d.log.append(batch).catch((err: Error) => this.#d.logger?.warn(`operation history: ${batch.length} record(s) not written: ${err.message}`)),
    );
    this.#flushing = run;
    return run;
  }

  /** Newest first, optionally of one workspace (id or name); `limit` default 50. */
  async list(q: TraceQuery = {}): Promise<TraceRecord[]> {
    const all = await this.#all();
    const mine = q.workspace ? all.filter((r) => r.workspaceId === q.workspace || r.workspace === q.workspace) : all;
    return mine.reverse().slice(0, q.limit ?? 50);
  }

  async get(id: string): Promise<TraceRecord | undefined> {
    return (await this.#all()).find((r) => r.id === id);
  }

  async stats(q: { workspace?: string } = {}): Promise<TraceStats> {
    const all = await this.#all();
    return traceStats(q.workspace ? all.filter((r) => r.workspaceId === q.workspace || r.workspace === q.workspace) : all);
  }

  /** Every record, oldest first. */
  async export(): Promise<TraceRecord[]> {
    return this.#all();
  }

  /** Removes records that started more than `olderThanSeconds` ago. */
  async prune(olderThanSeconds: number): Promise<{ removed: number; before: string }> {
    await this.flush();
    const before = new Date(Date.now() - olderThanSeconds * 1000);
    return { removed: await this.#d.log.prune(before), before: before.toISOString() };
  }

  async #all(): Promise<TraceRecord[]> {
    await this.flush();
    return this.#d.log.read();
  }
}

/** An error as text for the log, even one whose message or text throws. */
function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return "(an error that cannot be shown)";
  }
}
