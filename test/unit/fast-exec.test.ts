// Which argv the fast exec path takes; everything else goes through the full CLI.
import { describe, expect, test } from "bun:test";
import { isPlainExec } from "../../src/cli/exec-form.ts";

describe("isPlainExec", () => {
  test("exec [workspace] -- cmd, also as 'workspace exec'", () => {
    expect(isPlainExec(["exec", "demo", "--", "git", "status"])).toBe(true);
    expect(isPlainExec(["exec", "--", "true"])).toBe(true); // the active workspace
    expect(isPlainExec(["workspace", "exec", "demo", "--", "ls", "-la"])).toBe(true);
    expect(isPlainExec(["exec", "demo", "--", "sh", "-c", "exit 7", "--json"])).toBe(true); // after --, words are the command's
  });

  test("flags, help, no command or no '--' take the full CLI", () => {
    for (const argv of [
      ["exec", "demo", "--json", "--", "true"],
      ["exec", "--cwd", "/tmp", "demo", "--", "true"],
      ["exec", "-u", "http://x", "demo", "--", "true"],
      ["exec", "demo", "--help"],
      ["exec", "demo", "--"],
      ["exec", "demo", "true"],
      ["exec", "a", "b", "--", "true"],
      ["list"],
      [],
    ]) {
      expect({ argv, fast: isPlainExec(argv) }).toEqual({ argv, fast: false });
    }
  });
});
