// The daemon starts without JavaScriptCore's JIT tiers (bench/memory.ts: their code and the allocations
// that live with it were what stayed after workspaces were destroyed), and under Deno with a small young
// generation (V8 kept its grown pages), unless the user says otherwise.
import { describe, expect, test } from "bun:test";
import { daemonChildEnv } from "../../src/cli/daemon-process.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { denoRuntime } from "../../src/runtime/deno.ts";

describe("the daemon's environment", () => {
  test("under Bun the daemon gets the baseline and DFG JITs off", () => {
    expect(bunRuntime.daemonEnv()).toEqual({ BUN_JSC_useDFGJIT: "0", BUN_JSC_useBaselineJIT: "0" });
  });

  test("under Deno the daemon gets a small young generation and a collection it can ask for", () => {
    expect(denoRuntime.daemonEnv()).toEqual({ DENO_V8_FLAGS: "--max-semi-space-size=1,--expose-gc" });
    expect(daemonChildEnv(denoRuntime.daemonEnv(), { DENO_V8_FLAGS: "--max-old-space-size=512" }, "/h").DENO_V8_FLAGS).toBe("--max-old-space-size=512");
  });

  test("the user's own setting wins; NEXUS_HOME is the daemon's home whatever the environment says", () => {
    const env = daemonChildEnv({ BUN_JSC_useDFGJIT: "0" }, { PATH: "/bin", BUN_JSC_useDFGJIT: "1", NEXUS_HOME: "/elsewhere" }, "/home/u/.nexus");
    expect(env).toEqual({ PATH: "/bin", BUN_JSC_useDFGJIT: "1", NEXUS_HOME: "/home/u/.nexus" });
    expect(daemonChildEnv({ BUN_JSC_useDFGJIT: "0" }, { PATH: "/bin" }, "/h")).toEqual({ BUN_JSC_useDFGJIT: "0", PATH: "/bin", NEXUS_HOME: "/h" });
  });
});
