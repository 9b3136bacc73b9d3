// The CLI's exit codes, and the one for each error code: the table is exhaustive over the code union,
// so a new code does not compile until it is placed here.
import type { ErrorCode, NexusError } from "../kernel/errors.ts";

/** CLI exit codes: `exec` passes the remote command's own code through; these are for the CLI's own failures. */
export const EXIT_CODES = {
  ok: 0,
  error: 1,
  usage: 2,
  daemonUnreachable: 3,
  notFound: 4,
  alreadyExists: 5,
  connectionLost: 255, // as ssh(1) does when the connection, not the command, failed
} as const;

// Every code has its exit code here: the compiler refuses a code left out.
const EXIT_CODE_OF: Record<ErrorCode, number> = {
  WORKSPACE_NOT_FOUND: EXIT_CODES.notFound,
  NOT_FOUND: EXIT_CODES.notFound,
  WORKSPACE_ALREADY_EXISTS: EXIT_CODES.alreadyExists,
  DAEMON_UNREACHABLE: EXIT_CODES.daemonUnreachable,
  INVALID_ARGUMENT: EXIT_CODES.usage,
  CONNECTION_LOST: EXIT_CODES.connectionLost,
  WORKSPACE_START_FAILED: EXIT_CODES.error,
  RESOURCE_EXHAUSTED: EXIT_CODES.error,
  PORT_CONFLICT: EXIT_CODES.error,
  PERMISSION_DENIED: EXIT_CODES.error,
  AUTHENTICATION_FAILED: EXIT_CODES.error,
  BACKEND_UNAVAILABLE: EXIT_CODES.error,
  CONTAINER_ERROR: EXIT_CODES.error,
  SYNC_SESSION_FAILED: EXIT_CODES.error,
  SYNC_CONFLICT: EXIT_CODES.error,
  SYNC_PAUSED: EXIT_CODES.error,
  SYNC_PROVIDER_NOT_FOUND: EXIT_CODES.error,
  INVALID_STATE: EXIT_CODES.error,
  VERSION_MISMATCH: EXIT_CODES.error,
  UNIMPLEMENTED: EXIT_CODES.error,
  CANCELLED: EXIT_CODES.error,
  INTERNAL_ERROR: EXIT_CODES.error,
};

export function exitCodeFor(err: NexusError): number {
  return EXIT_CODE_OF[err.code] ?? EXIT_CODES.error;
}
