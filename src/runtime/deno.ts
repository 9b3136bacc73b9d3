import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cutAfter, serveFronted } from "./deno-front.ts";
import { refusedPathBody, refusedRawTarget } from "./raw-path.ts";
import { guarded, NON_CANONICAL_PATH, refuse } from "./request-guard.ts";
import type { FetchHandler, Runtime, Server } from "./types.ts";
import { fetchUnix } from "./fetch-unix.ts";

declare const Deno: {
  execPath(): string;
  mainModule: string;
  stdin: { readable: ReadableStream<Uint8Array> };
  unrefTimer(id: number): void;
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
  fetchUnix,
  compiledBinary() {
    return undefined; // `deno compile` is not how Nexus ships
  },
  stdinStream() {
    return Deno.stdin.readable;
  },
  releaseMemory() {
    // V8 offers no collection without --expose-gc; when it was given, use it. Its own GC runs otherwise.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return;
    gc();
    // As under Bun (bun.ts): what the first collection's finalizers freed is returned by a second.
    const again = setTimeout(gc, 200);
    Deno.unrefTimer(again as unknown as number);
  },
  selfCommand() {
    const main = fileURLToPath(Deno.mainModule);
    // npm packages resolve from the project's package.json, so run from the folder that holds it.
    let dir = dirname(main);
    while (dir !== dirname(dir) && !existsSync(join(dir, "package.json"))) dir = dirname(dir);
    return { argv: [Deno.execPath(), "run", "-A", main], cwd: dir };
  },
  daemonEnv() {
    // V8 with a young generation of 1 MB semi-spaces, and a full collection the daemon can ask for
    // (releaseMemory, after a burst of destroys). With V8's defaults the young generation grew and kept
    // its pages: 166 MB with 20 workspaces running and 1.19-1.43x idle after they were destroyed,
    // growing each round, while the live heap stayed flat (bench/memory.ts, NEXUS_RUNTIME=deno).
    // Read by Deno when it starts, so it reaches the daemon the CLI starts and the service units; a
    // DENO_V8_FLAGS of the user's own wins. Deno has no process.execve: a `nexus daemon` typed by hand
    // in the foreground runs with the user's environment as it is.
    return { DENO_V8_FLAGS: "--max-semi-space-size=1,--expose-gc" };
  },
};
