// Services of a workspace: each runs under its own in-container supervisor (supervisor.ts), which
// restarts it and probes its health. The daemon starts them in dependency order, stops them in
// reverse, reads their state, and streams their logs, all through one shell in the workspace.
import type { HealthProbe, ServiceDefinition } from "../config/project.ts";
import { shellLine } from "../ssh/quote.ts";
import { parseDuration } from "../config/units.ts";
import { NexusError } from "./errors.ts";
import { SUPERVISOR_PATH } from "./supervisor.ts";
import { pollUntil } from "../kernel/poll.ts";
import { LineSplitter } from "../kernel/lines.ts";
import { Acks } from "../kernel/ack.ts";

/**
 * A shell in the workspace, as the `nexus` user (the daemon's own connection: no user activity).
 * `onStdout` may answer a promise while its reader is behind: the shell's output pauses until it
 * settles (ssh/pool.ts OutputAck), so the command in the workspace blocks writing.
 */
export interface WorkspaceShell {
  run(script: string, opts?: { onStdout?: (b: Buffer) => unknown; signal?: AbortSignal }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export type ServiceStatus = "starting" | "running" | "healthy" | "unhealthy" | "stopped";

/** What the supervisor reports of one service. */
export interface SupervisorState {
  name: string;
  status: ServiceStatus;
  pid: number | null;
  restarts: number;
  lastExitCode: number | null;
  startedAt: string | null;
  healthyAt: string | null;
  probe: { ok: boolean; at: string; output: string } | null;
  message: string;
}

export interface LogEntry {
  serviceName: string;
  timestamp: string;
  level: "info" | "warn" | "error" | "debug";
  message: string;
}

/** Ready means dependents may start: healthy, or running when it has no health probe. */
export function isReady(s: SupervisorState | undefined): boolean {
  return s?.status === "healthy" || s?.status === "running";
}

export function describeProbe(h: HealthProbe | undefined): string | null {
  if (!h) return null;
  if (h.kind === "http") return h.http ?? "/";
  if (h.kind === "tcp") return `tcp:${h.tcp ?? h.port ?? ""}`;
  return `command: ${h.command}`;
}

const python = (args: string[]) => `exec python3 ${SUPERVISOR_PATH} ${shellLine(args)}`;

async function runChecked(sh: WorkspaceShell, script: string, what: string): Promise<string> {
  const r = await sh.run(script);
  if (r.exitCode !== 0) {
    throw new NexusError("CONTAINER_ERROR", `Could not ${what}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ")}`, {
      suggestion: "See 'nexus services logs <workspace> <service>'; the workspace image may lack python3",
      details: { exitCode: r.exitCode },
    });
  }
  return r.stdout;
}

/** Every service's state, by name, in one round trip. */
export async function serviceStates(sh: WorkspaceShell): Promise<Map<string, SupervisorState>> {
  const out = await runChecked(sh, python(["status"]), "read the services' state");
  const list = JSON.parse(out || "[]") as SupervisorState[];
  return new Map(list.map((s) => [s.name, s]));
}

/** The spec the supervisor runs: the definition with paths and env made concrete. */
export function supervisorSpec(def: ServiceDefinition): Record<string, unknown> {
  const cwd = def.cwd ? (def.cwd.startsWith("/") ? def.cwd : `/workspace/${def.cwd}`) : "/workspace";
  return {
    command: def.command,
    cwd,
    env: def.env,
    ...(def.port !== undefined ? { port: def.port } : {}),
    ...(def.health ? { health: def.health } : {}),
    restart: def.restart,
    stopTimeoutSeconds: 10,
  };
}

/** Starts one service (a no-op when it already runs with the same definition). */
export async function startService(sh: WorkspaceShell, def: ServiceDefinition): Promise<SupervisorState> {
  const out = await runChecked(sh, python(["start", def.name, JSON.stringify(supervisorSpec(def))]), `start service '${def.name}'`);
  return JSON.parse(out) as SupervisorState;
}

export async function stopService(sh: WorkspaceShell, name: string, timeoutSeconds = 10): Promise<void> {
  await runChecked(sh, python(["stop", name, String(timeoutSeconds)]), `stop service '${name}'`);
}

/** Stops services in reverse dependency order (dependents first). */
export async function stopServices(sh: WorkspaceShell, defs: readonly ServiceDefinition[]): Promise<void> {
  for (const def of [...defs].reverse()) await stopService(sh, def.name);
}

/** Polls until every named service is ready, the deadline passes, or the signal aborts; returns the last states. */
export async function waitReady(sh: WorkspaceShell, names: readonly string[], deadline: number, signal?: AbortSignal): Promise<Map<string, SupervisorState>> {
  let states = await serviceStates(sh);
  await pollUntil(
    async (n) => {
      if (n > 1) states = await serviceStates(sh);
      const ready = names.every((name) => isReady(states.get(name)));
      // A service that exited for good (restart: never / clean exit) will not become ready.
      return ready || names.some((name) => states.get(name)?.status === "stopped") ? true : undefined;
    },
    { deadline, intervalMs: 250, signal },
  );
  return states;
}

/**
 * Starts services in dependency order: a service starts once its dependencies are ready. One whose
 * dependency is not ready by the deadline is not started; the answer says why.
 */
export async function startServices(
  sh: WorkspaceShell,
  defs: readonly ServiceDefinition[],
  opts: { deadline: number; onProgress?: (message: string) => void },
): Promise<Map<string, string>> {
  const notStarted = new Map<string, string>();
  for (const def of defs) {
    const blocked = def.dependsOn.find((d) => notStarted.has(d));
    if (blocked) {
      notStarted.set(def.name, `not started: its dependency '${blocked}' did not start`);
      continue;
    }
    if (def.dependsOn.length > 0) {
      opts.onProgress?.(`Waiting for ${def.dependsOn.join(", ")} before ${def.name}`);
      const states = await waitReady(sh, def.dependsOn, opts.deadline);
      const unready = def.dependsOn.find((d) => !isReady(states.get(d)));
      if (unready) {
        notStarted.set(def.name, `not started: its dependency '${unready}' is ${states.get(unready)?.status ?? "missing"}`);
        continue;
      }
    }
    opts.onProgress?.(`Starting service ${def.name}`);
    await startService(sh, def);
  }
  return notStarted;
}

/** Parses one supervisor log line: `<timestamp> <O|E|S> <text>`. */
export function parseLogLine(serviceName: string, line: string): LogEntry {
  const m = /^(\S+) ([OES]) (.*)$/.exec(line);
  if (!m) return { serviceName, timestamp: "", level: "info", message: line };
  const level = m[2] === "E" ? "error" : m[2] === "S" ? "warn" : "info";
  return { serviceName, timestamp: m[1]!, level, message: m[3]! };
}

/** `since`: an ISO timestamp, or a duration back from now such as 10m. */
export function sinceTimestamp(since: string): string {
  const seconds = /^\d{4}-/.test(since) ? undefined : parseDuration(since);
  if (seconds !== undefined) return new Date(Date.now() - seconds * 1000).toISOString();
  if (Number.isNaN(Date.parse(since))) throw new NexusError("INVALID_ARGUMENT", `since '${since}' is neither a timestamp nor a duration`, { suggestion: "e.g. 2026-12-01T10:00:00Z or 10m", details: { field: "since" } });
  return new Date(since).toISOString();
}

/**
 * The last `tail` lines of a service's log, then (with follow) new lines until the signal aborts.
 * `onEntry` may answer a promise while its reader is behind: the log's reader in the workspace then
 * waits (back-pressure), so the daemon holds no more than the SSH window for a slow reader. The
 * service itself never waits for its log: a reader more than the kept log (two files of 8 MiB)
 * behind misses what was rotated away meanwhile, as `tail -F` would.
 */
export async function serviceLogs(
  sh: WorkspaceShell,
  name: string,
  opts: { tail: number; follow: boolean; signal?: AbortSignal },
  onEntry: (e: LogEntry) => unknown,
): Promise<void> {
  const split = new LineSplitter();
  const acks = new Acks();
  const onStdout = (b: Buffer) => {
    for (const line of split.push(b)) acks.add(onEntry(parseLogLine(name, line)));
    return acks.ack();
  };
  try {
    await sh.run(python(["logs", name, String(opts.tail), ...(opts.follow ? ["follow"] : [])]), { onStdout, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (!opts.signal?.aborted) throw err;
  }
  const last = split.end();
  if (last !== undefined) onEntry(parseLogLine(name, last));
}
