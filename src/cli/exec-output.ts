// What `nexus exec` does with the daemon's events for a terminal or a pipe (not --json): output
// written as it comes, a resumed workspace said on stderr. Shared by the full command
// (commands/exec.ts) and the plain form's own path (exec-lane.ts), so both print alike.
import type { StreamEvent } from "./client.ts";
import { resumedLine } from "./resumed.ts";
import { unwrittenMarks } from "./unwritten.ts";

/**
 * Prints exec's events with `write` (the plain form's writeOutput, the full command's writeStreamed: stdio.ts);
 * what it returns for an output event is the caller's to hand back to the stream (a promise while
 * our stdout or stderr is behind: the next read waits, and the daemon pauses the command: unwritten.ts).
 */
export function execPrinter(ws: string, write: (fd: 1 | 2, data: string | Uint8Array) => Promise<void>): (e: StreamEvent) => Promise<void> | undefined {
  const written = unwrittenMarks();
  return (e) => {
    if (e.type === "resumed") {
      void write(2, resumedLine(ws, e) + "\n");
      return undefined;
    }
    if (e.type !== "stdout" && e.type !== "stderr") return undefined;
    const data = fromBase64(String(e.data ?? ""));
    return written(write(e.type === "stdout" ? 1 : 2, data), data.length);
  };
}

/**
 * Output as the daemon sends it (base64) to bytes: Uint8Array.fromBase64 where the runtime has it
 * (its first use costs a command 0.3 ms where Buffer's costs 1.3), else Buffer.
 */
export function fromBase64(text: string): Uint8Array {
  const u8 = Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array };
  return u8.fromBase64 ? u8.fromBase64(text) : Buffer.from(text, "base64");
}
