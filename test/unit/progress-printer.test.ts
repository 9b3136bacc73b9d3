// How `nexus create` shows a build: on a terminal one line redrawn in place (spinner, the package
// being worked on, the step's own time); in a log a detail line every few seconds only.
import { describe, expect, test } from "bun:test";
import { progressPrinter } from "../../src/cli/progress.ts";
import type { CliContext } from "../../src/cli/context.ts";
import { setTimeout as sleep } from "node:timers/promises";

function fakeCtx(lines: string[]): CliContext {
  return { json: false, color: false, log: async (l: string) => void lines.push(l) } as unknown as CliContext;
}

const step = { type: "progress", phase: "image", message: "Step 5/11 : RUN apt-get update" };
const detail = (m: string) => ({ type: "progress", phase: "image-detail", message: `Step 5/11: ${m}` });

describe("progressPrinter", () => {
  test("without a terminal: every step line, detail lines at most one per 3 s", () => {
    const lines: string[] = [];
    const p = progressPrinter(fakeCtx(lines), Date.now(), false);
    p.event(step);
    for (let i = 1; i <= 50; i++) p.event(detail(`unpacking pkg${i} (${i}/50)`));
    p.event({ type: "progress", phase: "container", message: "Creating container" });
    p.end();
    expect(lines.map((l) => l.replace(/^\[\d+\.\ds\] /, ""))).toEqual(["Step 5/11 : RUN apt-get update", "Creating container"]);
  });

  test("on a terminal: the current package is drawn in place with the step's time, then cleared", async () => {
    const lines: string[] = [];
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const p = progressPrinter(fakeCtx(lines), Date.now(), true);
      p.event(step);
      p.event(detail("unpacking git (7/42)"));
      await sleep(350);
      p.event({ type: "progress", phase: "container", message: "Creating container" });
      p.end();
    } finally {
      process.stderr.write = write;
    }
    const drawn = written.filter((w) => w.includes("unpacking git (7/42)"));
    expect(drawn.length).toBeGreaterThan(0);
    expect(drawn[0]).toMatch(/^\r\u001b\[K\[\d+\.\ds\] [⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Step 5\/11: unpacking git \(7\/42\) \(0s\)$/);
    expect(written.at(-1)).toBe("\r\u001b[K"); // cleared before the next line
    expect(lines.map((l) => l.replace(/^\[\d+\.\ds\] /, ""))).toEqual(["Step 5/11 : RUN apt-get update", "Creating container"]);
  });
});
