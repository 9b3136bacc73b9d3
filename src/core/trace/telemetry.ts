// Telemetry: with `telemetry.enabled: true` and `telemetry.endpoint` set, operation records also go
// to that endpoint, in batches POSTed as JSON. Nothing waits on it: records join a bounded queue
// (the oldest are dropped when it is full), one POST is in flight at a time with a timeout, and a
// failed POST drops its batch and is logged. Without both keys nothing leaves the machine.
import type { TraceRecord } from "../../kernel/trace.ts";
import type { Logger } from "../log.ts";
import type { TraceSink } from "./recorder.ts";

export interface TelemetryOptions {
  endpoint: string;
  /** Sent with every batch. */
  source: { version: string; runtime: string; platform: string };
  logger?: Logger;
  batchSize?: number;
  /** A batch leaves at most this long after its first record. */
  flushMs?: number;
  maxQueue?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** What is sent of a record: no names, paths, commands or messages (they may say what a user works on). */
export type TelemetryRecord = Pick<TraceRecord, "id" | "operation" | "startedAt" | "durationMs" | "result" | "errorCode" | "surface" | "exitCode" | "workspaceId">;

export function telemetryRecord(r: TraceRecord): TelemetryRecord {
  const { id, operation, startedAt, durationMs, result, errorCode, surface, exitCode, workspaceId } = r;
  return { id, operation, startedAt, durationMs, result, surface, ...(errorCode ? { errorCode } : {}), ...(exitCode !== undefined ? { exitCode } : {}), ...(workspaceId ? { workspaceId } : {}) };
}

/** The sink, when the config asks for one: enabled true and an endpoint (http or https). */
export function telemetryFromConfig(t: { enabled?: boolean; endpoint?: string } | undefined, opts: Omit<TelemetryOptions, "endpoint">): TelemetryExporter | undefined {
  if (t?.enabled !== true || !t.endpoint) return undefined;
  return new TelemetryExporter({ ...opts, endpoint: t.endpoint });
}

export class TelemetryExporter implements TraceSink {
  readonly #o: Required<Omit<TelemetryOptions, "logger">> & { logger?: Logger };
  #queue: TelemetryRecord[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  /** Counters for `nexus doctor`-like questions and the tests. */
  readonly counts = { sent: 0, dropped: 0, failedBatches: 0 };

  constructor(o: TelemetryOptions) {
    this.#o = { batchSize: 100, flushMs: 5000, maxQueue: 1000, timeoutMs: 5000, fetch: globalThis.fetch.bind(globalThis), ...o };
  }

  push(r: TraceRecord): void {
    if (this.#closed) return;
    this.#queue.push(telemetryRecord(r));
    if (this.#queue.length > this.#o.maxQueue) this.counts.dropped += this.#queue.splice(0, this.#queue.length - this.#o.maxQueue).length;
    if (this.#queue.length >= this.#o.batchSize) this.#kick();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#kick(), this.#o.flushMs);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#o.batchSize);
    this.#inFlight = this.#send(batch).finally(() => {
      this.#inFlight = undefined;
      // More waited meanwhile: the next batch goes now if full, else on the timer.
      if (this.#queue.length >= this.#o.batchSize) this.#kick();
      else if (this.#queue.length > 0 && !this.#timer && !this.#closed) {
        this.#timer = setTimeout(() => this.#kick(), this.#o.flushMs);
        (this.#timer as { unref?: () => void }).unref?.();
      }
    });
  }

  async #send(batch: TelemetryRecord[]): Promise<void> {
    try {
      const res = await this.#o.fetch(this.#o.endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ source: { name: "nexus", ...this.#o.source }, operations: batch }),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.counts.sent += batch.length;
    } catch (err) {
      this.counts.failedBatches++;
      this.counts.dropped += batch.length;
      this.#o.logger?.warn(`telemetry: ${batch.length} record(s) not sent to ${this.#o.endpoint}: ${(err as Error).message}`);
    }
  }

  /** Sends what waits (one last batch, bounded by the timeout) and stops. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#inFlight;
    this.#kick();
    await this.#inFlight;
    clearTimeout(this.#timer);
  }
}
