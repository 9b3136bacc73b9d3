// A throwaway HTTP server on 127.0.0.1 (a free port) for tests, under Bun or Deno (the unit suite
// runs under both: scripts/test-deno.sh). The daemon's own listeners are src/runtime's.
type Handler = (req: Request) => Response | Promise<Response>;

declare const Deno: {
  serve(o: { hostname: string; port: number; onListen?: (a: { port: number }) => void }, h: Handler): { addr: { port: number }; shutdown(): Promise<void> };
};

export interface TestServer {
  port: number;
  url: string;
  /** Stops it; open connections are closed. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function serveLocal(fetch: Handler): TestServer {
  if ("Deno" in globalThis) {
    const ac = new AbortController();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {}, signal: ac.signal } as never, fetch);
    const stop = async () => {
      ac.abort();
      await server.shutdown().catch(() => {});
    };
    return { port: server.addr.port, url: `http://127.0.0.1:${server.addr.port}`, stop, [Symbol.asyncDispose]: stop };
  }
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
  const stop = async () => void (await server.stop(true));
  return { port: server.port as number, url: `http://127.0.0.1:${server.port}`, stop, [Symbol.asyncDispose]: stop };
}
