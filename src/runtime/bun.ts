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

async function bunServe(options: Record<string, unknown>, fetch: FetchHandler): Promise<Server> {
  const { websocket } = await honoBun();
  // maxRequestBodySize: the app refuses big bodies itself (RESOURCE_EXHAUSTED in the spec's format, not an empty 413).
  // idleTimeout 0: an exec may print nothing for minutes and must not be cut off.
  // (bun-types lists idleTimeout only for TCP options; the server honours it on unix sockets too.)
  const server = Bun.serve({ ...options, fetch: (req: Request, srv: unknown) => fetch(req, srv), websocket: bunWebSocket(websocket), idleTimeout: 0, maxRequestBodySize: Number.MAX_SAFE_INTEGER } as unknown as Parameters<typeof Bun.serve>[0]);
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
