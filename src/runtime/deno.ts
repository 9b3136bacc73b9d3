import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FetchHandler, Runtime, Server } from "./types.ts";

declare const Deno: {
  serve(opts: { path: string; transport: "unix"; onListen?: () => void }, handler: FetchHandler): { shutdown(): Promise<void>; finished: Promise<void> };
  execPath(): string;
  createHttpClient(opts: { proxy: { transport: "unix"; path: string } }): { close(): void };
  mainModule: string;
};

export const denoRuntime: Runtime = {
  name: "deno",
  serveUnix(path: string, fetch: FetchHandler): Promise<Server> {
    return new Promise((resolve) => {
      const server = Deno.serve({ path, transport: "unix", onListen: () => resolve({ stop: () => server.shutdown() }) }, fetch);
    });
  },
  async fetchUnix(socketPath, url, init) {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
    try {
      const res = await fetch(url, { ...init, client } as RequestInit);
      // The body is read later; close the client once it is consumed.
      if (!res.body) client.close();
      return res;
    } catch (err) {
      client.close();
      throw err;
    }
  },
  selfCommand() {
    const main = fileURLToPath(Deno.mainModule);
    // npm packages resolve from the project's package.json, so run from the folder that holds it.
    let dir = dirname(main);
    while (dir !== dirname(dir) && !existsSync(join(dir, "package.json"))) dir = dirname(dir);
    return { argv: [Deno.execPath(), "run", "-A", main], cwd: dir };
  },
};
