// A streamed request to the local daemon over its unix socket with Bun's own sockets (Bun.connect),
// for the CLI's NDJSON answers (client.ts `stream`: exec above all). Bun's fetch does the same
// through its HTTP client thread and a ReadableStream for the answer's body: for `nexus exec ws --
// true` those cost about 65 page faults (some 2 ms on a 2-core VM) over this, which reads the answer
// on the main thread's event loop and hands its lines on as they come. It speaks just the HTTP/1.1
// a request to the daemon needs: one request with a JSON body or none, `connection: close`, and an
// answer framed by Content-Length, chunks or the end of the connection.
//
// Back-pressure as with fetch: while the promise `onLine` returned is pending (our stdout is
// behind), the socket is not read, so the daemon's writes wait and it pauses the command's output.

/** An answer: its status, and for an error status (>= 400) its whole body. */
export interface UnixAnswer {
  status: number;
  text?: string;
}

/** Why a request failed: its `code` as fetch's would be (ENOENT, ECONNREFUSED, ECONNRESET); `afterHead` once the answer had begun. */
export type UnixStreamError = Error & { code: string; afterHead: boolean };

function streamError(code: string, message: string, afterHead: boolean): UnixStreamError {
  return Object.assign(new Error(message), { code, afterHead });
}

interface BunSocket {
  write(data: Uint8Array): number;
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

/** Whether this runtime has the sockets unixStream needs (Bun); elsewhere the caller uses fetch. */
export function unixStreamAvailable(): boolean {
  return "Bun" in globalThis && !("Deno" in globalThis);
}

const CRLF2: readonly number[] = [13, 10, 13, 10];

export function unixStream(opts: {
  socketPath: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Each non-blank line of a successful answer's body, trimmed, in order; a promise holds the next one. */
  onLine: (line: string) => unknown;
  signal?: AbortSignal;
}): Promise<UnixAnswer> {
  const encoder = new TextEncoder();
  const payload = opts.body === undefined ? undefined : encoder.encode(opts.body);
  let head = `${opts.method} ${opts.path} HTTP/1.1\r\nhost: nexus\r\nconnection: close\r\n`;
  for (const k in opts.headers) head += `${k}: ${opts.headers[k]}\r\n`;
  if (payload) head += `content-length: ${payload.byteLength}\r\n`;
  const request = concat(encoder.encode(head + "\r\n"), payload ?? new Uint8Array(0));

  return new Promise<UnixAnswer>((resolve, reject) => {
    let socket: BunSocket | undefined;
    let settled = false;
    let pending: Uint8Array = new Uint8Array(0); // bytes not parsed yet
    let status = 0; // 0 until the answer's head is read
    let framing: { by: "length"; left: number } | { by: "chunks"; left: number; trailer: boolean } | { by: "close" } = { by: "close" };
    let bodyEnded = false;
    const errorBody: Uint8Array[] = [];
    const decoder = new TextDecoder();
    let partial = ""; // text after the last newline
    const lines: string[] = [];
    let next = 0;
    let busy = false;
    let written = 0;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      socket?.terminate();
      reject(err);
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      socket?.end();
      if (status >= 400) {
        let size = 0;
        for (const b of errorBody) size += b.byteLength;
        const all = new Uint8Array(size);
        let at = 0;
        for (const b of errorBody) {
          all.set(b, at);
          at += b.byteLength;
        }
        resolve({ status, text: decoder.decode(all) });
      } else resolve({ status });
    };
    const deliver = () => {
      while (!busy && next < lines.length && !settled) {
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
          socket?.pause();
          behind.then(() => {
            busy = false;
            socket?.resume();
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
    const bodyBytes = (bytes: Uint8Array) => {
      if (bytes.byteLength === 0) return;
      if (status >= 400) {
        errorBody.push(bytes.slice());
        return;
      }
      const parts = (partial + decoder.decode(bytes, { stream: true })).split("\n");
      partial = parts.pop()!;
      for (const p of parts) {
        const t = p.trim();
        if (t) lines.push(t);
      }
    };
    const endBody = () => {
      bodyEnded = true;
      if (status < 400) {
        const last = (partial + decoder.decode()).trim();
        partial = "";
        if (last) lines.push(last);
      }
    };
    /** Parses what has come; false when it needs more bytes. */
    const parse = (): boolean => {
      if (status === 0) {
        const end = indexOf(pending, CRLF2);
        if (end < 0) return false;
        const text = decoder.decode(pending.subarray(0, end));
        pending = pending.subarray(end + 4);
        const [statusLine, ...fields] = text.split("\r\n");
        const code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
        if (!code) throw streamError("EPROTO", `not an HTTP answer: ${JSON.stringify((statusLine ?? "").slice(0, 80))}`, false);
        if (code < 200) return true; // 1xx: the real answer follows
        status = code;
        let length: number | undefined;
        let chunked = false;
        for (const f of fields) {
          const colon = f.indexOf(":");
          const name = f.slice(0, colon).trim().toLowerCase();
          const value = f.slice(colon + 1).trim().toLowerCase();
          if (name === "transfer-encoding" && value.includes("chunked")) chunked = true;
          else if (name === "content-length") length = Number(value);
        }
        framing = chunked ? { by: "chunks", left: -1, trailer: false } : length !== undefined && Number.isFinite(length) ? { by: "length", left: length } : { by: "close" };
        if (framing.by === "length" && framing.left === 0) endBody();
        return true;
      }
      if (bodyEnded) {
        pending = new Uint8Array(0);
        return false;
      }
      if (framing.by === "close") {
        bodyBytes(pending);
        pending = new Uint8Array(0);
        return false;
      }
      if (framing.by === "length") {
        const take = Math.min(framing.left, pending.byteLength);
        bodyBytes(pending.subarray(0, take));
        pending = pending.subarray(take);
        framing.left -= take;
        if (framing.left === 0) endBody();
        return false;
      }
      // Chunks: a size line, its bytes and CRLF; size 0 ends them, then trailer lines up to an empty one.
      if (framing.left < 0) {
        const eol = indexOf(pending, [13, 10]);
        if (eol < 0) return false;
        const line = decoder.decode(pending.subarray(0, eol));
        pending = pending.subarray(eol + 2);
        if (framing.trailer) {
          if (line === "") endBody();
          return true;
        }
        const size = parseInt(line.split(";")[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw streamError("EPROTO", `bad chunk size ${JSON.stringify(line.slice(0, 20))}`, true);
        if (size === 0) framing.trailer = true;
        else framing.left = size;
        return true;
      }
      if (framing.left > 0) {
        const take = Math.min(framing.left, pending.byteLength);
        bodyBytes(pending.subarray(0, take));
        pending = pending.subarray(take);
        framing.left -= take;
        if (framing.left > 0) return false;
      }
      if (pending.byteLength < 2) return false;
      pending = pending.subarray(2); // the CRLF after the chunk's bytes
      framing.left = -1;
      return true;
    };
    const take = (chunk: Uint8Array) => {
      pending = concat(pending, chunk); // a copy: the runtime may reuse its buffer
      while (!bodyEnded && parse());
      deliver();
    };
    const send = (s: BunSocket) => {
      while (written < request.byteLength) {
        const n = s.write(request.subarray(written));
        if (n <= 0) return; // the rest on drain
        written += n;
      }
    };

    if (opts.signal) {
      if (opts.signal.aborted) return reject(opts.signal.reason);
      opts.signal.addEventListener("abort", () => fail(opts.signal!.reason), { once: true });
    }
    (globalThis as unknown as { Bun: BunConnect }).Bun.connect({
      unix: opts.socketPath,
      socket: {
        open: (s) => {
          socket = s;
          if (settled) s.terminate();
          else send(s);
        },
        drain: (s) => send(s),
        data: (_s, chunk) => {
          if (settled) return;
          try {
            take(chunk);
          } catch (err) {
            fail(err);
          }
        },
        close: () => {
          if (settled) return;
          if (status !== 0 && framing.by === "close" && !bodyEnded) {
            endBody();
            deliver();
            return;
          }
          if (bodyEnded) return; // finish() follows once the lines are taken
          fail(streamError("ECONNRESET", status === 0 ? "the daemon closed the connection before answering" : "the daemon closed the connection before the answer ended", status !== 0));
        },
        error: (_s, err) => fail(toStreamError(err, status !== 0)),
      },
    }).then(
      (s) => {
        socket = s;
        if (settled) s.terminate();
      },
      (err: unknown) => fail(toStreamError(err, false)),
    );
  });
}

function toStreamError(err: unknown, afterHead: boolean): UnixStreamError {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" && e.code ? e.code : "ECONNRESET";
  return streamError(code, typeof e?.message === "string" ? e.message : String(err), afterHead);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

function indexOf(hay: Uint8Array, needle: readonly number[]): number {
  const last = hay.byteLength - needle.length;
  outer: for (let i = 0; i <= last; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
