// HTTP/1.1 as the CLI's own socket client (unix-stream.ts) writes a request and reads an answer:
// the request's bytes, a status line, the body's framing (Content-Length, chunks or the connection's
// end), a chunk's size line, and UTF-8 text as it comes in pieces. Written for a short command's
// first (and only) run: in a compiled binary the first use of many of the runtime's own functions
// costs 0.1-0.5 ms each, so no RegExp, no TextEncoder or TextDecoder while the bytes are ASCII (the
// daemon's answers are JSON with base64 output), and no typed-array copies or views for small pieces.
// test/unit/http1.test.ts checks each piece against the runtime's own decoder.
import { joinAll } from "../kernel/bytes.ts";

/** Why a request failed: its `code` as fetch's would be (ENOENT, ECONNREFUSED, ECONNRESET); `afterHead` once the answer had begun. */
export type UnixStreamError = Error & { code: string; afterHead: boolean };

export function streamError(code: string, message: string, afterHead: boolean): UnixStreamError {
  return Object.assign(new Error(message), { code, afterHead });
}

/** Pieces of an answer up to this size are decoded a byte at a time; larger ones in one call. */
const SMALL = 256;

/** The request's bytes: an ASCII request as a string (its characters are its bytes, so a partial write goes on from the character it stopped at), anything else as TextEncoder's bytes. */
export function requestOf(opts: { method: string; path: string; headers: Record<string, string>; body?: string }): string | Uint8Array {
  let head = `${opts.method} ${opts.path} HTTP/1.1\r\nhost: nexus\r\nconnection: close\r\n`;
  for (const k in opts.headers) head += `${k}: ${opts.headers[k]}\r\n`;
  const body = opts.body ?? "";
  const ascii = isAscii(head) && isAscii(body);
  const payload = ascii ? undefined : new TextEncoder().encode(body);
  if (opts.body !== undefined) head += `content-length: ${payload ? payload.byteLength : body.length}\r\n`;
  return ascii ? head + "\r\n" + body : joinBytes(new TextEncoder().encode(head + "\r\n"), payload!);
}

/** A whole answer's status and body text, from all its bytes (the connection closed after them). */
export function wholeAnswer(bytes: Uint8Array): { status: number; text: string } {
  const all = bytes.byteLength === 0 ? "" : new TextDecoder().decode(bytes);
  let at = 0; // where the current head begins, in `all` and in `bytes` alike (the heads are ASCII)
  for (;;) {
    const end = all.indexOf("\r\n\r\n", at);
    if (end < 0) throw streamError("ECONNRESET", at === 0 && all.length === 0 ? "the daemon closed the connection before answering" : "the daemon closed the connection before the answer's head ended", false);
    const head = all.slice(at, end);
    const code = statusCode(lineAt(head, 0));
    if (!code || !isAscii(head)) throw streamError("EPROTO", `not an HTTP answer: ${JSON.stringify(lineAt(head, 0).slice(0, 80))}`, false);
    at = end + 4;
    if (code < 200) continue; // 1xx: the real answer follows
    const framing = framingOf(head);
    const bodyBytes = bytes.byteLength - at;
    if (framing.by === "close") return { status: code, text: bodyText(all, at) };
    if (framing.by === "length") {
      if (bodyBytes < framing.left) throw streamError("ECONNRESET", "the daemon closed the connection before the answer ended", true);
      return { status: code, text: bodyBytes === framing.left ? bodyText(all, at) : decodeRange(bytes, at, at + framing.left) };
    }
    return { status: code, text: dechunked(bytes, at) };
  }
}

/** The body from `at` on, without a byte order mark at its start (as fetch's text() and TextDecoder leave it out). */
function bodyText(all: string, at: number): string {
  return all.charCodeAt(at) === 0xfeff ? all.slice(at + 1) : all.slice(at);
}

/** A chunked body from bytes[at...]: its chunks' bytes decoded together; fails if it has no last chunk. */
function dechunked(bytes: Uint8Array, at: number): string {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const eol = find(bytes, at, bytes.byteLength, false);
    if (eol < 0) throw streamError("ECONNRESET", "the daemon closed the connection before the answer ended", true);
    const line = ascii1(bytes, at, eol);
    const n = chunkSize(line);
    if (n < 0) throw streamError("EPROTO", `bad chunk size ${JSON.stringify(line.slice(0, 20))}`, true);
    at = eol + 2;
    if (n === 0) break; // the trailer may follow: nothing in it is wanted
    if (bytes.byteLength - at < n + 2) throw streamError("ECONNRESET", "the daemon closed the connection before the answer ended", true);
    parts.push(bytes.subarray(at, at + n));
    size += n;
    at += n + 2;
  }
  return size === 0 ? "" : new TextDecoder().decode(joinAll(parts, size));
}

function decodeRange(bytes: Uint8Array, from: number, to: number): string {
  return from === to ? "" : new TextDecoder().decode(bytes.subarray(from, to));
}

/** The status of an HTTP/1.0 or 1.1 status line ("HTTP/1.1 200 OK"), or 0. */
export function statusCode(line: string): number {
  if (!line.startsWith("HTTP/1.") || (line[7] !== "0" && line[7] !== "1") || line[8] !== " ") return 0;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const d = line.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return 0;
    code = code * 10 + d;
  }
  return line.length === 12 || line[12] === " " ? code : 0;
}

/** How an answer's body is framed, from its head (the status line and fields, CRLF between them). */
export function framingOf(answerHead: string): { by: "length" | "chunks" | "close"; left: number } {
  let length = -1;
  let chunked = false;
  let at = answerHead.indexOf("\r\n");
  while (at >= 0) {
    const field = lineAt(answerHead, at + 2);
    at = answerHead.indexOf("\r\n", at + 2);
    const colon = field.indexOf(":");
    if (colon < 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (name === "transfer-encoding") {
      if (field.slice(colon + 1).toLowerCase().includes("chunked")) chunked = true;
    } else if (name === "content-length") {
      const value = field.slice(colon + 1).trim();
      const n = value === "" ? NaN : Number(value);
      if (Number.isInteger(n) && n >= 0) length = n;
    }
  }
  if (chunked) return { by: "chunks", left: -1 };
  return length >= 0 ? { by: "length", left: length } : { by: "close", left: 0 };
}

/** A chunk's size from its size line (hex digits, then maybe ";" and extensions), or -1. */
export function chunkSize(line: string): number {
  let n = 0;
  let digits = 0;
  let i = 0;
  while (i < line.length && (line[i] === " " || line[i] === "\t")) i++;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) break;
    n = n * 16 + d;
    digits++;
  }
  if (digits === 0 || !Number.isSafeInteger(n)) return -1;
  while (i < line.length && (line[i] === " " || line[i] === "\t")) i++;
  return i === line.length || line[i] === ";" ? n : -1;
}

/** The line of `s` that starts at `from`, up to its CRLF or the end. */
export function lineAt(s: string, from: number): string {
  const eol = s.indexOf("\r\n", from);
  return eol < 0 ? s.slice(from) : s.slice(from, eol);
}

/** Where the first CRLF (or CRLF CRLF, with `double`) in bytes[at, end) begins, or -1. */
export function find(bytes: Uint8Array, at: number, end: number, double: boolean): number {
  const need = double ? 4 : 2;
  for (let i = at; i + need <= end; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && (!double || (bytes[i + 2] === 13 && bytes[i + 3] === 10))) return i;
  }
  return -1;
}

/** find, in the piece's text when it has one (asciiOf): the same index, one character being one byte. */
export function findIn(bytes: Uint8Array, ascii: string | undefined, at: number, end: number, double: boolean): number {
  if (ascii === undefined) return find(bytes, at, end, double);
  const i = ascii.indexOf(double ? "\r\n\r\n" : "\r\n", at);
  return i >= 0 && i + (double ? 4 : 2) <= end ? i : -1;
}

/** bytes[from, to) as one character per byte (the framing's text: ASCII by the protocol). */
export function ascii1(bytes: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * UTF-8 bytes to text as they come, as TextDecoder with `stream: true` does, without a streaming
 * decoder while all bytes are ASCII. From the first byte that is not ASCII on, a TextDecoder takes
 * over (it keeps a sequence cut between two pieces).
 */
export class Utf8Text {
  #decoder: TextDecoder | undefined;
  #whole: TextDecoder | undefined;

  /**
   * A piece as text when each of its bytes is an ASCII character (so an index in the text is the
   * same index in the bytes), decoded in one call: the runtime's decoder does in one call what
   * reading a byte at a time does at about 0.5 us a byte on its first run. Undefined for anything
   * else, and once the streaming decoder has taken over (it may hold part of a character).
   */
  asciiOf(bytes: Uint8Array): string | undefined {
    if (this.#decoder) return undefined;
    if (bytes.byteLength === 0) return "";
    const s = (this.#whole ??= new TextDecoder()).decode(bytes);
    // Any byte that is not ASCII shortens the text (a character of several bytes) or shows as U+FFFD.
    return s.length === bytes.byteLength && !s.includes("\uFFFD") ? s : undefined;
  }

  /**
   * bytes[from, to) as text; an incomplete sequence at its end waits for the next piece. `ascii` is
   * the piece's asciiOf, when it had one.
   */
  decode(bytes: Uint8Array, from = 0, to = bytes.byteLength, ascii?: string): string {
    if (!this.#decoder) {
      if (ascii !== undefined) return ascii.slice(from, to);
      let allAscii = true;
      for (let i = from; i < to; i++) {
        if (bytes[i]! > 0x7f) {
          allAscii = false;
          break;
        }
      }
      if (allAscii) {
        if (to - from <= SMALL) return ascii1(bytes, from, to);
        let out = "";
        for (let at = from; at < to; at += 8192) out += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(to, at + 8192)) as unknown as number[]);
        return out;
      }
      this.#decoder = new TextDecoder();
    }
    return this.#decoder.decode(from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to), { stream: true });
  }

  /** What an incomplete sequence left at the end comes to (U+FFFD), as TextDecoder's final call. */
  end(): string {
    return this.#decoder ? this.#decoder.decode() : "";
  }
}

export function joinBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
