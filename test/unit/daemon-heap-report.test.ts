// NEXUS_DEBUG_HEAP: the daemon's evidence for a leak hunt (bench/memory.ts reads it). One JSON line
// per report with the collector's live objects by type, and a heap snapshot DevTools can read on demand.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appendHeapReport } from "../../src/daemon/memory.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";

// The report reads JavaScriptCore's heap through the Bun adapter (bun:jsc, Bun.gc): under Deno
// (npm run test:deno) there is no such heap to read, so the file is Bun's alone.
const onBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

describe.skipIf(!onBun)("heap report", () => {
  test("each report is one line with the heap's size and its live objects by type; 50 Maps held show as 50 more Maps", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-heap-report-"));
    try {
      const file = join(dir, "heap.jsonl");
      bunRuntime.releaseMemory();
      await appendHeapReport(file, bunRuntime, false);
      const held = Array.from({ length: 50 }, () => new Map<string, number>());
      bunRuntime.releaseMemory();
      await appendHeapReport(file, bunRuntime, false);
      const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { rss: number; counts: Record<string, number> });
      expect(lines).toHaveLength(2);
      const [before, after] = lines as [(typeof lines)[0], (typeof lines)[0]];
      expect(after.rss).toBeGreaterThan(0);
      expect(after.counts.heapSize).toBeGreaterThan(after.counts.extraMemorySize!);
      expect(after.counts.objectCount).toBeGreaterThan(0);
      expect(after.counts.Map! - before.counts.Map!).toBe(50);
      expect(held).toHaveLength(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with the snapshot asked for, a V8-format heap snapshot is written beside the line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-heap-report-"));
    try {
      const file = join(dir, "heap.jsonl");
      await appendHeapReport(file, bunRuntime, true);
      const n = (JSON.parse(readFileSync(file, "utf8").trim().split("\n").pop()!) as { n: number }).n;
      const snapshot = JSON.parse(readFileSync(`${file}.${n}.heapsnapshot`, "utf8")) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
      expect(snapshot.snapshot.meta.node_fields).toContain("self_size");
      expect(snapshot.nodes.length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
