import type { UpgradeWebSocket } from "hono/ws";

/** A request handler; `env` is what the runtime hands along (Bun: its server, needed to upgrade WebSockets). */
export type FetchHandler = (req: Request, env?: unknown) => Response | Promise<Response>;

export interface Server {
  /** Stops accepting; in-flight requests may finish (bounded by the caller). */
  stop(): Promise<void>;
}

/** The runtime's WebSocket upgrade for Hono, and how full a socket's send buffer is. */
export interface WebSocketSupport {
  upgradeWebSocket: UpgradeWebSocket;
  /** Bytes queued to send on the raw socket (WSContext.raw): a slow reader makes this grow. */
  bufferedAmount(raw: unknown): number;
}

/** Largest WebSocket frame the runtime accepts before it closes the connection (1009); the app's own limit is lower. */
export const WS_MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** What differs between Bun and Deno; everything else uses web standards and node: modules. */
export interface Runtime {
  name: "bun" | "deno";
  serveUnix(path: string, fetch: FetchHandler): Promise<Server>;
  serveTcp(hostname: string, port: number, fetch: FetchHandler): Promise<Server>;
  webSocket(): Promise<WebSocketSupport>;
  /** fetch() over a unix socket: the CLI's way to the local daemon. */
  fetchUnix(socketPath: string, url: string, init: RequestInit): Promise<Response>;
  /** argv (and cwd) that run this same program again, e.g. to start the daemon in the background. */
  selfCommand(): { argv: string[]; cwd?: string };
  /**
   * Environment the daemon's process starts with (the CLI's auto-start and the service units), under
   * whatever the user set: runtime settings read once at start, before any code runs.
   */
  daemonEnv(): Record<string, string>;
  /** The path of this program when it runs as the compiled `nexus` binary (ssh_config's ProxyCommand runs it). */
  compiledBinary(): string | undefined;
  /**
   * Standard input (a pipe or a file) as a stream of bytes, read as the consumer pulls. The runtime's
   * own reader: node's process.stdin costs more to set up than the rest of a `nexus exec`.
   */
  stdinStream(): ReadableStream<Uint8Array>;
  /**
   * A full garbage collection that also hands freed pages back to the system (Bun: JSC plus
   * mimalloc). The daemon calls it when workspaces go away, so its size follows what it holds.
   */
  releaseMemory(): void;
  /** The collector's figures (heap size, live objects by type) when the runtime gives them: a leak hunt's evidence (NEXUS_DEBUG_HEAP). */
  heapCounts?(): Promise<Record<string, number>>;
  /** A heap snapshot in V8's format (Chrome DevTools reads it), when the runtime makes one. */
  heapSnapshot?(): string;
}
