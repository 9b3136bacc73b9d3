// The daemon starts without JavaScriptCore's optimizing JIT (bench/memory.ts: its code and compile
// allocations were what stayed after workspaces were destroyed), unless the user says otherwise.
import { describe, expect, test } from "bun:test";
import { daemonChildEnv } from "../../src/cli/daemon-process.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";

describe("the daemon's environment", () => {
  test("under Bun the daemon gets the DFG JIT off", () => {
    expect(bunRuntime.daemonEnv()).toEqual({ BUN_JSC_useDFGJIT: "0" });
  });

  test("the user's own setting wins; NEXUS_HOME is the daemon's home whatever the environment says", () => {
    const env = daemonChildEnv({ BUN_JSC_useDFGJIT: "0" }, { PATH: "/bin", BUN_JSC_useDFGJIT: "1", NEXUS_HOME: "/elsewhere" }, "/home/u/.nexus");
    expect(env).toEqual({ PATH: "/bin", BUN_JSC_useDFGJIT: "1", NEXUS_HOME: "/home/u/.nexus" });
    expect(daemonChildEnv({ BUN_JSC_useDFGJIT: "0" }, { PATH: "/bin" }, "/h")).toEqual({ BUN_JSC_useDFGJIT: "0", PATH: "/bin", NEXUS_HOME: "/h" });
  });
});
