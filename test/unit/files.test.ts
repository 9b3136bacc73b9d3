import { describe, expect, test } from "bun:test";
import { confinePath } from "../../src/core/files.ts";
import { NexusError } from "../../src/core/errors.ts";

function code(path: string): string {
  try {
    confinePath(path);
    return "ok";
  } catch (err) {
    return (err as NexusError).code;
  }
}

describe("confinePath", () => {
  test("relative paths start at /workspace", () => {
    expect(confinePath("a/b.txt")).toBe("/workspace/a/b.txt");
    expect(confinePath(".")).toBe("/workspace");
    expect(confinePath("./a//b/")).toBe("/workspace/a/b");
  });

  test("absolute paths inside /workspace are kept", () => {
    expect(confinePath("/workspace")).toBe("/workspace");
    expect(confinePath("/workspace/")).toBe("/workspace");
    expect(confinePath("/workspace/x/./y")).toBe("/workspace/x/y");
  });

  test("'..' anywhere, and absolute paths outside, are PERMISSION_DENIED", () => {
    for (const p of ["..", "../etc/passwd", "a/../../etc", "a/..", "/workspace/../etc/passwd", "/etc/passwd", "/", "/workspacefoo/x", "/tmp"]) {
      expect(code(p)).toBe("PERMISSION_DENIED");
    }
  });

  test("empty, non-string and NUL paths are INVALID_ARGUMENT", () => {
    expect(code("")).toBe("INVALID_ARGUMENT");
    expect(code("a\0b")).toBe("INVALID_ARGUMENT");
    expect(code(42 as unknown as string)).toBe("INVALID_ARGUMENT");
  });
});
