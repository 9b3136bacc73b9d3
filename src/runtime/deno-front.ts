// The front of the daemon's listeners under Deno. Deno.serve offers no header timeout and keeps a
// connection open after an answer that says `connection: close` (measured with Deno 2.9: a request
// line sent by half, or a second request begun on a kept-alive connection, held a connection for
// ever). So the daemon's socket is accepted here: the first request's head must arrive whole within
// REQUEST_IDLE_SECONDS, and it is handed on with `Connection: close` (WebSocket upgrades aside), so
// Deno.serve, listening on a private socket behind this front, answers one request per connection and
// then closes it. Bytes are copied as they come; the request body's timeout is the adapter's (request-guard.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REQUEST_IDLE_SECONDS } from "./request-guard.ts";

interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}
interface DenoListener extends AsyncIterable<DenoConn> {
  close(): void;
}
type ListenAt = { transport: "unix"; path: string } | { hostname: string; port: number };
type ServeHandler = (req: Request) => Response | Promise<Response>;

declare const Deno: {
  listen(o: ListenAt): DenoListener;
  connect(o: { transport: "unix"; path: string }): Promise<DenoConn>;
  serve(o: { path: string; transport: "unix"; onListen?: () => void }, handler: ServeHandler): { shutdown(): Promise<void> };
};

/** Largest request head (request line and headers) accepted; the API's heads are well under 8 KiB. */
const MAX_HEAD_BYTES = 64 * 1024;

function indexOfHeadEnd(buf: Uint8Array, from: number): number {
  for (let i = Math.max(0, from - 3); i + 4 <= buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i + 4;
  }
  return -1;
}

/** The first request's head and what followed it, or undefined when it did not arrive whole in time. */
async function readHead(conn: DenoConn): Promise<{ head: string; rest: Uint8Array } | undefined> {
  let buf = new Uint8Array(0);
  const deadline = Date.now() + REQUEST_IDLE_SECONDS * 1000;
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()))));
    const n = await Promise.race([conn.read(chunk), late]).finally(() => clearTimeout(timer));
    if (n === "late" || n === null) return undefined;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    const end = indexOfHeadEnd(next, buf.length);
    buf = next;
    if (end >= 0) return { head: new TextDecoder("latin1").decode(buf.subarray(0, end)), rest: buf.subarray(end) };
    if (buf.length > MAX_HEAD_BYTES) return undefined;
  }
}

/** Names the front's connection in the head handed on (a client's own header of this name is dropped). */
const FRONT_HEADER = "x-nexus-front-connection";

/**
 * The head handed on: `Connection: close` in place of any Connection header (unless it asks for an
 * upgrade), and the front's connection id.
 */
export function closingHead(head: string, id: string): string {
  const lines = head.slice(0, -4).split("\r\n").filter((l) => !l.toLowerCase().startsWith(`${FRONT_HEADER}:`));
  lines.push(`${FRONT_HEADER}: ${id}`);
  if (lines.some((l) => /^upgrade\s*:/i.test(l))) return lines.join("\r\n") + "\r\n\r\n";
  return [...lines.filter((l) => !/^(connection|keep-alive)\s*:/i.test(l)), "Connection: close"].join("\r\n") + "\r\n\r\n";
}

/**
 * Answers the server marks as the last word on their connection even though the request's body
 * has not all arrived (a stalled body): Deno.serve would wait for the rest before closing, so the
 * front writes the answer to the client itself and closes both sides.
 */
const cutAnswers = new WeakSet<Response>();

/** Marks `res` (a small, whole answer) to be sent by the front, which then closes the connection. */
export function cutAfter(res: Response): Response {
  cutAnswers.add(res);
  return res;
}

async function rawAnswer(res: Response): Promise<Uint8Array> {
  const body = new Uint8Array(await res.arrayBuffer());
  const head = [`HTTP/1.1 ${res.status} ${res.statusText || "Bad Request"}`, ...[...res.headers].filter(([k]) => k !== "content-length" && k !== "connection").map(([k, v]) => `${k}: ${v}`), "connection: close", `content-length: ${body.length}`];
  const headBytes = new TextEncoder().encode(head.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

async function writeAll(conn: DenoConn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await conn.write(data.subarray(off));
}

/** A relayed connection: how the server's handler reaches its client to cut it. */
interface Relay {
  cut(answer: Uint8Array): Promise<void>;
}

async function relay(client: DenoConn, inner: string, relays: Map<string, Relay>): Promise<void> {
  const first = await readHead(client).catch(() => undefined);
  if (!first) return client.close();
  let back: DenoConn;
  try {
    back = await Deno.connect({ transport: "unix", path: inner });
  } catch {
    return client.close();
  }
  let closed = false;
  const closeBoth = () => {
    if (closed) return;
    closed = true;
    for (const c of [client, back]) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  };
  const id = crypto.randomUUID();
  let cutting = false;
  relays.set(id, {
    async cut(answer) {
      cutting = true;
      await writeAll(client, answer).catch(() => {});
      closeBoth();
    },
  });
  try {
    await writeAll(back, new TextEncoder().encode(closingHead(first.head, id)));
    if (first.rest.length) await writeAll(back, first.rest);
    // The answer ends when Deno.serve closes its side (Connection: close). A client that goes away
    // (Ctrl-C on an exec) closes the server's side too, so the request's signal aborts; like node's
    // http server, a client's half close counts as going away.
    void client.readable.pipeTo(back.writable, { preventClose: true }).then(closeBoth, closeBoth);
    await back.readable.pipeTo(client.writable, { preventClose: true }).catch(() => {});
  } catch {
    // either side went away
  } finally {
    relays.delete(id);
    if (!cutting) closeBoth();
  }
}

/**
 * Serves `handler` at `at` behind the front described above. Deno.serve itself listens on a socket in
 * a fresh 0700 folder of the temporary directory, which only the daemon's user can reach.
 */
export async function serveFronted(at: ListenAt, handler: ServeHandler): Promise<{ stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "nexus-deno-"));
  const inner = join(dir, "http.sock");
  // Both bind synchronously (a failure throws here); onListen is given so Deno prints nothing.
  const relays = new Map<string, Relay>();
  const wrapped = async (req: Request): Promise<Response> => {
    const id = req.headers.get(FRONT_HEADER); // before the handler: an upgraded request has no headers left
    const res = await handler(req);
    const via = id === null ? undefined : relays.get(id);
    if (via && cutAnswers.has(res)) await via.cut(await rawAnswer(res.clone()));
    return res;
  };
  const server = Deno.serve({ path: inner, transport: "unix", onListen: () => {} }, wrapped);
  let listener: DenoListener;
  try {
    listener = Deno.listen(at);
  } catch (err) {
    await server.shutdown().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  void (async () => {
    try {
      for await (const conn of listener) void relay(conn, inner, relays).catch(() => {});
    } catch {
      // the listener was closed
    }
  })();
  return {
    async stop() {
      try {
        listener.close();
      } catch {
        // already closed
      }
      await server.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
