import type { FetchHandler, Runtime, Server } from "./types.ts";

export const bunRuntime: Runtime = {
  name: "bun",
  async serveUnix(path: string, fetch: FetchHandler): Promise<Server> {
    // idleTimeout 0: an exec may print nothing for minutes and must not be cut off.
    // (bun-types lists idleTimeout only for TCP options; the server honours it on unix sockets too.)
    const server = Bun.serve({ unix: path, fetch, idleTimeout: 0 } as unknown as Parameters<typeof Bun.serve>[0]);
    return { stop: () => server.stop(false) };
  },
  fetchUnix(socketPath, url, init) {
    return fetch(url, { ...init, unix: socketPath } as RequestInit);
  },
  selfCommand() {
    const compiled = Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main);
    return { argv: compiled ? [process.execPath] : [process.execPath, Bun.main] };
  },
};
