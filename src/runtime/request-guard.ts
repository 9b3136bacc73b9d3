// What both server adapters (bun.ts, deno.ts) do to every request before the app sees it: the body of
// a request is read whole within a time limit, refusals use the spec's error envelope, and every
// answer closes its connection (so a connection serves one request, whose headers are timed).
import { refusedPathBody, MAX_PATH_SEGMENTS } from "./raw-path.ts";

/** Seconds a request's head or body may stay silent before the request is refused. */
export const REQUEST_IDLE_SECONDS = 10;
/** Bodies are small JSON documents (the app refuses past 1 MiB); more than this is not read ahead. */
const READ_AHEAD_BYTES = 1024 * 1024 + 1;
/**
 * A body declared this small is read in one call (the runtime's own read), within REQUEST_IDLE_SECONDS
 * in all rather than of silence: a chunk loop on the body's stream cost ~10x its CPU (Bun: ~35 against
 * ~4 us for an exec request), and a client that needs 10 s for 64 KiB (6.5 KB/s) has as good as stalled.
 */
const READ_AT_ONCE_BYTES = 64 * 1024;

/** The request with its body read (up to READ_AHEAD_BYTES; the app's limit refuses the rest), or undefined when it stalled. */
export async function withWholeBody(req: Request): Promise<Request | undefined> {
  if (req.method === "GET" || req.method === "HEAD") return req;
  // A body of unknown length is a stream the client keeps open on purpose (exec's stdin): the app reads it as it comes.
  const length = req.headers.get("content-length");
  if (length === null) return req;
  // A positive declared length has a body; only otherwise is `body` asked whether there is one
  // (asking makes Bun build a stream for a body it would hand over whole).
  const declared = Number(length);
  if (!(declared > 0) && !req.body) return req;
  if (declared <= READ_AT_ONCE_BYTES) return await withSmallBody(req);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body!.getReader();
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<"stalled">((resolve) => (timer = setTimeout(() => resolve("stalled"), REQUEST_IDLE_SECONDS * 1000)));
    const next = await Promise.race([reader.read(), stalled]).finally(() => clearTimeout(timer));
    if (next === "stalled") {
      void reader.cancel().catch(() => {});
      return undefined;
    }
    if (next.done) break;
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size >= READ_AHEAD_BYTES) {
      void reader.cancel().catch(() => {});
      break;
    }
  }
  return new Request(req.url, { method: req.method, headers: req.headers, body: Buffer.concat(chunks), signal: req.signal });
}

/** `req` with its body read in one call, or undefined when that took over REQUEST_IDLE_SECONDS. */
async function withSmallBody(req: Request): Promise<Request | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), REQUEST_IDLE_SECONDS * 1000)));
  const read = req.arrayBuffer();
  const body = await Promise.race([read, stalled]).finally(() => clearTimeout(timer));
  if (body === undefined) {
    // Still pending: the adapter closes the connection after the refusal, which ends (or rejects) it.
    read.catch(() => {});
    return undefined;
  }
  return new Request(req.url, { method: req.method, headers: req.headers, body, signal: req.signal });
}

const STALLED_BODY = JSON.stringify({
  error: { code: "INVALID_ARGUMENT", message: `The request's body stopped arriving for ${REQUEST_IDLE_SECONDS} s`, suggestion: "Send the whole body at once", retryable: false },
});

/** The refusal of a path with an empty segment, a trailing '/' or too many segments (where a '..' may hide). */
export const NON_CANONICAL_PATH = refusedPathBody(`an empty segment, a trailing '/' or more than ${MAX_PATH_SEGMENTS} segments`);

/** A 400 with this error envelope, closing the connection. */
export const refuse = (body: string) => new Response(body, { status: 400, headers: { "content-type": "application/json", connection: "close" } });

/** The app's answer to `req`, its body first read whole (or refused when it stalls), marked to close the connection. */
export async function guarded<E>(
  req: Request,
  env: E,
  fetch: (req: Request, env: E) => Response | Promise<Response>,
  /** What the adapter does to an answer sent while the body is still unread (Deno: the front sends it and cuts). */
  stalled: (res: Response) => Response = (res) => res,
): Promise<Response> {
  // Read before the app runs: once Deno has upgraded a request to a WebSocket, its headers are gone.
  const upgrade = req.headers.get("upgrade") !== null;
  const full = await withWholeBody(req);
  if (!full) return stalled(refuse(STALLED_BODY));
  const res = await fetch(full, env);
  if (!res || upgrade) return res;
  try {
    res.headers.set("connection", "close");
    return res;
  } catch {
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: [...res.headers, ["connection", "close"]] });
  }
}
