// One error type for every layer. Codes follow the spec's taxonomy (§3.6); the codes after the
// marked line extend it for cases the spec's list does not name (bad input, wrong state, ...).

export const ERROR_CODES = {
  WORKSPACE_NOT_FOUND: { status: 404, retryable: false },
  WORKSPACE_ALREADY_EXISTS: { status: 409, retryable: false },
  WORKSPACE_START_FAILED: { status: 500, retryable: true },
  RESOURCE_EXHAUSTED: { status: 503, retryable: true },
  PORT_CONFLICT: { status: 409, retryable: true },
  PERMISSION_DENIED: { status: 403, retryable: false },
  AUTHENTICATION_FAILED: { status: 401, retryable: false },
  BACKEND_UNAVAILABLE: { status: 503, retryable: true },
  CONTAINER_ERROR: { status: 500, retryable: true },
  SYNC_SESSION_FAILED: { status: 500, retryable: true },
  SYNC_CONFLICT: { status: 409, retryable: false },
  SYNC_PAUSED: { status: 503, retryable: true },
  SYNC_PROVIDER_NOT_FOUND: { status: 503, retryable: false },
  // Extensions of the spec's taxonomy.
  INVALID_ARGUMENT: { status: 400, retryable: false },
  INVALID_STATE: { status: 409, retryable: false },
  CONNECTION_LOST: { status: 502, retryable: true },
  DAEMON_UNREACHABLE: { status: 503, retryable: true },
  VERSION_MISMATCH: { status: 409, retryable: true },
  NOT_FOUND: { status: 404, retryable: false },
  UNIMPLEMENTED: { status: 501, retryable: false },
  /** Stopped because the client asked (WebSocket `cancel`); 499 as nginx answers a client that went away. */
  CANCELLED: { status: 499, retryable: false },
  INTERNAL_ERROR: { status: 500, retryable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  suggestion?: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class NexusError extends Error {
  readonly code: ErrorCode;
  readonly suggestion: string | undefined;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { suggestion?: string; details?: Record<string, unknown>; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "NexusError";
    this.code = code;
    this.suggestion = opts.suggestion;
    this.retryable = opts.retryable ?? ERROR_CODES[code].retryable;
    this.details = opts.details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }

  toJSON(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.suggestion !== undefined) body.suggestion = this.suggestion;
    if (this.details !== undefined) body.details = this.details;
    return body;
  }

  static fromBody(body: ErrorBody): NexusError {
    const code = body.code in ERROR_CODES ? body.code : "INTERNAL_ERROR";
    return new NexusError(code, body.message, {
      ...(body.suggestion !== undefined ? { suggestion: body.suggestion } : {}),
      ...(body.details !== undefined ? { details: body.details } : {}),
      retryable: body.retryable,
    });
  }
}

/** A test for one code, as `retry` and `catch` filters want it: `hasCode("PORT_CONFLICT")`. */
export const hasCode = (code: ErrorCode) => (err: unknown): boolean => err instanceof NexusError && err.code === code;

/** Any thrown value as a NexusError; unknown failures become INTERNAL_ERROR with their message. */
export function toNexusError(err: unknown): NexusError {
  if (err instanceof NexusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new NexusError("INTERNAL_ERROR", message, {
    suggestion: "See the daemon log (~/.nexus/daemon.log) for details",
    cause: err,
  });
}

export const errors = {
  workspaceNotFound: (ref: string) =>
    new NexusError("WORKSPACE_NOT_FOUND", `Workspace '${ref}' doesn't exist`, {
      suggestion: "Run 'nexus list' to see available workspaces",
      details: { workspaceName: ref },
    }),
  invalidArgument: (message: string, suggestion: string, details?: Record<string, unknown>) =>
    new NexusError("INVALID_ARGUMENT", message, { suggestion, ...(details ? { details } : {}) }),
  invalidState: (name: string, status: string, wanted: string, suggestion: string) =>
    new NexusError("INVALID_STATE", `Workspace '${name}' is ${status}; it must be ${wanted}`, {
      suggestion,
      details: { workspaceName: name, status },
    }),
};
