// The lifecycle transition table and the per-workspace lock, without an engine.
import { describe, expect, test } from "bun:test";
import { NexusError } from "../../src/core/errors.ts";
import { WORKSPACE_STATUSES, type WorkspaceStatus } from "../../src/core/types.ts";
import { WorkspaceLocks } from "../../src/core/workspace/lock.ts";
import { check, refusal, requireRunning, target, transition, TRANSITIONS, type LifecycleOp } from "../../src/core/workspace/state.ts";

const caught = (fn: () => unknown): NexusError => {
  try {
    fn();
  } catch (err) {
    return err as NexusError;
  }
  throw new Error("did not throw");
};

describe("transition table", () => {
  const expected: Record<Exclude<LifecycleOp, "use">, Partial<Record<WorkspaceStatus, "go" | "already">>> = {
    start: { stopped: "go", error: "go", running: "already" },
    stop: { running: "go", paused: "go", error: "go", stopped: "already" },
    pause: { running: "go", paused: "already" },
    resume: { paused: "go", running: "already" },
    destroy: { running: "go", paused: "go", stopped: "go", error: "go", destroying: "go" },
  };
  for (const [op, row] of Object.entries(expected) as Array<[Exclude<LifecycleOp, "use">, Partial<Record<WorkspaceStatus, "go" | "already">>]>) {
    test(`${op}: every status is go, already or refused`, () => {
      for (const status of WORKSPACE_STATUSES) expect(transition(op, status)).toBe(row[status] ?? "refused");
    });
  }

  test("a status is never both a start and an 'already done' of one operation", () => {
    for (const rule of Object.values(TRANSITIONS)) for (const s of rule.from) expect(rule.already).not.toContain(s);
  });

  test("each operation leads where its name says", () => {
    expect([target("start"), target("stop"), target("pause"), target("resume"), target("destroy")]).toEqual(["running", "stopped", "paused", "running", "destroying"]);
  });
});

describe("refusals are the spec's INVALID_STATE with a hint", () => {
  test("start of a paused workspace says to resume it", () => {
    const e = caught(() => check("start", { name: "w", status: "paused" }));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toBe("Workspace 'w' is paused; it must be stopped to start");
    expect(e.suggestion).toBe("Resume it with 'nexus resume w'");
  });

  test("resume of a stopped workspace says to start it; of a pending one, to look at its status", () => {
    expect(caught(() => check("resume", { name: "w", status: "stopped" })).suggestion).toBe("Start it with 'nexus start w'");
    expect(caught(() => check("resume", { name: "w", status: "pending" })).suggestion).toBe("See 'nexus status w'");
  });

  test("stop of a pending workspace is refused", () => {
    expect(caught(() => check("stop", { name: "w", status: "pending" })).message).toBe("Workspace 'w' is pending; it must be running or paused to stop");
  });

  test("acting inside a workspace needs it running, with a hint per status", () => {
    expect(() => requireRunning({ name: "w", status: "running" }, "run commands in it")).not.toThrow();
    const e = caught(() => requireRunning({ name: "w", status: "stopped" }, "run commands in it"));
    expect(e.message).toBe("Workspace 'w' is stopped; it must be running to run commands in it");
    expect(e.suggestion).toBe("Start it with 'nexus start w'");
    expect(e.details).toEqual({ workspaceName: "w", status: "stopped" });
    expect(caught(() => requireRunning({ name: "w", status: "error" }, "pause it")).suggestion).toBe("See 'nexus status w'; 'nexus start w' tries again");
    expect(caught(() => requireRunning({ name: "w", status: "pending" }, "pause it")).suggestion).toBe("Wait until it is created");
  });

  test("destroy while being created", () => {
    const e = refusal("destroy", { name: "w", status: "pending" });
    expect(e.message).toBe("Workspace 'w' is being created; it must be created first");
    expect(e.suggestion).toBe("Wait for the create to finish, then destroy it");
  });
});

describe("WorkspaceLocks", () => {
  const tick = () => new Promise((r) => setTimeout(r, 1));

  test("operations on one workspace never interleave; they run in the order they came", async () => {
    const locks = new WorkspaceLocks();
    const log: string[] = [];
    const op = (name: string) => async () => {
      log.push(`${name} in`);
      await tick();
      await tick();
      log.push(`${name} out`);
      return name;
    };
    const results = await Promise.all([locks.run("ws-1", op("a")), locks.run("ws-1", op("b")), locks.run("ws-1", op("c"))]);
    expect(results).toEqual(["a", "b", "c"]);
    expect(log).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
  });

  test("different workspaces run at once", async () => {
    const locks = new WorkspaceLocks();
    let release!: () => void;
    const held = locks.run("ws-1", () => new Promise<void>((r) => (release = r)));
    // ws-2 finishes while ws-1 is still held.
    expect(await locks.run("ws-2", async () => "free")).toBe("free");
    release();
    await held;
  });

  test("a failed operation frees the lock, and its error reaches its caller only", async () => {
    const locks = new WorkspaceLocks();
    const failing = locks.run("ws-1", async () => {
      throw new Error("boom");
    });
    const next = locks.run("ws-1", async () => "next ran");
    await expect(failing).rejects.toThrow("boom");
    expect(await next).toBe("next ran");
  });

  test("an early answer reaches the caller at once; the lock stays held until the operation ends", async () => {
    const locks = new WorkspaceLocks();
    const log: string[] = [];
    let finishFreeze!: () => void;
    const freeze = new Promise<void>((r) => (finishFreeze = r));
    // As a late pause: answered at once, its freeze undone when the engine finishes it.
    const pausing = locks.runAnswering("ws-1", async (answerEarly) => {
      answerEarly(new Error("late"));
      await freeze;
      log.push("undo");
      throw new Error("late");
    });
    const next = locks.run("ws-1", async () => void log.push("next"));
    await expect(pausing).rejects.toThrow("late");
    await tick();
    expect(log).toEqual([]);
    finishFreeze();
    await next;
    expect(log).toEqual(["undo", "next"]);
  });

  test("without an early answer, runAnswering answers what the operation returns or throws", async () => {
    const locks = new WorkspaceLocks();
    expect(await locks.runAnswering("ws-1", async () => "done")).toBe("done");
    await expect(locks.runAnswering("ws-1", async () => Promise.reject(new Error("failed")))).rejects.toThrow("failed");
    expect(await locks.run("ws-1", async () => "free again")).toBe("free again");
  });

  test("counts status changes per workspace", () => {
    const locks = new WorkspaceLocks();
    expect(locks.changes("ws-1")).toBe(0);
    locks.changed("ws-1");
    locks.changed("ws-1");
    expect(locks.changes("ws-1")).toBe(2);
    expect(locks.changes("ws-2")).toBe(0);
  });
});
