import { Trash } from "../core/trash.ts";
import { appendFileSync, chmodSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createApp } from "../api/http/app.ts";
import { serveGrpc, SERVICE_NAME, type GrpcServer } from "../api/grpc/server.ts";
import { bearer, createJwt, ensureDaemonToken, verifyToken } from "../auth/tokens.ts";
import { WorkspaceFiles } from "../core/files.ts";
import type { PortForwards } from "../core/forwards.ts";
import type { SessionService } from "../core/sessions/service.ts";
import { WorkspaceMonitor } from "../core/monitor.ts";
import { configNotices, loadEffectiveConfig } from "../config/load.ts";
import { lineLogger, type Logger } from "../core/log.ts";
import { WorkspaceService } from "../core/workspaces.ts";
import { currentRuntime, type Server } from "../runtime/index.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildInfo } from "../version.ts";
import { acquireLock } from "./lock.ts";
import { buildServices } from "./services.ts";
import { OperationTrace } from "../core/trace/recorder.ts";
import { tracedFacades } from "../core/trace/facades.ts";
import { telemetryFromConfig, type TelemetryExporter } from "../core/trace/telemetry.ts";
import { TraceLog } from "../store/trace-log.ts";
import type { SyncService } from "../core/sync/service.ts";
import { appendHeapReport, releaseMemoryAfterDestroys } from "./memory.ts";
import { sleep } from "../kernel/poll.ts";

const IDLE_CHECK_MS = 30_000;

export interface DaemonHandle {
  stop(): Promise<void>;
  done: Promise<void>;
}

/**
 * Runs the daemon until SIGTERM/SIGINT or a shutdown request: takes the NEXUS_HOME lock, reconciles
 * records with the engine, and serves REST on the unix socket (0600).
 */
export interface DaemonOptions {
  /** Also listen on TCP: REST + WS on this port, gRPC on port+1, host from daemon.host (127.0.0.1). */
  port?: number;
  /** The token TCP and WebSocket clients present (and JWTs are signed with), instead of ~/.nexus/token (spec §3.4 --daemon-token). */
  token?: string;
}

export async function runDaemon(env: Record<string, string | undefined>, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const paths = nexusPaths(env);
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  chmodSync(paths.home, 0o700);
  const log = daemonLogger(paths.daemonLog);
  const releaseLock = acquireLock(paths.lockFile);
  let server: Server | undefined;
  let tcpServer: Server | undefined;
  const grpcServers: GrpcServer[] = [];
  let workspaces: WorkspaceService | undefined;
  let forwards: PortForwards | undefined;
  let sessions: SessionService | undefined;
  let syncService: SyncService | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const engineWatch = new AbortController();
  let stopping: Promise<void> | undefined;
  let idleTimer: ReturnType<typeof setInterval> | undefined;
  let stopReleasing: (() => void) | undefined;
  let trace: OperationTrace | undefined;
  let telemetry: TelemetryExporter | undefined;

  const stop = () =>
    (stopping ??= (async () => {
      log.info("daemon stopping");
      engineWatch.abort();
      clearInterval(idleTimer);
      stopReleasing?.();
      sessions?.shutdown();
      forwards?.shutdown(); // first: `nexus proxy` streams end instead of holding the servers open
      const closing = [server?.stop(), tcpServer?.stop(), ...grpcServers.map((g) => g.stop())];
      await Promise.race([Promise.allSettled(closing), sleep(5000)]).catch(() => {});
      rmSync(paths.grpcSocket, { force: true });
      await syncService?.manager.shutdown().catch(() => undefined);
      workspaces?.shutdown();
      await trace?.flush();
      await telemetry?.close().catch(() => {});
      rmSync(paths.daemonSocket, { force: true });
      rmSync(paths.pidFile, { force: true });
      releaseLock();
      log.info("daemon stopped");
      resolveDone();
    })());

  try {
    const effective = loadEffectiveConfig(paths.config, env, opts.port !== undefined ? [{ key: "daemon.port", value: opts.port, source: "--port", kind: "flag" }] : []);
    const { config, sources } = effective;
    // Config that does nothing is said once, here (and by 'nexus doctor'), never dropped in silence.
    for (const line of configNotices(effective)) log.warn(line);
    // TCP is opt-in: --port, or daemon.port set in config.yaml or NEXUS_DAEMON_PORT (not its default).
    const tcpPort = opts.port ?? (sources["daemon.port"] ? config.daemon.port : undefined);
    const runtime = await currentRuntime();
    // The runtime's settings for the daemon (runtime.daemonEnv) took effect when it started; what it
    // runs on the host (initializeCommand, git, sync tools) gets the user's environment without them.
    for (const [key, value] of Object.entries(runtime.daemonEnv())) if (process.env[key] === value) delete process.env[key];
    const nexusBinary = runtime.compiledBinary();
    const services = buildServices({ paths, config, env, log, ...(nexusBinary ? { nexusBinary } : {}) });
    workspaces = services.workspaces;
    try {
      // Restores the daemon was killed in are settled first: they decide which container is the workspace's.
      await services.checkpoints.reconcile();
    } catch (err) {
      log.warn(`checkpoint reconcile skipped: ${(err as Error).message}`);
    }
    try {
      await workspaces.reconcile();
    } catch (err) {
      log.warn(`reconcile skipped: ${(err as Error).message}`);
    }
    workspaces.watchEngine(engineWatch.signal);
    const heapReport = env.NEXUS_DEBUG_HEAP;
    stopReleasing = releaseMemoryAfterDestroys(services.events, () => {
      runtime.releaseMemory();
      if (heapReport) void appendHeapReport(heapReport, runtime, env.NEXUS_DEBUG_HEAP_SNAPSHOT === "1").catch((err: Error) => log.warn(`heap report: ${err.message}`));
    });
    forwards = services.forwards;
    sessions = services.sessions;
    sessions.start();
    await forwards.restore().catch((err: Error) => log.warn(`port forwards not restored: ${err.message}`));
    syncService = services.sync;
    // Sync sessions a killed daemon left: each starts with a full pass (in the background: a remote engine may be slow).
    void services.sync.manager.restore().catch((err: Error) => log.warn(`sync sessions not restored: ${err.message}`));

    const build = buildInfo();
    // The operation history: the transports get the façades wrapped to record each operation (core/trace/).
    telemetry = telemetryFromConfig(config.telemetry, { source: { version: build.version, runtime: runtime.name, platform: build.platform }, logger: log });
    trace = new OperationTrace({ log: new TraceLog(paths.trace), logger: log, ...(telemetry ? { sink: telemetry } : {}), enabled: env.NEXUS_TRACE !== "off" });
    const traced = tracedFacades(services, trace);
    const token = opts.token ?? ensureDaemonToken(paths.token);
    const verify = (t: string | undefined) => verifyToken(t, token);
    const files = new WorkspaceFiles(workspaces);
    const monitor = new WorkspaceMonitor({ workspaces, docker: services.docker, events: services.events });
    const support = await runtime.webSocket();
    const appDeps = {
      workspaces: traced.workspaces,
      checkpoints: traced.checkpoints,
      forwards: traced.forwards,
      sessions: traced.sessions,
      trace,
      sync: services.sync,
      build,
      daemon: { shutdown: () => void stop(), pid: process.pid, startedAt: new Date().toISOString() },
      log,
      tokens: { create: (ttl: number) => createJwt(token, ttl) },
      trash: new Trash(paths.home),
      // A token always exists, so the WebSocket asks for the auth message on both doors (spec §3.3).
      ws: { workspaces: traced.workspaces, sessions: traced.sessions, files, monitor, events: services.events, log, verify, support },
    };
    const app = createApp(appDeps);
    const grpcDeps = { workspaces: traced.workspaces, sessions: traced.sessions, files, monitor, log, checkpoints: traced.checkpoints, sync: services.sync };
    rmSync(paths.daemonSocket, { force: true }); // we hold the lock, so a socket left here is stale
    rmSync(paths.grpcSocket, { force: true });
    const oldMask = process.umask(0o077); // the sockets are born 0600, never briefly open to others
    try {
      server = await runtime.serveUnix(paths.daemonSocket, (req, env) => app.fetch(req, env));
      grpcServers.push(await serveGrpc(`unix://${paths.grpcSocket}`, grpcDeps));
    } finally {
      process.umask(oldMask);
    }
    for (const sock of [paths.daemonSocket, paths.grpcSocket]) {
      if (existsSync(sock) && (statSync(sock).mode & 0o777) !== 0o600) chmodSync(sock, 0o600);
    }
    log.info(`gRPC (${SERVICE_NAME}) listening on ${paths.grpcSocket}`);
    if (tcpPort !== undefined) {
      const host = config.daemon.host;
      const hostPart = host.includes(":") ? `[${host}]` : host;
      const allowedOrigins = [...new Set([hostPart, "localhost", "127.0.0.1", "[::1]"])].map((h) => `http://${h}:${tcpPort}`.toLowerCase());
      const tcpApp = createApp({ ...appDeps, requireToken: verify, allowedOrigins });
      tcpServer = await runtime.serveTcp(host, tcpPort, (req, env) => tcpApp.fetch(req, env));
      const grpcAddress = `${host.includes(":") ? `[${host}]` : host}:${tcpPort + 1}`;
      grpcServers.push(await serveGrpc(grpcAddress, { ...grpcDeps, authorize: (md) => verify(bearer(String(md.get("authorization")[0] ?? ""))) }));
      log.info(`listening on http://${host}:${tcpPort} (REST, WS) and ${grpcAddress} (gRPC), token required`);
    }
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
