// `nexus version` and `nexus list` (plain or --json) on their shortest path, against the local daemon.
// The time of a short command is mostly the runtime's first run of our code (each module loaded and
// each function run for the first time costs fresh memory: bench/exec.ts shows it above the floor),
// so this path runs as little as it can: one request with the headers every CLI request carries
// (request-headers.ts), and the answer printed by the command's own renderer; what it imports is
// bundled with it into one module of the binary (scripts/hot-paths.ts). It takes only the
// answer it expects. Anything else (no daemon answering, which the full path starts; another build,
// which it replaces; an error answer; -u/--url; any other word) returns undefined before anything is
// printed, and the short commands' path (quick.ts) does the command as before, asking again: both
// requests are GETs, which change nothing.
import { fetchUnix } from "../runtime/fetch-unix.ts";
import { unixAnswer, unixStreamAvailable } from "../runtime/unix-stream.ts";
import { writeStdio } from "../runtime/stdio.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildId, buildInfo } from "../version.ts";
import { requestHeaders } from "./request-headers.ts";
import type { DaemonVersion } from "./local-daemon.ts";
import { versionText } from "./commands/version-text.ts";
import { listText } from "./commands/list.ts";
import { useColor } from "./output.ts";

type Env = Record<string, string | undefined>;

/** How long `version` waits for a daemon that is there but does not answer (as daemonVersion does). */
const VERSION_TIMEOUT_MS = 3000;

/** The command's exit code, or undefined when the full path must do it. */
export async function runInstant(argv: readonly string[], env: Env): Promise<number | undefined> {
  if (env.NEXUS_FULL_CLI === "1" || env.NEXUS_URL) return undefined;
  // A loop, not some(): a builtin's first call with a callback cost this path about 0.3 ms.
  for (let i = 1; i < argv.length; i++) if (argv[i] !== "--json") return undefined;
  const json = argv.length > 1;
  const socket = nexusPaths(env).daemonSocket;
  if (argv[0] === "version") {
    // Never starts a daemon: any failure to answer is "not running", as in versionCommand.
    const answer = await ask(socket, "/api/v1/version", { signal: AbortSignal.timeout(VERSION_TIMEOUT_MS) });
    await writeStdio(1, versionText(buildInfo(), answer as DaemonVersion | undefined, json));
    return 0;
  }
  if (argv[0] === "list" || argv[0] === "ls") {
    const answer = await ask(socket, "/api/v1/workspaces", { expectVersion: buildId() });
    if (!isWorkspaceList(answer)) return undefined;
    await writeStdio(1, listText(answer, json, !json && useColor(1)));
    return 0;
  }
  return undefined;
}

/**
 * A GET's JSON answer when the daemon answered 200 with JSON; undefined for anything else. Under Bun
 * over Bun's own socket (unixAnswer): fetch's first request cost these commands about 1.5 ms more
 * (its HTTP client thread and its Response).
 */
async function ask(socket: string, path: string, opts: { signal?: AbortSignal; expectVersion?: string }): Promise<unknown> {
  try {
    const headers = requestHeaders({ accept: "application/json", expectVersion: opts.expectVersion });
    if (unixStreamAvailable()) {
      const answer = await unixAnswer({ socketPath: socket, method: "GET", path, headers, signal: opts.signal });
      return answer.status === 200 ? JSON.parse(answer.text) : undefined;
    }
    const res = await fetchUnix(socket, `http://nexus${path}`, { headers, signal: opts.signal });
    const text = await res.text();
    return res.status === 200 ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function isWorkspaceList(v: unknown): v is { workspaces: import("../core/types.ts").WorkspaceView[] } {
  return typeof v === "object" && v !== null && Array.isArray((v as { workspaces?: unknown }).workspaces);
}
