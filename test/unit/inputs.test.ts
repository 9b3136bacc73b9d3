import { describe, expect, test } from "bun:test";
import { NexusError } from "../../src/core/errors.ts";
import { CreateWorkspaceInput, ExecInput, ListWorkspacesInput, parseInput } from "../../src/core/inputs.ts";
import { checkWorkspaceName, NAME_PATTERN } from "../../src/core/names.ts";

function parseError(schema: Parameters<typeof parseInput>[0], input: unknown): NexusError {
  try {
    parseInput(schema, input, "request");
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    return err as NexusError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("workspace names", () => {
  const good = ["a", "0", "feature-auth", "a-", "x".repeat(63), "review-42", "9lives"];
  const bad = ["", "-a", "A", "Feature", "a_b", "a.b", "a b", "x".repeat(64), "ä", "a/b", "../x", "a\n"];

  test.each(good)("accepts %p", (name) => {
    expect(NAME_PATTERN.test(name)).toBe(true);
    expect(checkWorkspaceName(name)).toBe(name);
  });

  test.each(bad)("rejects %p with INVALID_ARGUMENT", (name) => {
    expect(NAME_PATTERN.test(name)).toBe(false);
    let caught: unknown;
    try {
      checkWorkspaceName(name);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NexusError);
    expect((caught as NexusError).code).toBe("INVALID_ARGUMENT");
    expect((caught as NexusError).details?.name).toBe(name);
  });

  test("non-strings are rejected", () => {
    expect(() => checkWorkspaceName(42)).toThrow(NexusError);
    expect(() => checkWorkspaceName(undefined)).toThrow(NexusError);
  });
});

describe("CreateWorkspaceInput", () => {
  test("accepts the spec's example body", () => {
    const body = { name: "feature-auth", backend: "docker", resources: "medium", ports: [3000, 5173], env: { NODE_ENV: "development" } };
    const parsed: unknown = parseInput(CreateWorkspaceInput, body, "create request");
    expect(parsed).toEqual(body);
  });

  test("accepts {cpu, memory} resources and converts the size", () => {
    const out = parseInput(CreateWorkspaceInput, { name: "a", resources: { cpu: 2, memory: "512MB" } }, "r");
    expect(out.resources).toEqual({ cpu: 2, memory: 512 * 1024 * 1024 });
  });

  test("an invalid name names the field", () => {
    const e = parseError(CreateWorkspaceInput, { name: "Bad_Name" });
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("name");
    expect(e.message).toContain("lowercase");
    expect(e.details?.field).toBe("name");
  });

  test("a missing name is rejected", () => {
    const e = parseError(CreateWorkspaceInput, {});
    expect(e.details?.field).toBe("name");
  });

  test("a missing required field is reported as missing, not as an unknown field", () => {
    for (const [schema, body, field] of [
      [CreateWorkspaceInput, {}, "name"],
      [CreateWorkspaceInput, { path: "/src/repo" }, "name"],
      [ExecInput, { args: ["-la"] }, "command"],
    ] as const) {
      const e = parseError(schema, body);
      expect(e.details?.field).toBe(field);
      expect(e.message).toContain(field);
      expect(e.message).not.toContain("unknown field");
    }
  });

  test("an unknown field is named", () => {
    const e = parseError(CreateWorkspaceInput, { name: "a", colour: "red" });
    expect(e.message).toContain("unknown field 'colour'");
    expect(e.details?.field).toBe("colour");
  });

  test.each([
    [{ name: "a", ports: [0] }, "1-65535"],
    [{ name: "a", ports: [65536] }, "1-65535"],
    [{ name: "a", ports: [80.5] }, "whole"],
    [{ name: "a", ports: ["80"] }, "number"],
    [{ name: "a", ports: [22] }, "22"],
    [{ name: "a", ports: [3000, 3000] }, "distinct"],
    [{ name: "a", env: { "1BAD": "x" } }, "env"],
    [{ name: "a", env: { GOOD: 1 } }, "strings"],
    [{ name: "a", backend: "sprite" }, "docker"],
    [{ name: "a", resources: "huge" }, "small"],
    [{ name: "a", branch: "-x" }, "branch"],
    [{ name: "a", fromBranch: "a..b" }, "branch"],
    [{ name: "a", noWorktree: "yes" }, "noWorktree"],
  ])("rejects %j (message mentions %p)", (body, fragment) => {
    const e = parseError(CreateWorkspaceInput, body);
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message.toLowerCase()).toContain(fragment.toLowerCase());
  });

  test("a non-object body is rejected", () => {
    expect(parseError(CreateWorkspaceInput, [1, 2]).code).toBe("INVALID_ARGUMENT");
    expect(parseError(CreateWorkspaceInput, "a").code).toBe("INVALID_ARGUMENT");
    expect(parseError(CreateWorkspaceInput, null).code).toBe("INVALID_ARGUMENT");
  });
});

describe("ExecInput", () => {
  test("args default to []", () => {
    expect(parseInput(ExecInput, { command: "ls" }, "exec")).toEqual({ command: "ls", args: [] });
  });

  test("rejects an empty command, non-string args and a negative timeout", () => {
    expect(parseError(ExecInput, { command: "" }).message).toContain("command must not be empty");
    expect(parseError(ExecInput, { command: "ls", args: [1] }).message).toContain("args must be strings");
    expect(parseError(ExecInput, { command: "ls", timeout: -1 }).details?.field).toBe("timeout");
    expect(parseError(ExecInput, { command: "ls", shell: true }).message).toContain("unknown field 'shell'");
  });
});

describe("ListWorkspacesInput", () => {
  test("takes the spec's query parameters and ignores others", () => {
    expect(parseInput(ListWorkspacesInput, { status: "running", backend: "docker", label_selector: "a=b" }, "q")).toEqual({
      status: "running",
      backend: "docker",
      label_selector: [{ key: "a", op: "eq", value: "b" }],
    });
  });

  test("an unknown status is INVALID_ARGUMENT naming the statuses, not an empty list", () => {
    expect(() => parseInput(ListWorkspacesInput, { status: "runing" }, "query")).toThrow("status must be one of pending, running, paused, stopped");
  });
});
