// Back-pressure from our own stdout to a daemon stream (`nexus exec`, `nexus services logs -f`, `nexus sessions logs -f`):
// a promise returned to client.stream's onEvent holds the next read, and the daemon then pauses the source.
// `nexus sessions attach` pauses its WebSocket instead (pausingWriter), and the daemon then pauses the terminal.
import type { StreamSink } from "../runtime/stdio.ts";

/** Output handed to stdout/stderr but not written yet, before the CLI stops reading more. */
export const MAX_UNWRITTEN_BYTES = 1024 * 1024;

/**
 * Marks the output handed to a writer every `every` bytes; when the previous mark is not written yet
 * by the next one, `wrote` answers its promise (the caller returns it from onEvent). One promise per
 * mark rather than per line or chunk; at most about two marks' worth is held.
 */
export function unwrittenMarks(every = MAX_UNWRITTEN_BYTES): (done: Promise<void>, bytes: number) => Promise<void> | undefined {
  let sinceMark = 0;
  let mark: { written: boolean; done: Promise<void> } | undefined;
  return (done, bytes) => {
    sinceMark += bytes;
    if (sinceMark < every) return undefined;
    sinceMark = 0;
    const previous = mark;
    const next = { written: false, done };
    void done.then(() => void (next.written = true), () => void (next.written = true));
    mark = next;
    return previous && !previous.written ? previous.done : undefined;
  };
}

/** A source of output that can stop being read (the attach's WebSocket). */
export interface PausableSource {
  pause(): void;
  resume(): void;
}

export interface PausingWriter {
  write(text: string): void;
  /** Resolves once everything handed over is written (or failed: a reader gone is EPIPE). */
  flushed(): Promise<void>;
}

/**
 * Writes to `out` and pauses `source` while more than `max` characters handed to `out` are not
 * written yet, resuming it below a quarter of that. Bun's stdout takes every write into a pipe whose
 * reader is behind and holds it (write() answers false, the callback comes once it is written), so
 * a reader that reads nothing would otherwise have the CLI hold all of the stream.
 */
export function pausingWriter(out: StreamSink, source: PausableSource, max = MAX_UNWRITTEN_BYTES): PausingWriter {
  let unwritten = 0;
  let paused = false;
  const waiting: Array<() => void> = [];
  return {
    write(text) {
      if (text === "") return;
      unwritten += text.length;
      out.write(text, () => {
        unwritten -= text.length;
        if (paused && unwritten <= max / 4) {
          paused = false;
          source.resume();
        }
        if (unwritten === 0) for (const done of waiting.splice(0)) done();
      });
      if (!paused && unwritten > max) {
        paused = true;
        source.pause();
      }
    },
    flushed: () => (unwritten === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve))),
  };
}
