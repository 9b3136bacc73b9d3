import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ago, errorEnvelope, formatError, table, useColor } from "../../src/cli/output.ts";
import { NexusError } from "../../src/core/errors.ts";
import { slowTests } from "../helpers/timeout.ts";
import { evalArgv } from "../helpers/runtime-argv.ts";

slowTests();

describe("formatError", () => {
  test("message, code and suggestion, without colour", () => {
    const text = formatError(new NexusError("WORKSPACE_NOT_FOUND", "Workspace 'x' doesn't exist", { suggestion: "Run 'nexus list'" }), false);
    expect(text).toBe("Error: Workspace 'x' doesn't exist (WORKSPACE_NOT_FOUND)\n  → Run 'nexus list'\n");
  });

  test("with colour, the text is the same once escapes are removed", () => {
    const e = new NexusError("INTERNAL_ERROR", "boom", { suggestion: "look" });
    const colored = formatError(e, true);
    expect(colored).toContain("\u001b[31m");
    expect(colored.replace(/\u001b\[[0-9;]*m/g, "")).toBe(formatError(e, false));
  });

  test("a container log in the details is shown, line by line", () => {
    const e = new NexusError("WORKSPACE_START_FAILED", "sshd died", { details: { containerLog: ["line one", "line two"] } });
    expect(formatError(e, false)).toBe("Error: sshd died (WORKSPACE_START_FAILED)\n  | line one\n  | line two\n");
  });
});

describe("errorEnvelope", () => {
  test("is {error: body} as the API sends it", () => {
    const e = new NexusError("PORT_CONFLICT", "busy", { details: { port: 1 } });
    expect(errorEnvelope(e)).toEqual({ error: { code: "PORT_CONFLICT", message: "busy", retryable: true, details: { port: 1 } } });
  });
});

describe("table", () => {
  test("pads columns to the widest cell; the last column is not padded", () => {
    const out = table(
      [
        ["NAME", "STATUS", "X"],
        ["a-long-name", "up", "1"],
        ["b", "stopped", "22"],
      ],
      false,
    );
    expect(out).toBe("NAME         STATUS   X\na-long-name  up       1\nb            stopped  22\n");
  });

  test("colour codes do not count towards the width", () => {
    const plain = table([["H1", "H2"], ["ab", "c"]], false);
    const colored = table([["H1", "H2"], ["\u001b[32mab\u001b[0m", "c"]], false);
    expect(colored.replace(/\u001b\[[0-9;]*m/g, "")).toBe(plain);
  });

  test("no rows, no output", () => {
    expect(table([], false)).toBe("");
  });
});

describe("ago", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  test.each([
    ["2026-01-01T12:00:00Z", "0s ago"],
    ["2026-01-01T11:59:15Z", "45s ago"],
    ["2026-01-01T11:55:00Z", "5m ago"],
    ["2026-01-01T09:00:00Z", "3h ago"],
    ["2025-12-29T12:00:00Z", "3d ago"],
    ["2026-01-01T12:00:30Z", "0s ago"], // a clock a little ahead is not "in the future"
  ])("%s → %s", (iso, want) => {
    expect(ago(iso, now)).toBe(want);
  });
});

describe("useColor and isTerminal", () => {
  test("a pipe, a file and /dev/null are not terminals", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-output-"));
    try {
      const probe = (stdout: "pipe" | number) =>
        spawnSync(...evalArgv(`import("${join(import.meta.dirname, "../../src/cli/output.ts")}").then((m) => process.stderr.write(String(m.isTerminal(1))))`), { stdio: ["ignore", stdout, "pipe"], encoding: "utf8" }).stderr;
      expect(probe("pipe")).toBe("false");
      expect(probe(openSync(join(dir, "out"), "w"))).toBe("false");
      expect(probe(openSync("/dev/null", "w"))).toBe("false");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a pseudo-terminal is one (run under script(1))", () => {
    const [runtime, [evalFlag]] = evalArgv("");
    const script = spawnSync("script", ["-qec", `${runtime} ${evalFlag} 'import("${join(import.meta.dirname, "../../src/cli/output.ts")}").then((m) => console.log("tty=" + m.isTerminal(1)))'`, "/dev/null"], { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    if (script.error) throw new Error(`script(1) is needed for this test: ${script.error.message}`);
    expect(script.stdout).toContain("tty=true");
  });

  test("NO_COLOR and TERM=dumb turn colour off whatever the descriptor", () => {
    const saved = { NO_COLOR: process.env.NO_COLOR, TERM: process.env.TERM };
    try {
      process.env.NO_COLOR = "1";
      expect(useColor(1)).toBe(false);
      delete process.env.NO_COLOR;
      process.env.TERM = "dumb";
      expect(useColor(2)).toBe(false);
    } finally {
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    }
  });
});
