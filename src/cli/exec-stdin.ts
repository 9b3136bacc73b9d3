// What `nexus exec` does with its own standard input. As ssh does: stdin that is not a terminal
// (a pipe, a file) is forwarded until its end, then the command sees end of file; a terminal is
// forwarded only with -i (docker exec's rule), and /dev/null or a terminal without -i is not read
// at all (the command's stdin is closed at once). Forwarded input travels in the streamed exec
// request's body (src/api/http/exec-input.ts), with terminal sizes when -t gave the command a PTY.
import { fstatSync } from "node:fs";
import { isatty } from "node:tty";

export type StdinMode = "closed" | "forward";

export function stdinMode(interactive: boolean): StdinMode {
  if (isatty(0)) return interactive ? "forward" : "closed";
  try {
    const st = fstatSync(0);
    if (st.isFIFO() || st.isSocket() || st.isFile()) return "forward";
    // /dev/null and other devices: nothing to read unless asked for.
    return interactive ? "forward" : "closed";
  } catch {
    return "closed"; // no fd 0 at all
  }
}

export interface StdinBody {
  body: ReadableStream<Uint8Array>;
  /** Stops reading stdin and restores the terminal (raw mode, resize handler). */
  stop(): void;
}

/** The streamed exec body: the request line, then stdin chunks (and resizes) as they come, then EOF. */
export function stdinBody(request: object, opts: { raw: boolean; resize: boolean }): StdinBody {
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
