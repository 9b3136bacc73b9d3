import { describe, expect, test } from "bun:test";
import { ERROR_CODES, errors, NexusError, toNexusError, type ErrorCode } from "../../src/core/errors.ts";
import { EXIT_CODES, exitCodeFor } from "../../src/cli/exit-codes.ts";

// The spec's taxonomy (api-spec.md §3.6), copied here on purpose: the source must not drift from it.
const SPEC_CODES: Record<string, { status: number; retryable: boolean }> = {
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
};

describe("ERROR_CODES", () => {
  test("every code of the spec's taxonomy is present with the spec's status and retryable", () => {
    for (const [code, want] of Object.entries(SPEC_CODES)) {
      const got: { status: number; retryable: boolean } = ERROR_CODES[code as ErrorCode];
      expect(got).toEqual(want);
    }
  });

  test("extension codes map to sensible HTTP statuses", () => {
    expect(ERROR_CODES.INVALID_ARGUMENT.status).toBe(400);
    expect(ERROR_CODES.INVALID_STATE.status).toBe(409);
    expect(ERROR_CODES.NOT_FOUND.status).toBe(404);
    expect(ERROR_CODES.UNIMPLEMENTED.status).toBe(501);
    expect(ERROR_CODES.INTERNAL_ERROR.status).toBe(500);
    expect(ERROR_CODES.DAEMON_UNREACHABLE.retryable).toBe(true);
  });
});

describe("NexusError", () => {
  test("takes retryable and status from the code", () => {
    const e = new NexusError("BACKEND_UNAVAILABLE", "docker is down");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("NexusError");
    expect(e.message).toBe("docker is down");
    expect(e.retryable).toBe(true);
    expect(e.httpStatus).toBe(503);
  });

  test("retryable can be overridden", () => {
    expect(new NexusError("BACKEND_UNAVAILABLE", "x", { retryable: false }).retryable).toBe(false);
    expect(new NexusError("INVALID_ARGUMENT", "x", { retryable: true }).retryable).toBe(true);
  });

  test("keeps the cause", () => {
    const cause = new Error("root");
    expect(new NexusError("INTERNAL_ERROR", "x", { cause }).cause).toBe(cause);
    expect(new NexusError("INTERNAL_ERROR", "x").cause).toBeUndefined();
  });

  test("toJSON has the spec's fields and leaves out absent ones", () => {
    expect(new NexusError("NOT_FOUND", "gone").toJSON()).toEqual({ code: "NOT_FOUND", message: "gone", retryable: false });
    const full = new NexusError("PORT_CONFLICT", "busy", { suggestion: "retry", details: { port: 3000 } }).toJSON();
    expect(full).toEqual({ code: "PORT_CONFLICT", message: "busy", suggestion: "retry", retryable: true, details: { port: 3000 } });
    expect(Object.keys(new NexusError("NOT_FOUND", "gone").toJSON())).not.toContain("suggestion");
    expect(JSON.parse(JSON.stringify(new NexusError("NOT_FOUND", "gone")))).toEqual({ code: "NOT_FOUND", message: "gone", retryable: false });
  });

  test("fromBody round-trips toJSON", () => {
    const e = new NexusError("WORKSPACE_START_FAILED", "boom", { suggestion: "see log", details: { a: [1, 2] }, retryable: false });
    const back = NexusError.fromBody(e.toJSON());
    expect(back.code).toBe("WORKSPACE_START_FAILED");
    expect(back.message).toBe("boom");
    expect(back.suggestion).toBe("see log");
    expect(back.retryable).toBe(false);
    expect(back.details).toEqual({ a: [1, 2] });
  });

  test("fromBody turns an unknown code into INTERNAL_ERROR but keeps the message", () => {
    const back = NexusError.fromBody({ code: "WHAT_IS_THIS" as ErrorCode, message: "m", retryable: true });
    expect(back.code).toBe("INTERNAL_ERROR");
    expect(back.message).toBe("m");
    expect(back.retryable).toBe(true);
  });
});

describe("toNexusError", () => {
  test("passes a NexusError through unchanged", () => {
    const e = new NexusError("SYNC_PAUSED", "x");
    expect(toNexusError(e)).toBe(e);
  });

  test("wraps other errors and values as INTERNAL_ERROR with their message", () => {
    const cause = new TypeError("bad thing");
    const e = toNexusError(cause);
    expect(e.code).toBe("INTERNAL_ERROR");
    expect(e.message).toBe("bad thing");
    expect(e.cause).toBe(cause);
    expect(e.suggestion).toContain("daemon.log");
    expect(toNexusError("plain string").message).toBe("plain string");
    expect(toNexusError(42).message).toBe("42");
  });
});

describe("errors helpers", () => {
  test("workspaceNotFound has exactly the spec's example shape", () => {
    expect(errors.workspaceNotFound("xyz").toJSON()).toEqual({
      code: "WORKSPACE_NOT_FOUND",
      message: "Workspace 'xyz' doesn't exist",
      suggestion: "Run 'nexus list' to see available workspaces",
      retryable: false,
      details: { workspaceName: "xyz" },
    });
  });

  test("invalidArgument and invalidState", () => {
    const a = errors.invalidArgument("bad", "fix it", { field: "name" });
    expect(a.code).toBe("INVALID_ARGUMENT");
    expect(a.details).toEqual({ field: "name" });
    expect(errors.invalidArgument("bad", "fix it").details).toBeUndefined();
    const s = errors.invalidState("w1", "stopped", "running", "start it");
    expect(s.code).toBe("INVALID_STATE");
    expect(s.message).toBe("Workspace 'w1' is stopped; it must be running");
    expect(s.details).toEqual({ workspaceName: "w1", status: "stopped" });
  });
});

describe("exitCodeFor", () => {
  test("maps the CLI's own failures to their exit codes", () => {
    const code = (c: ErrorCode) => exitCodeFor(new NexusError(c, "x"));
    expect(code("WORKSPACE_NOT_FOUND")).toBe(EXIT_CODES.notFound);
    expect(code("NOT_FOUND")).toBe(EXIT_CODES.notFound);
    expect(code("WORKSPACE_ALREADY_EXISTS")).toBe(EXIT_CODES.alreadyExists);
    expect(code("DAEMON_UNREACHABLE")).toBe(3);
    expect(code("INVALID_ARGUMENT")).toBe(2);
    expect(code("CONNECTION_LOST")).toBe(255);
    expect(code("CONTAINER_ERROR")).toBe(1);
    expect(code("INTERNAL_ERROR")).toBe(1);
  });

  test("exit codes are distinct", () => {
    const values = Object.values(EXIT_CODES);
    expect(new Set(values).size).toBe(values.length);
  });
});
