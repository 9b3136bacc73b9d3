import { WS_MAX_FRAME_BYTES, type FetchHandler, type Runtime, type Server } from "./types.ts";

// hono/bun is loaded by the server paths only: the CLI imports this adapter for fetchUnix, and
// evaluating Hono's adapter there cost as much as the rest of a `nexus version`.
const honoBun = () => import("hono/bun");

// Hono's WebSocket handlers, with limits: frames past WS_MAX_FRAME_BYTES close the connection, a
// reader that lets 16 MiB pile up is dropped, and idle connections are pinged (and closed after 2 min).
const bunWebSocket = (websocket: object) => ({
  ...websocket,
  maxPayloadLength: WS_MAX_FRAME_BYTES,
  backpressureLimit: 16 * 1024 * 1024,
  closeOnBackpressureLimit: true,
  idleTimeout: 120,
  sendPings: true,
});

/** Seconds a request's body may stay silent before the request is refused. */
export const REQUEST_IDLE_SECONDS = 10;
/** Bodies are small JSON documents (the app refuses past 1 MiB); more than this is not read ahead. */
const READ_AHEAD_BYTES = 1024 * 1024 + 1;

/** The request with its body read (up to READ_AHEAD_BYTES; the app's limit refuses the rest), or undefined when it stalled. */
async function withWholeBody(req: Request): Promise<Request | undefined> {
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

async function bunServe(options: Record<string, unknown>, fetch: FetchHandler): Promise<Server> {
  const { websocket } = await honoBun();
  // maxRequestBodySize: the app refuses big bodies itself (RESOURCE_EXHAUSTED in the spec's format, not an empty 413).
  // idleTimeout 0: an exec may print nothing for minutes and must not be cut off. (Bun's per-request
  // server.timeout(req, 0) did not lift a server-wide idleTimeout for a streamed answer: such
  // answers were cut after the idle time, so half-sent bodies are timed here instead.)
  const server = Bun.serve({
    ...options,
    fetch: async (req: Request, srv: unknown) => {
      const full = await withWholeBody(req);
      if (!full) return new Response(STALLED_BODY, { status: 400, headers: { "content-type": "application/json", connection: "close" } });
      return fetch(full, srv);
    },
    websocket: bunWebSocket(websocket),
    idleTimeout: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  } as unknown as Parameters<typeof Bun.serve>[0]);
  return { stop: () => server.stop(false) };
}

/** Running as the `bun build --compile` binary: the entry lives in Bun's embedded file system. */
function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main);
}

export const bunRuntime: Runtime = {
  name: "bun",
  async serveUnix(path: string, fetch: FetchHandler): Promise<Server> {
    return bunServe({ unix: path }, fetch);
  },
  async serveTcp(hostname: string, port: number, fetch: FetchHandler): Promise<Server> {
    return bunServe({ hostname, port }, fetch);
  },
  async webSocket() {
    const { upgradeWebSocket } = await honoBun();
    return { upgradeWebSocket, bufferedAmount: (raw: unknown) => (raw as { getBufferedAmount?: () => number }).getBufferedAmount?.() ?? 0 };
  },
  fetchUnix(socketPath, url, init) {
    return fetch(url, { ...init, unix: socketPath } as RequestInit);
  },
  selfCommand() {
    return { argv: isCompiled() ? [process.execPath] : [process.execPath, Bun.main] };
  },
  compiledBinary() {
    return isCompiled() ? process.execPath : undefined;
  },
};
