// The pieces of the CLI's own HTTP/1.1 client (src/runtime/http1.ts, under unix-stream.ts) that read
// an answer without the runtime's RegExp, TextDecoder or typed-array views: the status line, the body's
// framing, a chunk's size line, and UTF-8 text as it comes in pieces. Against what the runtime's
// own TextDecoder and parseInt say; runs under Bun and Deno.
import { describe, expect, test } from "bun:test";
import { chunkSize, framingOf, statusCode, Utf8Text } from "../../src/runtime/http1.ts";

describe("statusCode", () => {
  test("an HTTP/1.0 or 1.1 status line gives its three digits", () => {
    expect(statusCode("HTTP/1.1 200 OK")).toBe(200);
    expect(statusCode("HTTP/1.0 404 Not Found")).toBe(404);
    expect(statusCode("HTTP/1.1 101")).toBe(101);
    expect(statusCode("HTTP/1.1 503 ")).toBe(503);
  });

  test("anything else gives 0", () => {
    for (const line of ["", "HTTP/1.1", "HTTP/1.1 20", "HTTP/1.1 2000 OK", "HTTP/1.1 2x0 OK", "HTTP/2 200 OK", "HTTP/1.2 200 OK", "http/1.1 200 OK", "SSH-2.0-OpenSSH", "HTTP/1.1  200 OK"]) {
      expect([line, statusCode(line)]).toEqual([line, 0]);
    }
  });
});

describe("framingOf", () => {
  test("chunks, whatever the case and spacing of the field, and before a length", () => {
    expect(framingOf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked")).toEqual({ by: "chunks", left: -1 });
    expect(framingOf("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding:  gzip, Chunked ")).toEqual({ by: "chunks", left: -1 });
  });

  test("a length", () => {
    expect(framingOf("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: 31")).toEqual({ by: "length", left: 31 });
    expect(framingOf("HTTP/1.1 204 No Content\r\ncontent-length:0")).toEqual({ by: "length", left: 0 });
  });

  test("the connection's end when neither is given, or the length is no length", () => {
    expect(framingOf("HTTP/1.1 200 OK")).toEqual({ by: "close", left: 0 });
    expect(framingOf("HTTP/1.1 200 OK\r\nconnection: close\r\nno colon here")).toEqual({ by: "close", left: 0 });
    for (const bad of ["", "-1", "1.5", "abc", "1e3x"]) expect(framingOf(`HTTP/1.1 200 OK\r\ncontent-length: ${bad}`)).toEqual({ by: "close", left: 0 });
  });
});

describe("chunkSize", () => {
  test("hex digits in either case, with extensions and blanks around", () => {
    const cases: Array<[string, number]> = [["0", 0], ["1f", 31], ["1F", 31], ["A", 10], ["ffff", 65535], ["10;name=value", 16], [" 8 ", 8], ["8 ;x", 8], ["00000010", 16]];
    for (const [line, n] of cases) expect([line, chunkSize(line)]).toEqual([line, n]);
  });

  test("anything else is -1", () => {
    for (const line of ["", " ", "g", "0x10", "1 2", ";x", "-1", "ffffffffffffffffff"]) expect([line, chunkSize(line)]).toEqual([line, -1]);
  });
});

describe("Utf8Text", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  test("ASCII of any size comes out as it went in, from any range of a buffer", () => {
    for (const size of [0, 1, 255, 256, 257, 8191, 8192, 8193, 100_000]) {
      let s = "";
      for (let i = 0; i < size; i++) s += String.fromCharCode(32 + (i % 95));
      const padded = bytes(`<<${s}>>`);
      const text = new Utf8Text();
      expect(text.decode(padded, 2, padded.byteLength - 2) + text.end()).toBe(s);
    }
  });

  test("text cut anywhere, inside a character too, comes out whole, as TextDecoder gives it", () => {
    const s = `{"message":"hé ☃ 𝄞"}\n${"x".repeat(300)}é${"y".repeat(9000)}`;
    const all = bytes(s);
    for (const cut of [1, 13, 14, 15, 16, 17, 18, 19, 20, 21, 300, 320, 9000]) {
      const text = new Utf8Text();
      let out = "";
      for (let at = 0; at < all.byteLength; at += cut) out += text.decode(all, at, Math.min(all.byteLength, at + cut));
      expect(out + text.end()).toBe(s);
    }
  });

  test("bytes that are no UTF-8 become U+FFFD as TextDecoder's, and a sequence left unfinished at the end too", () => {
    const bad = new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x98]);
    const text = new Utf8Text();
    expect(text.decode(bad) + text.end()).toBe(new TextDecoder().decode(bad));
  });
});

describe("Utf8Text.asciiOf", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  test("a piece all of ASCII is its text, decoded once, and decode takes ranges of it", () => {
    const all = bytes('HTTP/1.1 200 OK\r\ncontent-length: 31\r\n\r\n{"type":"result","exitCode":0}');
    const text = new Utf8Text();
    const ascii = text.asciiOf(all);
    expect(ascii).toBe(new TextDecoder().decode(all));
    expect(text.decode(all, 5, 12, ascii)).toBe("1.1 200");
    expect(text.asciiOf(new Uint8Array(0))).toBe("");
  });

  test("a piece with any other byte has none: a character of several bytes, one cut at the end, or bytes that are no UTF-8", () => {
    for (const piece of [bytes("héllo"), bytes("a☃"), bytes("ok \uFFFD"), new Uint8Array([0x61, 0xe2, 0x98]), new Uint8Array([0x61, 0xff]), new Uint8Array([0x80])]) {
      expect(new Utf8Text().asciiOf(piece)).toBeUndefined();
    }
  });

  test("none once the streaming decoder took over, which may hold part of a character", () => {
    const text = new Utf8Text();
    expect(text.decode(new Uint8Array([0x61, 0xe2]))).toBe("a");
    expect(text.asciiOf(bytes("bc"))).toBeUndefined();
    expect(text.decode(new Uint8Array([0x98, 0x83]))).toBe("☃");
  });
});
