import { existsSync, mkdirSync, openSync, readFileSync, closeSync } from "node:fs";
import { dirname } from "node:path";
import { NexusError } from "../core/errors.ts";
import { currentRuntime } from "../runtime/index.ts";
import type { NexusPaths } from "../store/paths.ts";
import { buildInfo } from "../version.ts";
import { DaemonClient } from "./client.ts";
import { daemonVersion, type DaemonVersion } from "./local-daemon.ts";
import { pollUntil } from "../kernel/poll.ts";

export { daemonVersion, localClient, type DaemonVersion } from "./local-daemon.ts";

/** Makes sure a daemon of this very version answers on the socket: starts one, or replaces one of another version. */
export async function ensureDaemon(paths: NexusPaths, log: (line: string) => void): Promise<DaemonClient> {
  const client = new DaemonClient({ socketPath: paths.daemonSocket });
  const ours = buildInfo();
  const running = await daemonVersion(client);
  if (running && running.version === ours.version && running.commit === ours.commit) return client;
  if (running) {
    log(`Restarting the daemon: it runs ${running.version} (${running.commit}), this CLI is ${ours.version} (${ours.commit})`);
    await stopDaemon(client, paths);
  }
  await startDaemon(paths, log);
  return client;
}

/**
 * Makes NEXUS_HOME and opens the daemon's log in it. When that fails (a parent that is not
 * writable, or a file), no daemon and no log exist yet: say which folder and what to do.
 */
function openHome(paths: NexusPaths): number {
  try {
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    return openSync(paths.daemonLog, "a", 0o600);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const where = e.path ?? paths.home;
    throw new NexusError("PERMISSION_DENIED", `Cannot make the Nexus home ${paths.home}: ${e.code ?? "error"} at ${where}`, {
      suggestion:
        e.code === "ENOTDIR"
          ? `A file stands where a folder of ${paths.home} should be: set NEXUS_HOME to a folder you can write (default: ~/.nexus), or move that file`
          : `Make ${dirname(paths.home)} writable for you (or create ${paths.home} there with mode 0700 and your ownership), or set NEXUS_HOME to a folder you can write (default: ~/.nexus)`,
      details: { nexusHome: paths.home, path: where, errno: e.code },
      cause: err,
    });
  }
}

/** The daemon's environment: the runtime's settings for it, then the user's own (which win), then NEXUS_HOME. */
export function daemonChildEnv(runtimeEnv: Record<string, string>, userEnv: Record<string, string | undefined>, home: string): Record<string, string | undefined> {
  return { ...runtimeEnv, ...userEnv, NEXUS_HOME: home };
}

export async function startDaemon(paths: NexusPaths, log: (line: string) => void): Promise<DaemonVersion> {
  const runtime = await currentRuntime();
  const self = runtime.selfCommand();
  const logFd = openHome(paths);
  // node:child_process loads here, not on every command's start path.
  const { spawn } = await import("node:child_process");
  const child = spawn(self.argv[0]!, [...self.argv.slice(1), "daemon"], {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: daemonChildEnv(runtime.daemonEnv(), process.env, paths.home),
    ...(self.cwd ? { cwd: self.cwd } : {}),
  });
  closeSync(logFd);
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  log(`Started the Nexus daemon (pid ${child.pid}, log ${paths.daemonLog})`);
  const client = new DaemonClient({ socketPath: paths.daemonSocket });
  const v = await pollUntil(async () => (await daemonVersion(client)) ?? (exited !== null ? null : undefined), { deadline: Date.now() + 20_000, intervalMs: 40 });
  if (v) return v;
  const tail = existsSync(paths.daemonLog) ? readFileSync(paths.daemonLog, "utf8").trim().split("\n").slice(-10) : [];
  throw new NexusError("DAEMON_UNREACHABLE", exited !== null ? `The daemon exited (code ${exited}) right after starting` : "The daemon did not answer within 20 s of starting", {
    suggestion: `See ${paths.daemonLog}; 'nexus daemon' runs it in the foreground`,
    details: { log: tail },
  });
}

/** Asks the daemon to stop and waits until its socket is gone. */
export async function stopDaemon(client: DaemonClient, paths: NexusPaths): Promise<boolean> {
  try {
    await client.json("POST", "/api/v1/daemon/shutdown", undefined, { timeoutMs: 3000 });
  } catch (err) {
    if (err instanceof NexusError && err.code === "DAEMON_UNREACHABLE") return false;
    throw err;
  }
  const gone = await pollUntil(async () => (!existsSync(paths.lockFile) && !(await daemonVersion(client)) ? true : undefined), { deadline: Date.now() + 15_000, intervalMs: 50 });
  if (gone) return true;
  throw new NexusError("INTERNAL_ERROR", "The daemon did not stop within 15 s", { suggestion: `Stop it by hand: kill $(cat ${paths.pidFile})` });
}
