// The daemon's size follows what it holds: once workspaces are destroyed (and nothing else has been
// destroyed for a moment), one full collection hands the memory they used back to the system.
// Without it the collector, seeing no pressure, kept ~10 MB more after 20 workspaces came and went
// (bench/memory.ts). Debounced: 20 destroys in a row cost one collection, off every request's path.
import { appendFileSync, writeFileSync } from "node:fs";
import type { Runtime } from "../runtime/types.ts";
import type { EventBus } from "../core/events.ts";

export const RELEASE_AFTER_MS = 1500;

export function releaseMemoryAfterDestroys(events: EventBus, release: () => void, delayMs = RELEASE_AFTER_MS): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = events.subscribe((e) => {
    if (e.type !== "workspace.status" || e.payload.status !== "destroyed") return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      release();
    }, delayMs);
    // A pending collection never keeps a stopping daemon alive.
    (timer as { unref?: () => void }).unref?.();
  });
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
}

/**
 * NEXUS_DEBUG_HEAP=<file>: after each release, one JSON line with the process's memory and the
 * collector's live objects by type, so two rounds of create+destroy can be compared (a leak hunt's
 * evidence; off unless set, and it costs one heap walk per release). NEXUS_DEBUG_HEAP_SNAPSHOT=1
 * also writes a V8-format heap snapshot beside it (<file>.<n>.heapsnapshot).
 */
let reports = 0;
export async function appendHeapReport(file: string, runtime: Pick<Runtime, "heapCounts" | "heapSnapshot">, snapshot: boolean): Promise<void> {
  const mem = process.memoryUsage();
  const n = reports++;
  const line = { n, at: new Date().toISOString(), rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, counts: (await runtime.heapCounts?.()) ?? {} };
  appendFileSync(file, JSON.stringify(line) + "\n", { mode: 0o600 });
  const heap = snapshot ? runtime.heapSnapshot?.() : undefined;
  if (heap) writeFileSync(`${file}.${n}.heapsnapshot`, heap, { mode: 0o600 });
}
