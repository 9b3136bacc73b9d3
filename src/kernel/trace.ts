// One operation the daemon ran, as the operation history (`nexus trace`) keeps it: shared by the
// store that writes it, the core that records it and the transports that show it.

/** The door an operation came in through: REST, gRPC, WebSocket, the CLI (REST with its header), or the daemon itself. */
export type TraceSurface = "rest" | "grpc" | "ws" | "cli" | "daemon";

export interface TraceRecord {
  /** op-<time base36><random>: sorts by start time. */
  id: string;
  /** What ran: create, start, stop, exec, checkpoint, restore, destroy, ... */
  operation: string;
  startedAt: string;
  durationMs: number;
  result: "ok" | "error";
  /** The NexusError code of a failed operation. */
  errorCode?: string;
  /** Its message, cut to 300 characters (kept on this machine only, never sent as telemetry). */
  errorMessage?: string;
  workspaceId?: string;
  /** The workspace's name (or the reference given, when it named no workspace). */
  workspace?: string;
  surface: TraceSurface;
  /** exec: the command's exit code (the operation itself succeeded). */
  exitCode?: number;
}

/** Per operation: how many, how many failed (by code), and the median and 95th percentile duration. */
export interface TraceStats {
  total: number;
  since: string | null;
  operations: Array<{ operation: string; count: number; errors: number; errorCodes: Record<string, number>; p50Ms: number; p95Ms: number; maxMs: number }>;
}

/** The header the CLI sends with each request ("cli"), so its REST calls are told apart from other clients'. */
export const CLIENT_HEADER = "x-nexus-client";
