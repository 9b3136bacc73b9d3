import * as grpc from "@grpc/grpc-js";
import { ERROR_CODES, NexusError, toNexusError, type ErrorCode } from "../../core/errors.ts";

// Every code has its status here (the compiler refuses a code left out); the taxonomy code itself
// travels in the metadata, so a client tells apart codes that share a status.
const STATUS: Record<ErrorCode, grpc.status> = {
  WORKSPACE_NOT_FOUND: grpc.status.NOT_FOUND,
  NOT_FOUND: grpc.status.NOT_FOUND,
  WORKSPACE_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  INVALID_STATE: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  AUTHENTICATION_FAILED: grpc.status.UNAUTHENTICATED,
  BACKEND_UNAVAILABLE: grpc.status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  CANCELLED: grpc.status.CANCELLED,
  WORKSPACE_START_FAILED: grpc.status.INTERNAL,
  PORT_CONFLICT: grpc.status.INTERNAL,
  CONTAINER_ERROR: grpc.status.INTERNAL,
  // Sync (spec §3.6 gives HTTP statuses; these are gRPC's counterparts by meaning): the provider
  // failed or the workspace is out of reach, retried with backoff — a transient condition.
  SYNC_SESSION_FAILED: grpc.status.UNAVAILABLE,
  // 409: both sides changed a path; gRPC's code for a conflict between concurrent changes.
  SYNC_CONFLICT: grpc.status.ABORTED,
  // 503, retryable: the session answers again once resumed.
  SYNC_PAUSED: grpc.status.UNAVAILABLE,
  // Not retryable: nothing changes until unison or mutagen is installed (system state to fix first).
  SYNC_PROVIDER_NOT_FOUND: grpc.status.FAILED_PRECONDITION,
  CONNECTION_LOST: grpc.status.INTERNAL,
  DAEMON_UNREACHABLE: grpc.status.INTERNAL,
  VERSION_MISMATCH: grpc.status.INTERNAL,
  INTERNAL_ERROR: grpc.status.INTERNAL,
};

export const ERROR_METADATA = {
  code: "nexus-error-code",
  suggestion: "nexus-error-suggestion",
  retryable: "nexus-error-retryable",
  details: "nexus-error-details",
} as const;

/** The one place a domain error becomes a gRPC status: taxonomy code, suggestion, retryable and details go in trailing metadata. */
export function toGrpcError(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status; details: string; metadata: grpc.Metadata } {
  const e = toNexusError(err);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_METADATA.code, e.code);
  if (e.suggestion) metadata.set(ERROR_METADATA.suggestion, ascii(clip(e.suggestion)));
  metadata.set(ERROR_METADATA.retryable, String(e.retryable));
  if (e.details) metadata.set(ERROR_METADATA.details, ascii(detailsJson(e.details)));
  return { code: STATUS[e.code], details: clip(e.message), metadata };
}

// Message and metadata travel in HTTP/2 trailers: an error that echoes a huge request (a 3 MB
// workspace id) would overflow them and reset the stream, leaving the client with no status at all.
const MAX_TEXT = 1024;
const MAX_DETAILS = 4096;

function clip(s: string, max = MAX_TEXT): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

function detailsJson(details: Record<string, unknown>): string {
  const whole = JSON.stringify(details);
  if (whole.length <= MAX_DETAILS) return whole;
  const clipped = JSON.stringify(Object.fromEntries(Object.entries(details).map(([k, v]) => [k, typeof v === "string" ? clip(v, 200) : v])));
  return clipped.length <= MAX_DETAILS ? clipped : JSON.stringify({ truncated: true });
}

/** The domain error a client reads back from a gRPC error (for tests and future gRPC clients). */
export function fromGrpcError(err: { code?: number; details?: string; metadata?: grpc.Metadata }): NexusError {
  const md = err.metadata;
  const code = String(md?.get(ERROR_METADATA.code)[0] ?? "INTERNAL_ERROR");
  const suggestion = md?.get(ERROR_METADATA.suggestion)[0];
  const details = md?.get(ERROR_METADATA.details)[0];
  return new NexusError(code in ERROR_CODES ? (code as ErrorCode) : "INTERNAL_ERROR", err.details ?? "gRPC error", {
    ...(suggestion !== undefined ? { suggestion: String(suggestion) } : {}),
    ...(details !== undefined ? { details: JSON.parse(String(details)) as Record<string, unknown> } : {}),
    retryable: String(md?.get(ERROR_METADATA.retryable)[0]) === "true",
  });
}

// Metadata values must be printable ASCII; anything else is escaped as JSON does.
function ascii(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
