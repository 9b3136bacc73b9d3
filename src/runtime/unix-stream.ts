// A streamed request to the local daemon over its unix socket with Bun's own sockets (Bun.connect),
// for the CLI's NDJSON answers (client.ts `stream`: exec above all); and unixAnswer, a request whose
// short answer is wanted whole (version and list: src/cli/instant.ts). Bun's fetch does the same
// through its HTTP client thread and a ReadableStream for the answer's body: for `nexus exec ws --
// true` those cost about 65 page faults (some 2 ms on a 2-core VM) over this, which reads the answer
// on the main thread's event loop and hands its lines on as they come. It speaks just the HTTP/1.1
// a request to the daemon needs: one request with a JSON body or none, `connection: close`, and an
// answer framed by Content-Length, chunks or the end of the connection.
//
// Back-pressure as with fetch: while the promise `onLine` returned is pending (our stdout is
// behind), the socket is not read, so the daemon's writes wait and it pauses the command's output.
//
// Written for a short command's first (and only) run: in a compiled binary the first use of many
// of the runtime's own functions costs 0.1-0.5 ms each (they are compiled on first use), which is
// as much as the rest of this module's work. So the HTTP text is read as http1.ts reads it, and a
// promise is made with Promise.withResolvers rather than the Promise constructor. Measured in
// test/unit/unix-stream.test.ts for what it does; bench/exec.ts for what it costs.

import { ascii1, findIn, framingOf, joinBytes, lineAt, requestOf, statusCode, streamError, chunkSize, Utf8Text, wholeAnswer, type UnixStreamError } from "./http1.ts";
import { joinAll } from "../kernel/bytes.ts";

export type { UnixStreamError } from "./http1.ts";

/** An answer: its status, and for an error status (>= 400) its whole body. */
export interface UnixAnswer {
  status: number;
  text?: string;
}

interface BunSocket {
  write(data: Uint8Array | string): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}

interface BunConnect {
  connect(opts: {
    unix: string;
    socket: {
      open?(s: BunSocket): void;
      data(s: BunSocket, chunk: Uint8Array): void;
      drain?(s: BunSocket): void;
      close(s: BunSocket, err?: Error): void;
      error?(s: BunSocket, err: Error): void;
      end?(s: BunSocket): void;
    };
  }): Promise<BunSocket>;
}

// ES2024's Promise.withResolvers (Bun has it; the project's lib is ES2023).
interface PromiseWithResolvers {
  withResolvers<T>(): { promise: Promise<T>; resolve(value: T): void; reject(reason: unknown): void };
}

/** Whether this runtime has the sockets unixStream needs (Bun); elsewhere the caller uses fetch. */
export function unixStreamAvailable(): boolean {
  return "Bun" in globalThis && !("Deno" in globalThis);
}

export interface UnixStreamOptions {
  socketPath: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Each non-blank line of a successful answer's body, trimmed, in order; a promise holds the next one. */
  onLine: (line: string) => unknown;
  /** Aborts the request with its reason: looked at before the request goes, listened to once it went (exchange). */
  signal?: AbortSignal;
  /** Called once the request is written (its first write): work the caller has for the time the daemon takes. */
  whileWaiting?: () => void;
}

export function unixStream(opts: UnixStreamOptions): Promise<UnixAnswer> {
  return streamOver(opts, exchange);
}

/**
 * Runs the answer's own code (streamOver's parsing, then `onLine` with each line) once on a canned
 * answer of the daemon's usual shape (a head with its fields, a Content-Length, one NDJSON line),
 * with no socket. For the time a short request waits on the daemon: the first run of that code and
 * of the runtime functions it calls (the decoder, the string functions, JSON.parse in `onLine`)
 * costs a compiled binary 0.5-0.9 ms, which the real answer then no longer pays after the wait.
 * Nothing it does is seen: `onLine` gets the canned line, the answer goes nowhere.
 */
export function warmAnswer(onLine: (line: string) => unknown): void {
  let on: ExchangeEvents | undefined;
  const canned = streamOver({ socketPath: "", method: "GET", path: "/", headers: {}, onLine }, (_opts, reject, events) => {
    on = events;
    return idleExchange(reject);
  });
  canned.catch(() => {});
  on?.data(asciiBytes(CANNED_ANSWER));
}

const CANNED_ANSWER =
  'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\nContent-Length: 31\r\n\r\n{"type":"result","exitCode":0}\n';

/** An ASCII string's bytes (no TextEncoder: its first use is a cost of its own). */
function asciiBytes(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** An exchange with nothing on the other side (warmAnswer's). */
function idleExchange(reject: (err: unknown) => void): Exchange {
  const x = {
    settled: false,
    fail(err: unknown) {
      if (x.settled) return;
      x.settled = true;
      reject(err);
    },
    settle() {
      if (x.settled) return false;
      x.settled = true;
      return true;
    },
    pause() {},
    resume() {},
  };
  return x;
}

type Connect = (opts: UnixStreamOptions, reject: (err: unknown) => void, on: ExchangeEvents) => Exchange;

function streamOver(opts: UnixStreamOptions, connect: Connect): Promise<UnixAnswer> {
  const { promise, resolve, reject } = (Promise as unknown as PromiseWithResolvers).withResolvers<UnixAnswer>();
  let held: Uint8Array | undefined; // bytes of a piece of framing not yet whole (a head, a chunk's size line)
  let status = 0; // 0 until the answer's head is read
  // Framing of the body: by its length, by chunks (left: bytes of the current chunk, -1 between chunks), or by the close.
  let by: "length" | "chunks" | "close" = "close";
  let left = 0;
  let trailer = false;
  let bodyEnded = false;
  const text = new Utf8Text();
  let errorText = "";
  let partial = ""; // body text after the last newline
  const lines: string[] = [];
  let next = 0;
  let busy = false;

  const fail = (err: unknown) => x.fail(err);
  const finish = () => {
    if (x.settle(true)) resolve(status >= 400 ? { status, text: errorText + text.end() } : { status });
  };
  const deliver = () => {
    while (!busy && next < lines.length && !x.settled) {
      const line = lines[next++]!;
      let behind: unknown;
      try {
        behind = opts.onLine(line);
      } catch (err) {
        fail(err);
        return;
      }
      if (behind instanceof Promise) {
        busy = true;
        x.pause();
        behind.then(() => {
          busy = false;
          x.resume();
          deliver();
        }, fail);
      }
    }
    if (next === lines.length) {
      lines.length = 0;
      next = 0;
      if (bodyEnded && !busy) finish();
    }
  };
  const bodyBytes = (bytes: Uint8Array, from: number, to: number, ascii: string | undefined) => {
    if (from >= to) return;
    if (status >= 400) {
      errorText += text.decode(bytes, from, to, ascii);
      return;
    }
    const s = partial + text.decode(bytes, from, to, ascii);
    let start = 0;
    for (let nl = s.indexOf("\n"); nl >= 0; nl = s.indexOf("\n", start)) {
      const t = s.slice(start, nl).trim();
      if (t) lines.push(t);
      start = nl + 1;
    }
    partial = start === 0 ? s : s.slice(start);
  };
  const endBody = () => {
    bodyEnded = true;
    if (status < 400) {
      const last = (partial + text.end()).trim();
      partial = "";
      if (last) lines.push(last);
    }
  };
  /**
   * Parses bytes[at, end): how far it got (less than end when a piece of framing is not whole yet).
   * `ascii` is the bytes as text when each one is an ASCII character (asciiOf): then the framing is
   * found and read in it rather than a byte at a time.
   */
  const parse = (bytes: Uint8Array, ascii: string | undefined, at: number, end: number): number => {
    while (at < end && !bodyEnded) {
      if (status === 0) {
        const stop = findIn(bytes, ascii, at, end, true);
        if (stop < 0) return at;
        const answerHead = ascii !== undefined ? ascii.slice(at, stop) : ascii1(bytes, at, stop);
        at = stop + 4;
        const code = statusCode(lineAt(answerHead, 0));
        if (!code) throw streamError("EPROTO", `not an HTTP answer: ${JSON.stringify(lineAt(answerHead, 0).slice(0, 80))}`, false);
        if (code < 200) continue; // 1xx: the real answer follows
        status = code;
        const framing = framingOf(answerHead);
        by = framing.by;
        left = framing.left;
        if (by === "length" && left === 0) endBody();
        continue;
      }
      if (by === "close") {
        bodyBytes(bytes, at, end, ascii);
        return end;
      }
      if (by === "length") {
        const take = Math.min(left, end - at);
        bodyBytes(bytes, at, at + take, ascii);
        at += take;
        left -= take;
        if (left === 0) endBody();
        continue;
      }
      // Chunks: a size line, its bytes and CRLF; size 0 ends them, then trailer lines up to an empty one.
      if (left < 0) {
        const eol = findIn(bytes, ascii, at, end, false);
        if (eol < 0) return at;
        const line = ascii !== undefined ? ascii.slice(at, eol) : ascii1(bytes, at, eol);
        at = eol + 2;
        if (trailer) {
          if (line === "") endBody();
          continue;
        }
        const n = chunkSize(line);
        if (n < 0) throw streamError("EPROTO", `bad chunk size ${JSON.stringify(line.slice(0, 20))}`, true);
        if (n === 0) trailer = true;
        else left = n;
        continue;
      }
      if (left > 0) {
        const take = Math.min(left, end - at);
        bodyBytes(bytes, at, at + take, ascii);
        at += take;
        left -= take;
        if (left > 0) return at;
      }
      if (end - at < 2) return at;
      at += 2; // the CRLF after the chunk's bytes
      left = -1;
    }
    return bodyEnded ? end : at;
  };
  const take = (chunk: Uint8Array) => {
    // The runtime may reuse its buffer after this call: what is kept of it is copied.
    const bytes = held ? joinBytes(held, chunk) : chunk;
    held = undefined;
    const at = parse(bytes, text.asciiOf(bytes), 0, bytes.byteLength);
    if (at < bytes.byteLength) held = bytes.slice(at);
    deliver();
  };

  const x = connect(opts, reject, {
    data: (chunk) => {
      try {
        take(chunk);
      } catch (err) {
        fail(err);
      }
    },
    close: () => {
      if (status !== 0 && by === "close" && !bodyEnded) {
        endBody();
        deliver();
        return;
      }
      if (bodyEnded) return; // finish() follows once the lines are taken
      fail(streamError("ECONNRESET", status === 0 ? "the daemon closed the connection before answering" : "the daemon closed the connection before the answer ended", status !== 0));
    },
    error: (err) => fail(toStreamError(err, status !== 0)),
  });
  return promise;
}

/** One request on the daemon's socket, as unixStream and unixAnswer make it. */
interface Exchange {
  /** True once it has ended (answered, failed or aborted): nothing more is handed on. */
  readonly settled: boolean;
  /** Ends it with `err`: the socket is cut and the caller's `reject` called (once). */
  fail(err: unknown): void;
  /** Ends it as answered, with the socket's end sent when `end`; false when it had already ended. */
  settle(end: boolean): boolean;
  /** Stops and starts reading the socket (back-pressure). */
  pause(): void;
  resume(): void;
}

/** What an exchange hands on: each piece of the answer, the connection's end, its error. */
interface ExchangeEvents {
  data(chunk: Uint8Array): void;
  close(): void;
  error(err: Error): void;
}

/**
 * Connects to `opts.socketPath`, writes the request (what the socket does not take at once goes on
 * drain), and hands each piece of the answer, the connection's end and its error to `on` until the
 * exchange has ended. The caller's signal aborts it with its reason: an abort before the connection
 * opened is seen when it opens (nothing was sent), and the signal is listened to from the request's
 * first write on, after which `whileWaiting` runs. Both wait for the write because their first use
 * costs a short command 0.2-0.5 ms each (an event listener, a signal handler in the caller), which
 * the wait on the daemon hides.
 */
function exchange(
  opts: { socketPath: string; method: string; path: string; headers: Record<string, string>; body?: string; signal?: AbortSignal; whileWaiting?: () => void },
  reject: (err: unknown) => void,
  on: ExchangeEvents,
): Exchange {
  const request = requestOf(opts);
  const size = typeof request === "string" ? request.length : request.byteLength;
  let socket: BunSocket | undefined;
  let written = 0;
  const x = {
    settled: false,
    fail(err: unknown) {
      if (x.settled) return;
      x.settled = true;
      socket?.terminate();
      reject(err);
    },
    settle(end: boolean) {
      if (x.settled) return false;
      x.settled = true;
      if (end) socket?.end();
      return true;
    },
    pause: () => socket?.pause(),
    resume: () => socket?.resume(),
  };
  const send = (s: BunSocket) => {
    while (written < size) {
      const n = s.write(typeof request === "string" ? (written === 0 ? request : request.slice(written)) : request.subarray(written));
      if (n <= 0) return; // the rest on drain
      written += n;
    }
  };
  const signal = opts.signal;
  if (signal?.aborted) {
    x.settled = true;
    reject(signal.reason);
    return x;
  }
  (globalThis as unknown as { Bun: BunConnect }).Bun.connect({
    unix: opts.socketPath,
    socket: {
      open: (s) => {
        socket = s;
        if (signal?.aborted) x.fail(signal.reason);
        if (x.settled) {
          s.terminate();
          return;
        }
        send(s);
        signal?.addEventListener("abort", () => x.fail(signal.reason), { once: true });
        try {
          opts.whileWaiting?.();
        } catch (err) {
          x.fail(err);
        }
      },
      drain: (s) => send(s),
      data: (_s, chunk) => {
        if (!x.settled) on.data(chunk);
      },
      close: () => {
        if (!x.settled) on.close();
      },
      error: (_s, err) => on.error(err),
    },
  }).then(
    (s) => {
      socket = s;
      if (x.settled) s.terminate();
    },
    (err: unknown) => x.fail(signal?.aborted ? signal.reason : toStreamError(err, false)),
  );
  return x;
}

/**
 * A request whose answer is wanted whole: a short JSON answer (`nexus version`, `nexus list`:
 * src/cli/instant.ts). Its pieces are kept as they come and the answer is taken apart once the
 * daemon has closed the connection (the request asks it to): the bytes decoded in one call, the head
 * found and read as text. unixStream's parsing of each piece as it comes, a byte at a time, is what
 * a stream needs; for an answer of a few hundred bytes it cost more than the rest of the request
 * (about 0.5-0.9 ms of `nexus list` against 0.15 ms this way). Fails as unixStream does: `code` as
 * fetch's would be, `afterHead` once the answer had begun (cut short: less than its Content-Length,
 * or chunks without their end).
 */
export function unixAnswer(opts: {
  socketPath: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}): Promise<{ status: number; text: string }> {
  const { promise, resolve, reject } = (Promise as unknown as PromiseWithResolvers).withResolvers<{ status: number; text: string }>();
  const pieces: Uint8Array[] = [];
  let received = 0;
  const x = exchange(opts, reject, {
    // Bun hands each piece over in a Buffer of its own (a fresh ArrayBuffer; Buffer's slice()
    // would be a view, not a copy): kept as it is. The tests join pieces of 3 bytes.
    data: (chunk) => {
      pieces.push(chunk);
      received += chunk.byteLength;
    },
    close: () => {
      x.settle(false);
      try {
        resolve(wholeAnswer(joinAll(pieces, received)));
      } catch (err) {
        reject(err);
      }
    },
    error: (err) => x.fail(toStreamError(err, received > 0)),
  });
  return promise;
}

function toStreamError(err: unknown, afterHead: boolean): UnixStreamError {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" && e.code ? e.code : "ECONNRESET";
  return streamError(code, typeof e?.message === "string" ? e.message : String(err), afterHead);
}
