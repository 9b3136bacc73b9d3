// Which argv take the quick lifecycle path (src/cli/quick.ts): only the plain forms; anything else
// goes to the full command table, which parses the same words the same way.
import { describe, expect, test } from "bun:test";
import { lifecycleForm, quickCommand } from "../../src/cli/quick.ts";

describe("lifecycleForm", () => {
  test("the plain forms", () => {
    expect(lifecycleForm(["resume", "ws"])).toEqual({ verb: "resume", workspace: "ws", json: false });
    expect(lifecycleForm(["pause"])).toEqual({ verb: "pause", json: false });
    expect(lifecycleForm(["start", "--json", "ws"])).toEqual({ verb: "start", workspace: "ws", json: true });
    expect(lifecycleForm(["stop", "ws", "--timeout", "1"])).toEqual({ verb: "stop", workspace: "ws", json: false, timeout: 1 });
    expect(lifecycleForm(["stop", "--timeout", "0", "--json"])).toEqual({ verb: "stop", json: true, timeout: 0 });
  });

  test("anything else is the full CLI's", () => {
    for (const argv of [
      ["resume", "--help"],
      ["resume", "-h"],
      ["resume", "a", "b"],
      ["start", "ws", "--skip-hooks"],
      ["start", "ws", "--no-wait"],
      ["pause", "ws", "--timeout", "1"],
      ["stop", "ws", "--timeout"],
      ["stop", "ws", "--timeout", "x"],
      ["stop", "ws", "--timeout=1"],
      ["stop", "ws", "--timeout", "1", "--timeout", "2"],
      ["stop", "ws", "-u", "http://h"],
      ["restart", "ws"],
      ["workspace", "resume", "ws"],
    ]) {
      expect({ argv, form: lifecycleForm(argv) }).toEqual({ argv, form: undefined });
    }
  });

  test("NEXUS_FULL_CLI=1 sends them to the full CLI too", () => {
    expect(quickCommand(["resume", "ws"], {})).toBeFunction();
    expect(quickCommand(["resume", "ws"], { NEXUS_FULL_CLI: "1" })).toBeUndefined();
  });
});
