// Hook steps in order, the first failure stops them, timeouts are reported, and the log is kept (and rotated).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HookStep } from "../../src/config/project.ts";
import { hookCommandLine, MAX_HOOK_LOG_BYTES, runHookSteps } from "../../src/core/hooks.ts";
import { tempDir } from "../helpers/fixtures.ts";

const step = (name: string, command: string, timeoutSeconds = 5): HookStep => ({ name, command, env: {}, timeoutSeconds });

describe("runHookSteps", () => {
  test("runs steps in order, stops at the first failure, keeps every step's output in the log", async () => {
    await using dir = tempDir("hooks");
    const log = join(dir.path, "logs", "pre-start.log");
    const ran: string[] = [];
    const r = await runHookSteps("pre-start", [step("a", "echo a"), step("b", "exit 3"), step("c", "echo c")], async (s) => {
      ran.push(s.name);
      return s.name === "b" ? { exitCode: 3, output: "boom\n" } : { exitCode: 0, output: `${s.name}\n` };
    }, log);
    expect(ran).toEqual(["a", "b"]);
    expect(r).toMatchObject({ hook: "pre-start", exitCode: 3, timedOut: false, output: "a\nboom" });
    expect(r.steps.map((x) => [x.name, x.exitCode])).toEqual([["a", 0], ["b", 3]]);
    const text = readFileSync(log, "utf8");
    expect(text).toContain("pre-start a: echo a");
    expect(text).toContain("<== exit 3");
  });

  test("a step past its timeout is 124 and says so", async () => {
    await using dir = tempDir("hooks");
    const r = await runHookSteps("post-start", [step("slow", "sleep 9", 0.2)], (_s, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("killed")))), join(dir.path, "h.log"));
    expect(r).toMatchObject({ exitCode: 124, timedOut: true });
    expect(r.output).toContain("ran past its timeout of 0.2 s");
  });

  test("a log past its size limit is rotated to .1", async () => {
    await using dir = tempDir("hooks");
    const log = join(dir.path, "health-check.log");
    writeFileSync(log, "x".repeat(MAX_HOOK_LOG_BYTES + 1));
    await runHookSteps("health-check", [step("h", "true")], async () => ({ exitCode: 0, output: "" }), log);
    expect(existsSync(`${log}.1`)).toBe(true);
    expect(statSync(log).size).toBeLessThan(1000);
  });

  test("the command line quotes the step and sets the hook's env", () => {
    const line = hookCommandLine("pre-start", { name: "s", command: "echo 'it''s' $HOME", env: { A: "x y" }, timeoutSeconds: 1 }, "demo");
    expect(line).toBe(`cd /workspace && exec env 'A=x y' NEXUS_HOOK=pre-start NEXUS_WORKSPACE=demo bash -lc 'echo '\\''it'\\'''\\''s'\\'' $HOME' 2>&1`);
  });
});
