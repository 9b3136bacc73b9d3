import { appendFileSync, chmodSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createApp } from "../api/http/app.ts";
import { loadConfig } from "../config/load.ts";
import { lineLogger, type Logger } from "../core/log.ts";
import { WorkspaceService } from "../core/workspaces.ts";
import { currentRuntime, type Server } from "../runtime/index.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildInfo } from "../version.ts";
import { acquireLock } from "./lock.ts";
import { buildServices } from "./services.ts";

const IDLE_CHECK_MS = 30_000;

export interface DaemonHandle {
  stop(): Promise<void>;
  done: Promise<void>;
}

/**
 * Runs the daemon until SIGTERM/SIGINT or a shutdown request: takes the NEXUS_HOME lock, reconciles
 * records with the engine, and serves REST on the unix socket (0600).
 */
export async function runDaemon(env: Record<string, string | undefined>): Promise<DaemonHandle> {
  const paths = nexusPaths(env);
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  chmodSync(paths.home, 0o700);
  const log = daemonLogger(paths.daemonLog);
  const releaseLock = acquireLock(paths.lockFile);
  let server: Server | undefined;
  let workspaces: WorkspaceService | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  let idleTimer: ReturnType<typeof setInterval> | undefined;

  const stop = () =>
    (stopping ??= (async () => {
      log.info("daemon stopping");
      clearInterval(idleTimer);
      await Promise.race([server?.stop(), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
      workspaces?.shutdown();
      rmSync(paths.daemonSocket, { force: true });
      rmSync(paths.pidFile, { force: true });
      releaseLock();
      log.info("daemon stopped");
      resolveDone();
    })());

  try {
    const config = loadConfig(paths.config);
    const services = buildServices({ paths, config, env, log });
    workspaces = services.workspaces;
    try {
      await workspaces.reconcile();
    } catch (err) {
      log.warn(`reconcile skipped: ${(err as Error).message}`);
    }

    const build = buildInfo();
    const app = createApp({
      workspaces,
      build,
      daemon: { shutdown: () => void stop(), pid: process.pid, startedAt: new Date().toISOString() },
      log,
    });
    const runtime = await currentRuntime();
    rmSync(paths.daemonSocket, { force: true }); // we hold the lock, so a socket left here is stale
    const oldMask = process.umask(0o077); // the socket is born 0600, never briefly open to others
    try {
      server = await runtime.serveUnix(paths.daemonSocket, (req) => app.fetch(req));
    } finally {
      process.umask(oldMask);
    }
    if (existsSync(paths.daemonSocket) && (statSync(paths.daemonSocket).mode & 0o777) !== 0o600) chmodSync(paths.daemonSocket, 0o600);
    writeFileAtomic(paths.pidFile, `${process.pid}\n`, 0o644);
    const idle = setInterval(() => void workspaces?.checkIdle().catch((err: Error) => log.warn(`idle check: ${err.message}`)), IDLE_CHECK_MS);
    idle.unref();
    idleTimer = idle;
    log.info(`daemon ${build.version} (${runtime.name}) listening on ${paths.daemonSocket}, pid ${process.pid}`);
  } catch (err) {
    await stop();
    throw err;
  }

  for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => void stop());
  return { stop, done };
}

/** Log lines go to daemon.log, and to stderr too when a person watches it (a TTY). */
function daemonLogger(file: string): Logger {
  const toStderr = process.stderr.isTTY === true;
  return lineLogger((line) => {
    try {
      appendFileSync(file, line, { mode: 0o600 });
    } catch {
      // Logging must never take the daemon down.
    }
    if (toStderr) process.stderr.write(line);
  });
}
