// What `nexus exec` does with its own standard input. As ssh does: stdin that is not a terminal
// (a pipe, a file) is forwarded until its end, then the command sees end of file; a terminal is
// forwarded only with -i (docker exec's rule), and /dev/null or a terminal without -i is not read
// at all (the command's stdin is closed at once). Forwarded input travels in the streamed exec
// request's body (src/api/http/exec-input.ts), with terminal sizes when -t gave the command a PTY.
import { NexusError } from "../core/errors.ts";
import { isTerminal, stdinIsNull, stdinStream } from "../runtime/stdio.ts";

export type StdinMode = "closed" | "forward";

// isatty through the runtime (src/runtime/stdio.ts): node:tty's import alone costs more than the
// rest of `nexus exec`'s start (it loads net and streams), and node:fs's fstat about as much.
export function stdinMode(interactive: boolean): StdinMode {
  // A terminal: nothing to read unless asked for (-i). A pipe, a file, /dev/null: see unlessEnded.
  if (isTerminal(0)) return interactive ? "forward" : "closed";
  return "forward";
}

/**
 * Our stdin as unlessEnded sees it; /dev/null is known to have ended without reading it (stdio.ts
 * stdinIsNull), so the command's stdin is closed at once as it would be after reading its end.
 */
export function stdinUnlessEnded(): Promise<ReadableStream<Uint8Array> | undefined> {
  return stdinIsNull() ? Promise.resolve(undefined) : unlessEnded(stdinStream());
}

/**
 * `source` (our stdin), or undefined when it has already ended: /dev/null, an empty file, a closed
 * descriptor. The command's stdin is then closed at once, which is what forwarding an immediate end
 * would come to, without a streamed request. Input still to come (a pipe whose writer is there, or
 * whose end is not seen within this turn of the event loop) is forwarded as before. The first read
 * is kept and handed on; nothing else is read ahead.
 */
export async function unlessEnded(source: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array> | undefined> {
  const reader = source.getReader();
  type Read = { done: true; value?: undefined } | { done: false; value: Uint8Array };
  const read = (): Promise<Read> => reader.read().then((r) => r as Read, () => ({ done: true }));
  const first = read();
  let pending: Promise<Read> | undefined = first;
  const atEnd = await Promise.race([first.then((r) => r.done), new Promise<false>((resolve) => setImmediate(() => resolve(false)))]);
  if (atEnd) {
    void reader.cancel().catch(() => {});
    return undefined;
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const r = await (pending ?? read());
        pending = undefined;
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

export interface StdinBody {
  body: ReadableStream<Uint8Array> | ResendableBody;
  /** Stops reading stdin and restores the terminal (raw mode, resize handler). */
  stop(): void;
}

/**
 * The streamed exec body: the request line, then stdin chunks (and resizes) as they come, then EOF.
 * `source` is the runtime's own stdin reader: used when there is no terminal to drive (no raw mode,
 * no resizes), it is pulled only as fast as the request is sent. Without it, node's process.stdin.
 */
export function stdinBody(request: object, opts: { raw: boolean; resize: boolean }, source?: ReadableStream<Uint8Array>): StdinBody {
  if (source && !opts.raw && !opts.resize) return pulledBody(request, source);
  const encoder = new TextEncoder();
  const stdin = process.stdin;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const line = (o: object) => {
    if (!open) return;
    controller.enqueue(encoder.encode(JSON.stringify(o) + "\n"));
    if ((controller.desiredSize ?? 1) <= 0) stdin.pause();
  };
  const onData = (b: Buffer) => line({ stdin: b.toString("base64") });
  const onEnd = () => {
    line({ eof: true });
    finish();
  };
  const onResize = () => line({ resize: { cols: process.stdout.columns, rows: process.stdout.rows } });
  const wasRaw = opts.raw && stdin.isTTY ? stdin.isRaw : undefined;
  const finish = () => {
    if (!open) return;
    open = false;
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    stdin.off("error", onEnd);
    if (opts.resize) process.off("SIGWINCH", onResize);
    if (wasRaw !== undefined) stdin.setRawMode(wasRaw);
    stdin.pause();
    try {
      controller.close();
    } catch {
      // the request is already over
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      controller.enqueue(encoder.encode(JSON.stringify(request) + "\n"));
      if (wasRaw !== undefined) stdin.setRawMode(true);
      if (opts.resize) process.on("SIGWINCH", onResize);
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      stdin.on("error", onEnd);
      stdin.resume();
    },
    pull() {
      if (open) stdin.resume();
    },
    cancel() {
      finish();
    },
  });
  return { body, stop: finish };
}

/**
 * A streamed request body that can be sent again: the client asks `fresh()` for each attempt. A
 * daemon of another version (or none) turns the first attempt away before reading it, and the
 * daemon started in its place must get the same bytes.
 */
export interface ResendableBody {
  fresh(): ReadableStream<Uint8Array>;
}

/** Bytes of stdin kept for a resend; an answer that turns the request away comes long before this. */
const RESEND_KEEP_BYTES = 1024 * 1024;

/**
 * stdinBody over a byte stream: each pull reads one chunk of stdin and sends it as one line. The
 * lines sent so far are kept (up to RESEND_KEEP_BYTES) so that a later attempt replays them first,
 * then goes on reading stdin where the first attempt stopped.
 */
function pulledBody(request: object, source: ReadableStream<Uint8Array>): StdinBody {
  const encoder = new TextEncoder();
  const reader = source.getReader();
  const sent: Uint8Array[] = [encoder.encode(JSON.stringify(request) + "\n")];
  let kept = sent[0]!.byteLength;
  let recording = true;
  let eof: Uint8Array | undefined;
  let open = true;
  let attempts = 0;
  const stop = () => {
    if (!open) return;
    open = false;
    void reader.cancel().catch(() => {});
  };
  // One more line from stdin: kept in `sent` while recording (the caller takes it from there), else returned.
  const readMore = async (): Promise<Uint8Array | undefined> => {
    let next: { done: boolean; value?: Uint8Array };
    try {
      next = await reader.read();
    } catch {
      next = { done: true };
    }
    const end = next.done || !next.value;
    if (eof) return undefined; // a concurrent read already ended it
    const bytes = encoder.encode((end ? JSON.stringify({ eof: true }) : JSON.stringify({ stdin: Buffer.from(next.value!).toString("base64") })) + "\n");
    if (end) eof = bytes;
    if (!recording) return bytes;
    sent.push(bytes);
    kept += bytes.byteLength;
    if (kept > RESEND_KEEP_BYTES) recording = false;
    return undefined;
  };
  const fresh = (): ReadableStream<Uint8Array> => {
    const attempt = ++attempts;
    if (attempt > 1 && !recording) {
      throw new NexusError("CONNECTION_LOST", "The daemon was replaced while standard input was being sent, and too much of it was sent to send again", {
        suggestion: "Run the command again: the daemon that answers now is the right one",
      });
    }
    let idx = 0;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (!open || attempt !== attempts) return c.close();
        let line = idx < sent.length ? sent[idx++] : undefined;
        if (!line && !eof) line = (await readMore()) ?? (idx < sent.length ? sent[idx++] : undefined);
        if (!line) return c.close();
        c.enqueue(line);
        if (line === eof) c.close();
      },
    });
  };
  return { body: { fresh }, stop };
}
