import { describe, expect, test } from "bun:test";
import { RESOURCE_PRESETS } from "../../src/config/schema.ts";
import { NexusError } from "../../src/core/errors.ts";
import { toView } from "../../src/core/types.ts";
import { resolveResources } from "../../src/core/workspaces.ts";
import { makeRecord } from "../helpers/records.ts";

describe("resolveResources", () => {
  test.each(Object.entries(RESOURCE_PRESETS))("preset %s", (name, preset) => {
    expect(resolveResources(name)).toEqual({ preset: name, cpu: preset.cpu, memoryBytes: preset.memoryBytes });
  });

  test("presets grow", () => {
    const order = ["small", "medium", "large", "xlarge"].map((p) => resolveResources(p));
    for (let i = 1; i < order.length; i++) {
      expect(order[i]!.cpu).toBeGreaterThan(order[i - 1]!.cpu);
      expect(order[i]!.memoryBytes).toBeGreaterThan(order[i - 1]!.memoryBytes);
    }
  });

  test("{cpu, memory} with memory in bytes", () => {
    expect(resolveResources({ cpu: 1.5, memory: 3 * 1024 ** 3 })).toEqual({ cpu: 1.5, memoryBytes: 3 * 1024 ** 3 });
  });

  test("an unknown preset is INVALID_ARGUMENT", () => {
    let caught: unknown;
    try {
      resolveResources("enormous");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NexusError);
    expect((caught as NexusError).code).toBe("INVALID_ARGUMENT");
    expect((caught as NexusError).message).toContain("enormous");
  });
});

describe("toView", () => {
  test("the spec's workspace shape: ssh first among the ports, no internals", () => {
    const r = makeRecord({
      name: "viewed",
      ports: { ssh: 32870, services: [{ name: "port-3000", containerPort: 3000, hostPort: 32871 }] },
      repository: { path: "/src/r", gitCommonDir: "/src/r/.git", cloned: true, url: "https://example.invalid/r.git" },
      mountPath: "/src/r/.worktree/viewed",
    });
    const v = toView(r);
    expect(v.ports).toEqual([
      { name: "ssh", containerPort: 22, hostPort: 32870 },
      { name: "port-3000", containerPort: 3000, hostPort: 32871 },
    ]);
    expect(v.repository).toEqual({ path: "/src/r", url: "https://example.invalid/r.git" });
    expect(v.worktreePath).toBe("/src/r/.worktree/viewed");
    expect("error" in v).toBe(false);
    for (const internal of ["containerName", "homeVolume", "env", "worktree", "hostKeyFingerprint"]) expect(internal in v).toBe(false);
  });

  test("an error is shown when there is one", () => {
    expect(toView(makeRecord({ status: "error", error: { code: "CONTAINER_ERROR", message: "gone" } })).error).toEqual({ code: "CONTAINER_ERROR", message: "gone" });
  });
});
