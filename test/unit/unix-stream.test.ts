// The CLI's own HTTP/1.1 over the daemon's unix socket (src/runtime/unix-stream.ts) against a raw
// server that writes exactly the bytes each test gives: every framing an answer may have, cut at
// every byte, cut short, refused, held back by a slow reader, aborted. Bun only: elsewhere the CLI
// uses fetch (unixStreamAvailable).
import { describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { wholeAnswer } from "../../src/runtime/http1.ts";
import { unixAnswer, unixStream, unixStreamAvailable, warmAnswer, type UnixStreamError } from "../../src/runtime/unix-stream.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";

/** A server on a unix socket that hands each connection, with the request's bytes once its head (and body) came, to `serve`. */
async function rawServer(serve: (sock: Socket, request: string) => void) {
  const dir = tempDir("unix-stream");
  const path = join(dir.path, "d.sock");
  const requests: string[] = [];
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    sock.on("close", () => open.delete(sock));
    let got = "";
    sock.on("data", (chunk: Buffer) => {
      got += chunk.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(got.slice(0, end))?.[1] ?? 0);
      if (got.length < end + 4 + length) return;
      requests.push(got);
      sock.removeAllListeners("data");
      serve(sock, got);
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    requests,
    [Symbol.asyncDispose]: async () => {
      // close() waits for every connection: a test that failed part way may have left one open.
      for (const sock of open) sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir[Symbol.asyncDispose]();
    },
  };
}

const lines = async (path: string, extra: Partial<Parameters<typeof unixStream>[0]> = {}) => {
  const got: string[] = [];
  const answer = await unixStream({ socketPath: path, method: "POST", path: "/x", headers: { accept: "application/x-ndjson" }, body: "{}", onLine: (l) => void got.push(l), ...extra });
  return { ...answer, lines: got };
};

const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e: unknown) => e as UnixStreamError);

const chunked = (text: string, size: number) => {
  let out = "";
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) {
    const part = bytes.subarray(i, i + size);
    out += `${part.length.toString(16)}\r\n${part.toString("latin1")}\r\n`;
  }
  return Buffer.from(out + "0\r\n\r\n", "latin1");
};

const HEAD = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n";
const BODY = '{"type":"stdout","data":"aMOp"}\n\n  \n{"type":"progress","message":"hé ☃"}\n{"type":"result","exitCode":0}';

describe.skipIf(!unixStreamAvailable())("unixStream", () => {
  test("sends the method, path, headers and body with its length, and asks for the connection to close", async () => {
    await using s = await rawServer((sock) => sock.end(`${HEAD}content-length: 0\r\n\r\n`));
    const body = JSON.stringify({ command: "echo", args: ["hé"] });
    expect(await lines(s.path, { body, headers: { accept: "application/x-ndjson", "content-type": "application/json", "x-nexus-client": "cli" } })).toEqual({ status: 200, lines: [] });
    const [head, sent] = s.requests[0]!.split("\r\n\r\n");
    const fields = head!.split("\r\n");
    expect(fields[0]).toBe("POST /x HTTP/1.1");
    expect(fields).toContain("connection: close");
    expect(fields).toContain("content-type: application/json");
    expect(fields).toContain("x-nexus-client: cli");
    expect(fields).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(Buffer.from(sent!, "latin1").toString("utf8")).toBe(body);
  });

  // Each framing, written one byte at a time: every place a head, a chunk size, a line or a UTF-8
  // character can be cut comes up.
  const framings: Array<[string, Buffer]> = [
    ["content-length", Buffer.concat([Buffer.from(`${HEAD}content-length: ${Buffer.byteLength(BODY)}\r\n\r\n`), Buffer.from(BODY)])],
    ["chunks", Buffer.concat([Buffer.from(`${HEAD}transfer-encoding: chunked\r\n\r\n`), chunked(BODY, 5)])],
    ["chunks with an extension and a trailer", Buffer.concat([Buffer.from(`${HEAD}Transfer-Encoding: chunked\r\n\r\n`), Buffer.from(`${Buffer.byteLength(BODY).toString(16)};x=y\r\n`), Buffer.from(BODY), Buffer.from("\r\n0\r\nx-trailer: 1\r\n\r\n")])],
    ["the end of the connection", Buffer.concat([Buffer.from(`${HEAD}\r\n`), Buffer.from(BODY)])],
    ["a 100 Continue first", Buffer.concat([Buffer.from("HTTP/1.1 100 Continue\r\n\r\n"), Buffer.from(`${HEAD}content-length: ${Buffer.byteLength(BODY)}\r\n\r\n`), Buffer.from(BODY)])],
  ];
  for (const [name, bytes] of framings) {
    test(`an answer framed by ${name}, written a byte at a time, gives its non-blank lines in order`, async () => {
      await using s = await rawServer(async (sock) => {
        for (const b of bytes) {
          sock.write(Buffer.from([b]));
          await new Promise((r) => setImmediate(r));
        }
        sock.end();
      });
      expect(await lines(s.path)).toEqual({ status: 200, lines: ['{"type":"stdout","data":"aMOp"}', '{"type":"progress","message":"hé ☃"}', '{"type":"result","exitCode":0}'] });
    });
  }

  test("an error status gives its whole body instead of lines", async () => {
    const body = JSON.stringify({ error: { code: "WORKSPACE_NOT_FOUND", message: "Workspace 'é' doesn't exist" } });
    await using s = await rawServer((sock) => sock.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    expect(await lines(s.path)).toEqual({ status: 404, text: body, lines: [] });
  });

  test("no socket is ENOENT, a file that is no socket ECONNREFUSED: both before any answer", async () => {
    await using dir = tempDir("unix-stream");
    const missing = await failure(lines(join(dir.path, "none.sock")));
    expect({ code: missing.code, afterHead: missing.afterHead }).toEqual({ code: "ENOENT", afterHead: false });
    await Bun.write(join(dir.path, "file"), "");
    const refused = await failure(lines(join(dir.path, "file")));
    expect({ code: refused.code, afterHead: refused.afterHead }).toEqual({ code: "ECONNREFUSED", afterHead: false });
  });

  test("a connection closed before the answer, or part way through it, fails and says which", async () => {
    await using before = await rawServer((sock) => sock.destroy());
    const e1 = await failure(lines(before.path));
    expect({ code: e1.code, afterHead: e1.afterHead }).toEqual({ code: "ECONNRESET", afterHead: false });
    await using during = await rawServer((sock) => sock.end(`${HEAD}content-length: 100\r\n\r\n{"type":"stdout"}\n`));
    const got: string[] = [];
    const e2 = await failure(unixStream({ socketPath: during.path, method: "GET", path: "/x", headers: {}, onLine: (l) => void got.push(l) }));
    expect({ code: e2.code, afterHead: e2.afterHead }).toEqual({ code: "ECONNRESET", afterHead: true });
    expect(got).toEqual(['{"type":"stdout"}']);
    await using chunks = await rawServer((sock) => sock.end(`${HEAD}transfer-encoding: chunked\r\n\r\n5\r\nab`));
    expect((await failure(lines(chunks.path))).afterHead).toBe(true);
  });

  test("a line onLine throws on ends the request with that error", async () => {
    await using s = await rawServer((sock) => sock.end(`${HEAD}\r\n{"a":1}\n{"b":2}\n`));
    const boom = new Error("boom");
    const seen: string[] = [];
    expect(await failure(unixStream({ socketPath: s.path, method: "GET", path: "/x", headers: {}, onLine: (l) => { seen.push(l); throw boom; } }))).toBe(boom as UnixStreamError);
    expect(seen).toEqual(['{"a":1}']);
  });

  test("while onLine's promise is pending nothing more is read: the server's writes back up; then every line comes, in order", async () => {
    const total = 20_000;
    let written = 0;
    let blocked = false;
    await using s = await rawServer(async (sock) => {
      sock.write(`${HEAD}transfer-encoding: chunked\r\n\r\n`);
      for (let i = 0; i < total; i++) {
        const line = `{"n":${i},"pad":"${"x".repeat(200)}"}\n`;
        if (!sock.write(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`)) {
          blocked = true;
          await new Promise((r) => sock.once("drain", r));
          blocked = false;
        }
        written = i + 1;
      }
      sock.end("0\r\n\r\n");
    });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    const done = unixStream({
      socketPath: s.path,
      method: "GET",
      path: "/x",
      headers: {},
      onLine: (l) => {
        seen.push((JSON.parse(l) as { n: number }).n);
        return seen.length === 1 ? held : undefined;
      },
    });
    try {
      // Held at the first line, the client reads no more: the server stays blocked on a full socket
      // for good. Without the pause the client would read on, and the server write everything.
      let stillBlocked = 0;
      await until("the server is blocked on the held client, or has written everything", () => {
        stillBlocked = blocked && seen.length === 1 ? stillBlocked + 1 : 0;
        return stillBlocked >= 50 || written === total;
      }, Boolean, { timeoutMs: 60_000, intervalMs: 5 });
      expect(written).toBeLessThan(total);
      expect(seen).toEqual([0]);
    } finally {
      release();
    }
    expect(await done).toEqual({ status: 200 });
    expect(seen.length).toBe(total);
    expect(seen.every((n, i) => n === i)).toBe(true);
  });

  test("an abort ends it with the signal's reason and closes the connection", async () => {
    let closed = false;
    await using s = await rawServer((sock) => {
      sock.on("close", () => (closed = true));
      sock.write(`${HEAD}transfer-encoding: chunked\r\n\r\n`);
    });
    const ac = new AbortController();
    const p = failure(unixStream({ socketPath: s.path, method: "GET", path: "/x", headers: {}, onLine: () => {}, signal: ac.signal }));
    await until("the request arrives", () => s.requests.length === 1, Boolean, { timeoutMs: 10_000, intervalMs: 5 });
    const reason = new Error("interrupted");
    ac.abort(reason);
    expect(await p).toBe(reason as UnixStreamError);
    await until("the server sees the connection close", () => closed, Boolean, { timeoutMs: 10_000, intervalMs: 5 });
  });

  test("an abort before the connection opened sends nothing and ends it with the signal's reason", async () => {
    await using s = await rawServer((sock) => sock.end(`${HEAD}content-length: 0\r\n\r\n`));
    const ac = new AbortController();
    let waited = 0;
    const p = failure(unixStream({ socketPath: s.path, method: "GET", path: "/x", headers: {}, onLine: () => {}, signal: ac.signal, whileWaiting: () => void waited++ }));
    const reason = new Error("interrupted");
    ac.abort(reason);
    expect(await p).toBe(reason as UnixStreamError);
    // A request made after it is the only one the server gets.
    expect((await lines(s.path)).status).toBe(200);
    expect(s.requests).toHaveLength(1);
    expect(waited).toBe(0);
  });

  test("whileWaiting runs once, when the request has gone and before the answer is read", async () => {
    let answer: (() => void) | undefined;
    await using s = await rawServer((sock) => {
      answer = () => sock.end(`${HEAD}content-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`);
    });
    const seen: string[] = [];
    const p = unixStream({ socketPath: s.path, method: "POST", path: "/x", headers: {}, body: "{}", onLine: (l) => void seen.push(l), whileWaiting: () => void seen.push("waiting") });
    await until("the request arrives", () => answer, Boolean, { timeoutMs: 10_000, intervalMs: 5 });
    await until("whileWaiting runs", () => seen.length, (n) => n > 0, { timeoutMs: 10_000, intervalMs: 5 });
    answer!();
    expect((await p).status).toBe(200);
    expect(seen).toEqual(["waiting", '{"type":"stdout","data":"aMOp"}', '{"type":"progress","message":"hé ☃"}', '{"type":"result","exitCode":0}']);
  });

  test("what whileWaiting throws ends the request with it", async () => {
    await using s = await rawServer(() => {});
    const boom = new Error("boom");
    const err = await failure(unixStream({ socketPath: s.path, method: "GET", path: "/x", headers: {}, onLine: () => {}, whileWaiting: () => { throw boom; } }));
    expect(err).toBe(boom as UnixStreamError);
  });
});

describe("warmAnswer", () => {
  test("hands the canned answer's one line to onLine, with no socket, and nothing throws out of it", () => {
    const seen: string[] = [];
    warmAnswer((l) => void seen.push(l));
    expect(seen).toEqual(['{"type":"result","exitCode":0}']);
    expect(() => warmAnswer(() => { throw new Error("boom"); })).not.toThrow();
    expect(() => warmAnswer(() => new Promise(() => {}))).not.toThrow();
  });
});

// A short answer taken whole (version and list: src/cli/instant.ts), from all its bytes: under every
// runtime (it is plain code), and over the socket under Bun.
const JSON_BODY = JSON.stringify({ workspaces: [{ name: "é☃😀", labels: { k: "v\nw" } }], pad: "x".repeat(3000) });
const whole = (bytes: Buffer) => wholeAnswer(new Uint8Array(bytes));
const wholeFailure = (bytes: Buffer) => {
  try {
    whole(bytes);
  } catch (err) {
    const e = err as UnixStreamError;
    return { code: e.code, afterHead: e.afterHead };
  }
  throw new Error("expected a failure");
};
const answer = (head: string, body: Buffer | string = "") => Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(body)]);

describe("wholeAnswer", () => {
  test("every framing gives the whole body as text, whatever the status", () => {
    const body = Buffer.from(JSON_BODY);
    const cases: Array<[string, Buffer, { status: number; text: string }]> = [
      ["content-length", answer(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`, body), { status: 200, text: JSON_BODY }],
      ["content-length, bytes after it", answer(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, Buffer.concat([body, Buffer.from("junk")])), { status: 200, text: JSON_BODY }],
      // Pieces of 7 bytes: "☃" and "😀" are cut between chunks.
      ["chunks", answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", chunked(JSON_BODY, 7)), { status: 200, text: JSON_BODY }],
      ["chunks with an extension and a trailer", answer(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)};x=y\r\n`, Buffer.concat([body, Buffer.from("\r\n0\r\nx-trailer: 1\r\n\r\n")])), { status: 200, text: JSON_BODY }],
      ["the end of the connection", answer("HTTP/1.1 200 OK\r\n\r\n", body), { status: 200, text: JSON_BODY }],
      ["a 100 Continue first", answer(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`, body), { status: 200, text: JSON_BODY }],
      ["no body", answer("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"), { status: 204, text: "" }],
      ["an error status", answer('HTTP/1.0 409 Conflict\r\ncontent-length: 7\r\n\r\n{"e":1}'), { status: 409, text: '{"e":1}' }],
      // As fetch's text() (and TextDecoder) give it: without a byte order mark.
      ["a byte order mark", answer("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", Buffer.from("\ufeff{}")), { status: 200, text: "{}" }],
      ["a byte that is no UTF-8", answer("HTTP/1.1 200 OK\r\n\r\n", Buffer.from([0x7b, 0xff, 0x7d])), { status: 200, text: "{\ufffd}" }],
    ];
    for (const [name, bytes, expected] of cases) expect({ name, got: whole(bytes) }).toEqual({ name, got: expected });
  });

  test("an answer cut short fails as ECONNRESET, after its head or before; one that is no HTTP as EPROTO", () => {
    expect(wholeFailure(Buffer.alloc(0))).toEqual({ code: "ECONNRESET", afterHead: false });
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\ncontent-len"))).toEqual({ code: "ECONNRESET", afterHead: false });
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n", "{}"))).toEqual({ code: "ECONNRESET", afterHead: true });
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab"))).toEqual({ code: "ECONNRESET", afterHead: true });
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n"))).toEqual({ code: "ECONNRESET", afterHead: true });
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"))).toEqual({ code: "EPROTO", afterHead: true });
    expect(wholeFailure(answer("SSH-2.0-OpenSSH\r\n\r\n"))).toEqual({ code: "EPROTO", afterHead: false });
    // A head that is not ASCII: where its bytes end is not where its text does.
    expect(wholeFailure(answer("HTTP/1.1 200 OK\r\nx-name: ", Buffer.concat([Buffer.from("é\r\ncontent-length: 2\r\n\r\n{}")])))).toEqual({ code: "EPROTO", afterHead: false });
  });
});

describe.skipIf(!unixStreamAvailable())("unixAnswer", () => {
  const body = Buffer.from(JSON_BODY);
  const framed: Array<[string, Buffer]> = [
    ["content-length", answer(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`, body)],
    ["chunks", answer("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", chunked(JSON_BODY, 100))],
  ];
  for (const [name, bytes] of framed) {
    test(`an answer framed by ${name}, written at once and in pieces of 3 bytes, is the whole text; the request asks for the connection to close`, async () => {
      for (const step of [bytes.length, 3]) {
        await using s = await rawServer(async (sock) => {
          for (let i = 0; i < bytes.length; i += step) {
            sock.write(bytes.subarray(i, i + step));
            if (step < bytes.length) await new Promise((r) => setImmediate(r));
          }
          sock.end();
        });
        const got = await unixAnswer({ socketPath: s.path, method: "GET", path: "/api/v1/workspaces", headers: { accept: "application/json", "x-nexus-client": "cli" } });
        expect({ step, got }).toEqual({ step, got: { status: 200, text: JSON_BODY } });
        const fields = s.requests[0]!.split("\r\n\r\n")[0]!.split("\r\n");
        expect(fields[0]).toBe("GET /api/v1/workspaces HTTP/1.1");
        expect(fields).toContain("connection: close");
        expect(fields).toContain("accept: application/json");
        expect(fields).toContain("x-nexus-client: cli");
      }
    });
  }

  test("no socket is ENOENT, a file that is no socket ECONNREFUSED, a connection closed before answering ECONNRESET", async () => {
    await using dir = tempDir("unix-answer");
    const ask = (socketPath: string) => failure(unixAnswer({ socketPath, method: "GET", path: "/x", headers: {} }));
    const missing = await ask(join(dir.path, "none.sock"));
    expect({ code: missing.code, afterHead: missing.afterHead }).toEqual({ code: "ENOENT", afterHead: false });
    await Bun.write(join(dir.path, "file"), "");
    const refused = await ask(join(dir.path, "file"));
    expect({ code: refused.code, afterHead: refused.afterHead }).toEqual({ code: "ECONNREFUSED", afterHead: false });
    await using closed = await rawServer((sock) => sock.destroy());
    const reset = await ask(closed.path);
    expect({ code: reset.code, afterHead: reset.afterHead }).toEqual({ code: "ECONNRESET", afterHead: false });
  });

  test("an abort ends it with the signal's reason and closes the connection", async () => {
    let closed = false;
    await using s = await rawServer((sock) => {
      sock.on("close", () => (closed = true));
      sock.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{");
    });
    const ac = new AbortController();
    const p = failure(unixAnswer({ socketPath: s.path, method: "GET", path: "/x", headers: {}, signal: ac.signal }));
    await until("the request arrives", () => s.requests.length === 1, Boolean, { timeoutMs: 10_000, intervalMs: 5 });
    const reason = new Error("timed out");
    ac.abort(reason);
    expect(await p).toBe(reason as UnixStreamError);
    await until("the server sees the connection close", () => closed, Boolean, { timeoutMs: 10_000, intervalMs: 5 });
  });
});
