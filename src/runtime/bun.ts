import { MAX_PATH_SEGMENTS, refusedPathBody, refusedSegment } from "./raw-path.ts";
import { guarded, NON_CANONICAL_PATH, refuse } from "./request-guard.ts";
import { WS_MAX_FRAME_BYTES, type FetchHandler, type Runtime, type Server } from "./types.ts";
import { fetchUnix } from "./fetch-unix.ts";

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

type BunServer = unknown;

/**
 * The daemon's server. Half-sent requests: Bun cuts a connection whose request line or headers stall
 * for about 10 s before its first request is dispatched, but not before a second one on a kept-alive
 * connection (there only the server-wide idle timeout applies, which must stay off: Bun does not lift
 * it on the unix socket for a streamed answer, and a silent exec would be cut). So every answer
 * carries `connection: close`: a connection serves one request, and its headers are always timed.
 * (A new connection costs well under a millisecond on either listener; WebSocket upgrades are kept.)
 */
async function bunServe(options: Record<string, unknown>, fetch: FetchHandler): Promise<Server> {
  const { websocket } = await honoBun();
  const dispatch = (req: Request, srv: BunServer): Promise<Response> => guarded(req, srv, fetch);
  // Bun's route table matches the raw path (raw-path.ts): one route per depth hands over its segments.
  const routes: Record<string, (req: Request & { params: Record<string, string> }, srv: BunServer) => Promise<Response> | Response> = {};
  let pattern = "";
  for (let i = 0; i < MAX_PATH_SEGMENTS; i++) {
    pattern += `/:s${i}`;
    routes[pattern] = (req, srv) => {
      const reason = refusedSegment(Object.values(req.params));
      return reason ? refuse(refusedPathBody(reason)) : dispatch(req, srv);
    };
  }
  // maxRequestBodySize: the app refuses big bodies itself (RESOURCE_EXHAUSTED in the spec's format, not an empty 413).
  const server = Bun.serve({
    ...options,
    routes,
    // No route matched: the root, or a raw path with an empty segment, a trailing '/' or too many
    // segments, where a '..' may hide (`/ws/checkpoints/%2e%2e/` is `/ws/` to the app).
    fetch: (req: Request, srv: BunServer) => (new URL(req.url).pathname === "/" ? dispatch(req, srv) : refuse(NON_CANONICAL_PATH)),
    websocket: bunWebSocket(websocket),
    // idleTimeout 0: an exec may print nothing for minutes and must not be cut off.
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
  fetchUnix,
  selfCommand() {
    return { argv: isCompiled() ? [process.execPath] : [process.execPath, Bun.main] };
  },
  daemonEnv() {
    // The daemon runs JavaScript in JavaScriptCore's interpreter only (LLInt), with no JIT tier: each
    // tier's compiled code, and the allocator memory that lives with it, were what a burst of
    // workspaces left behind while the JS heap stayed flat (bench/memory.ts, RSS after 20 created and
    // destroyed: with DFG 1.12-1.20x idle; with the baseline JIT 1.02-1.11x, more of it as more of
    // ssh2 got compiled; with none 1.02-1.07x, and idle 5 MB smaller). The daemon waits on I/O: its
    // CPU per exec, per 100 MB of exec output and per 2M session lines followed measured the same
    // (README, Performance). BUN_JSC_useBaselineJIT=1 / BUN_JSC_useDFGJIT=1 in its environment turn them back on.
    return { BUN_JSC_useDFGJIT: "0", BUN_JSC_useBaselineJIT: "0" };
  },
  compiledBinary() {
    return isCompiled() ? process.execPath : undefined;
  },
  stdinStream() {
    return Bun.stdin.stream() as ReadableStream<Uint8Array>;
  },
  releaseMemory() {
    Bun.gc(true);
    // Bun.gc hands mimalloc's free pages back (mi_collect) before it collects, so what that
    // collection's finalizers freed stayed in mimalloc's pages: 2.6-3.3 MB over idle in 3 rounds of 9
    // after 20 workspaces were destroyed (bench/memory.ts). A second one shortly after returns it:
    // anon within 0.9 MB of idle in all 9 rounds of 3 runs.
    const again = setTimeout(() => Bun.gc(true), 200);
    (again as { unref?: () => void }).unref?.();
  },
  async heapCounts() {
    const jsc = await import("bun:jsc");
    const s = jsc.heapStats();
    const protectedCounts = Object.entries(s.protectedObjectTypeCounts).map(([k, v]) => [`protected ${k}`, v]);
    const m = jsc.memoryUsage();
    return {
      heapSize: s.heapSize,
      heapCapacity: s.heapCapacity,
      extraMemorySize: s.extraMemorySize,
      mimallocCommit: m.currentCommit,
      objectCount: s.objectCount,
      protectedObjectCount: s.protectedObjectCount,
      ...s.objectTypeCounts,
      ...Object.fromEntries(protectedCounts),
    };
  },
  heapSnapshot() {
    return Bun.generateHeapSnapshot("v8");
  },
};
