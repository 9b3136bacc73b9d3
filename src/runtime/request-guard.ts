// What both server adapters (bun.ts, deno.ts) do to every request before the app sees it: the body of
// a request is read whole within a time limit, refusals use the spec's error envelope, and every
// answer closes its connection (so a connection serves one request, whose headers are timed).
import { refusedPathBody, MAX_PATH_SEGMENTS } from "./raw-path.ts";

/** Seconds a request's head or body may stay silent before the request is refused. */
export const REQUEST_IDLE_SECONDS = 10;
/** Bodies are small JSON documents (the app refuses past 1 MiB); more than this is not read ahead. */
const READ_AHEAD_BYTES = 1024 * 1024 + 1;

/** The request with its body read (up to READ_AHEAD_BYTES; the app's limit refuses the rest), or undefined when it stalled. */
export async function withWholeBody(req: Request): Promise<Request | undefined> {
  if (!req.body || req.method === "GET" || req.method === "HEAD") return req;
  // A body of unknown length is a stream the client keeps open on purpose (exec's stdin): the app reads it as it comes.
  if (req.headers.get("content-length") === null) return req;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
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
