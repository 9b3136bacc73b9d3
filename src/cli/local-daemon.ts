// What every short command needs of the local daemon: ask its version, and a client that starts or
// replaces it only when a request fails for want of it. Starting one (node:fs, node:child_process)
// lives in daemon-process.ts, loaded only then.
import { NexusError } from "../core/errors.ts";
import type { NexusPaths } from "../store/paths.ts";
import { buildId } from "../version.ts";
import { DaemonClient } from "./client.ts";

export interface DaemonVersion {
  version: string;
  commit: string;
  pid: number;
}

export async function daemonVersion(client: DaemonClient): Promise<DaemonVersion | undefined> {
  try {
    return await client.json<DaemonVersion>("GET", "/api/v1/version", undefined, { timeoutMs: 3000 });
  } catch (err) {
    if (err instanceof NexusError && err.code === "DAEMON_UNREACHABLE") return undefined;
    throw err;
  }
}

/**
 * A client for the local daemon that expects this very build: the first request goes straight out;
 * only when no daemon answers, one of another build does, or the daemon went away during an
 * idempotent request (client.ts `mayResend`), is the daemon started or replaced and the request sent again.
 */
export function localClient(paths: NexusPaths, log: (line: string) => void): DaemonClient {
  return new DaemonClient({
    socketPath: paths.daemonSocket,
    expectVersion: buildId(),
    recover: async () => {
      await (await import("./daemon-process.ts")).ensureDaemon(paths, log);
      return true;
    },
  });
}
