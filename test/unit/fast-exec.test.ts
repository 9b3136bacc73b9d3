// Which argv the fast exec path takes (everything else goes through the full CLI), and how it decodes output.
import { describe, expect, test } from "bun:test";
import { isPlainExec } from "../../src/cli/exec-form.ts";
import { fromBase64 } from "../../src/cli/exec-output.ts";

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

describe("fromBase64", () => {
  test("gives the bytes Buffer gives, for every length and byte", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 37 + n * 11) & 0xff;
      const text = Buffer.from(bytes).toString("base64");
      expect([n, Array.from(fromBase64(text))]).toEqual([n, Array.from(Buffer.from(text, "base64"))]);
    }
  });
});
