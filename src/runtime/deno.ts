import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cutAfter, serveFronted } from "./deno-front.ts";
import { refusedPathBody, refusedRawTarget } from "./raw-path.ts";
import { guarded, NON_CANONICAL_PATH, refuse } from "./request-guard.ts";
import type { FetchHandler, Runtime, Server } from "./types.ts";

declare const Deno: {
  execPath(): string;
  createHttpClient(opts: { proxy: { transport: "unix"; path: string } }): { close(): void };
  mainModule: string;
  stdin: { readable: ReadableStream<Uint8Array> };
};

/**
 * The app behind the checks Bun's adapter makes (bun.ts): Deno's `request.url` is the target as the
 * client sent it, so the raw path is checked here before anything parses it; then the body timeout and
 * `connection: close`. The header timeout and one request per connection are deno-front.ts's.
 */
function guard(fetch: FetchHandler): (req: Request) => Promise<Response> | Response {
  return (req) => {
    const refused = refusedRawTarget(req.url);
    if (refused) return refuse("reason" in refused ? refusedPathBody(refused.reason) : NON_CANONICAL_PATH);
    return guarded(req, undefined, fetch, cutAfter);
  };
}

export const denoRuntime: Runtime = {
  name: "deno",
  serveUnix(path: string, fetch: FetchHandler): Promise<Server> {
    return serveFronted({ transport: "unix", path }, guard(fetch));
  },
  serveTcp(hostname: string, port: number, fetch: FetchHandler): Promise<Server> {
    return serveFronted({ hostname, port }, guard(fetch));
  },
  async webSocket() {
    const { upgradeWebSocket } = await import("hono/deno");
    return { upgradeWebSocket, bufferedAmount: (raw: unknown) => (raw as { bufferedAmount?: number }).bufferedAmount ?? 0 };
  },
  async fetchUnix(socketPath, url, init) {
    // Deno resolves the URL's host name even when the connection goes to a unix socket: a name like
    // "nexus" costs a DNS query (5 s per request where DNS answers slowly or not at all). An IP
    // literal needs no lookup; the daemon does not look at the Host header.
    const target = new URL(url);
    target.hostname = "127.0.0.1";
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
    let res: Response;
    try {
      res = await fetch(target, { ...init, client } as RequestInit);
    } catch (err) {
      client.close();
      throw err;
    }
    if (!res.body) {
      client.close();
      return res;
    }
    // Each client holds its own connection (a file descriptor) until closed: close it once the body
    // is read to the end, fails, or is cancelled.
    let open = true;
    const close = () => {
      if (open) {
        open = false;
        client.close();
      }
    };
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            close();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          close();
          controller.error(err);
        }
      },
      async cancel(reason) {
        try {
          await reader.cancel(reason);
        } finally {
          close();
        }
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  },
  compiledBinary() {
    return undefined; // `deno compile` is not how Nexus ships
  },
  stdinStream() {
    return Deno.stdin.readable;
  },
  releaseMemory() {
    // V8 offers no collection without --expose-gc; when it was given, use it. Its own GC runs otherwise.
    (globalThis as { gc?: () => void }).gc?.();
  },
  selfCommand() {
    const main = fileURLToPath(Deno.mainModule);
    // npm packages resolve from the project's package.json, so run from the folder that holds it.
    let dir = dirname(main);
    while (dir !== dirname(dir) && !existsSync(join(dir, "package.json"))) dir = dirname(dir);
    return { argv: [Deno.execPath(), "run", "-A", main], cwd: dir };
  },
  daemonEnv() {
    return {};
  },
};
