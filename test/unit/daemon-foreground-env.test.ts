// A `nexus daemon` run by hand gets the runtime's settings for daemons as the auto-started one does
// (src/daemon/foreground-env.ts): what the environment lacks is added, a value of the user's own wins.
import { describe, expect, test } from "bun:test";
import { missingDaemonEnv } from "../../src/daemon/foreground-env.ts";

describe("missingDaemonEnv", () => {
  test("a setting the environment lacks is missing", () => {
    expect(missingDaemonEnv({ BUN_JSC_useDFGJIT: "0" }, { PATH: "/bin" })).toEqual({ BUN_JSC_useDFGJIT: "0" });
  });

  test("the user's own value, whatever it is, is kept: nothing is missing", () => {
    expect(missingDaemonEnv({ BUN_JSC_useDFGJIT: "0" }, { BUN_JSC_useDFGJIT: "1" })).toBeUndefined();
    expect(missingDaemonEnv({ BUN_JSC_useDFGJIT: "0" }, { BUN_JSC_useDFGJIT: "" })).toBeUndefined();
  });

  test("a runtime without settings for the daemon (Deno) needs no new start", () => {
    expect(missingDaemonEnv({}, { PATH: "/bin" })).toBeUndefined();
  });

  test("once started with them (the environment execve gave), nothing is missing: no second start", () => {
    const settings = { BUN_JSC_useDFGJIT: "0" };
    const env: Record<string, string | undefined> = { PATH: "/bin" };
    const added = missingDaemonEnv(settings, env);
    expect(missingDaemonEnv(settings, { ...env, ...added })).toBeUndefined();
  });
});
