// `nexus trace stats`: counts, failures and duration percentiles per operation (pure).
import type { TraceRecord, TraceStats } from "../../kernel/trace.ts";

/** The nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function traceStats(records: readonly TraceRecord[]): TraceStats {
  const by = new Map<string, TraceRecord[]>();
  for (const r of records) by.set(r.operation, [...(by.get(r.operation) ?? []), r]);
  const operations = [...by.entries()]
    .map(([operation, rs]) => {
      const ms = rs.map((r) => r.durationMs).sort((a, b) => a - b);
      const errorCodes: Record<string, number> = {};
      for (const r of rs) if (r.result === "error") errorCodes[r.errorCode ?? "UNKNOWN"] = (errorCodes[r.errorCode ?? "UNKNOWN"] ?? 0) + 1;
      return { operation, count: rs.length, errors: rs.filter((r) => r.result === "error").length, errorCodes, p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), maxMs: ms[ms.length - 1] ?? 0 };
    })
    .sort((a, b) => b.count - a.count || a.operation.localeCompare(b.operation));
  const since = records.reduce<string | null>((min, r) => (min === null || r.startedAt < min ? r.startedAt : min), null);
  return { total: records.length, since, operations };
}
