import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { buildCommandLine, isEnvName, shellQuote } from "../../src/ssh/quote.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

/**
 * Runs a command line with the local POSIX shell, as sshd would hand it to the user's shell. With the
 * system's PATH, not ours: a folder on ours the user cannot enter (root's /root/... for the unprivileged
 * user of scripts/test-nonroot.sh) makes sh answer "permission denied" (126) for a command it does
 * not find, where the test expects "not found" (127).
 */
function sh(line: string, opts: { cwd?: string; env?: Record<string, string> } = {}): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", line], {
    cwd: opts.cwd ?? "/",
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/nonexistent-home", SECRET: "leaked", ...opts.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

/** The words printf receives, split on NUL. */
function words(out: Buffer): string[] {
  const text = out.toString("utf8");
  expect(text.endsWith("\0")).toBe(true);
  return text.slice(0, -1).split("\0");
}

const NASTY: string[][] = [
  ["plain"],
  ["with space", "two  spaces", " lead", "trail "],
  ["it's", "'", "''", "a'b'c", `"double"`, `mixed '"' quotes`],
  ["$HOME", "${SECRET}", "$(echo pwned)", "`echo pwned`", "$((1+1))", "\\$HOME"],
  ["line1\nline2", "\n", "tab\there", "cr\rreturn"],
  ["ünïcödé", "日本語", "emoji 🚀", "é"],
  ["", "a", ""],
  ["*", "?", "[a-z]*", "/*", "~", "~/x", "{a,b}"],
  [";", "&&", "||", "|", "&", ">", "<", "2>&1", "#comment", "!", "\\", "\\\\n", "-n", "--", "-e"],
  ["a=b", "=", "x=$y", "@:%+,./-_"],
];

describe("shellQuote", () => {
  test("leaves safe words alone", () => {
    for (const w of ["ls", "-la", "/workspace/src", "a=b", "user@host:22", "1.2.3", "a,b", "x+y", "50%"]) {
      expect(shellQuote(w)).toBe(w);
    }
  });

  test("quotes the empty word", () => {
    expect(shellQuote("")).toBe("''");
  });

  test("quotes words with shell syntax", () => {
    for (const w of ["a b", "$x", "`x`", "a'b", "*", "~", "a\nb", "!"]) {
      expect(shellQuote(w)).not.toBe(w);
    }
  });

  test.each(NASTY.flat().map((w) => [w]))("sh reads %j back as the same single word", (word) => {
    const r = sh(`printf '%s\\0' ${shellQuote(word)}`);
    expect(r.status).toBe(0);
    expect(words(r.stdout)).toEqual([word]);
  });
});

describe("buildCommandLine", () => {
  test.each(NASTY.map((argv) => [argv]))("argv %j round-trips through sh -c", (argv) => {
    const r = sh(buildCommandLine(["printf", "%s\\0", ...argv]));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(words(r.stdout)).toEqual(argv);
  });

  test("every nasty word at once", () => {
    const argv = NASTY.flat();
    const r = sh(buildCommandLine(["printf", "%s\\0", ...argv]));
    expect(r.status).toBe(0);
    expect(words(r.stdout)).toEqual(argv);
  });

  test("the command word itself is quoted (a command with a space is one word)", () => {
    const r = sh(buildCommandLine(["no such command", "x"]));
    expect(r.status).toBe(127);
    expect(r.stderr).toContain("no such command");
  });

  test("cd's to cwd first, even a cwd with spaces and quotes", async () => {
    await using dir = tempDir("quote");
    const { mkdirSync, realpathSync } = await import("node:fs");
    const cwd = `${dir.path}/it's a "dir" $HOME`;
    mkdirSync(cwd);
    const r = sh(buildCommandLine(["pwd"], { cwd }));
    expect(r.status).toBe(0);
    expect(r.stdout.toString("utf8")).toBe(realpathSync(cwd) + "\n");
  });

  test("a cwd that does not exist stops the command", () => {
    const r = sh(buildCommandLine(["printf", "ran"], { cwd: "/nonexistent dir" }));
    expect(r.status).not.toBe(0);
    expect(r.stdout.toString("utf8")).toBe("");
  });

  test("sets env values exactly, whatever they contain", () => {
    const env = { A: "plain", B: "with space", C: "it's $SECRET `x` \n end", D: "", E: "=x=" };
    const r = sh(buildCommandLine(["sh", "-c", `printf '%s\\0' "$A" "$B" "$C" "$D" "$E" "\${SECRET}"`], { env }));
    expect(r.status).toBe(0);
    expect(words(r.stdout)).toEqual(["plain", "with space", "it's $SECRET `x` \n end", "", "=x=", "leaked"]);
  });

  test("exec replaces the shell: the command's exit code is the line's exit code", () => {
    expect(sh(buildCommandLine(["sh", "-c", "exit 42"])).status).toBe(42);
    expect(buildCommandLine(["true"])).toBe("exec true");
    expect(buildCommandLine(["ls", "-la"], { cwd: "/workspace" })).toBe("cd /workspace && exec ls -la");
    expect(buildCommandLine(["env"], { env: { A: "1" } })).toBe("exec env A=1 env");
  });
});

describe("isEnvName", () => {
  test("accepts POSIX names and rejects others", () => {
    for (const n of ["A", "_", "PATH", "a_1", "_X9"]) expect(isEnvName(n)).toBe(true);
    for (const n of ["", "1A", "A-B", "A B", "A=B", "ä", "$A"]) expect(isEnvName(n)).toBe(false);
  });
});
