// A daemon that makes and destroys workspaces all day keeps nothing of the destroyed ones in memory
// (issue 17's memory target): every per-workspace map forgets the workspace at destroy.
import { describe, expect, test } from "bun:test";
import { ActivityTracker } from "../../src/core/workspace/activity.ts";
import { WorkspaceContext, type WorkspaceServiceDeps } from "../../src/core/workspace/context.ts";
import { WorkspaceLocks } from "../../src/core/workspace/lock.ts";
import { WorkspaceSecrets } from "../../src/core/workspace/secrets.ts";
import type { GitSync } from "../../src/core/git-sync/service.ts";

describe("per-workspace memory goes with the workspace", () => {
  test("activity: a command's count goes when it ends; forget drops the last activity", () => {
    const a = new ActivityTracker();
    a.commandStarted("ws-1");
    a.commandStarted("ws-1");
    a.commandEnded("ws-1");
    expect(a.running("ws-1")).toBe(1);
    a.commandEnded("ws-1");
    expect(a.running("ws-1")).toBe(0);
    a.touch("ws-1");
    expect(a.size).toBe(1);
    a.forget("ws-1");
    expect(a.size).toBe(0);
    expect(a.lastActive("ws-1")).toBeUndefined();
  });

  test("activity: forget keeps the count of a command still running (its end comes later and clears it)", () => {
    const a = new ActivityTracker();
    a.commandStarted("ws-1");
    a.forget("ws-1");
    expect(a.running("ws-1")).toBe(1);
    a.commandEnded("ws-1");
    expect(a.size).toBe(0);
  });

  test("locks: a forgotten workspace's count goes, and a count read before never comes back", () => {
    const l = new WorkspaceLocks();
    l.changed("ws-1");
    l.changed("ws-2");
    const before = l.changes("ws-1");
    l.forget("ws-1");
    expect(l.size).toBe(1);
    l.changed("ws-1");
    expect(l.changes("ws-1")).not.toBe(before);
    l.forget("ws-1");
    l.forget("ws-2");
    expect(l.size).toBe(0);
  });

  test("context.forget clears the workspace from every map and set the context keeps, and only it", () => {
    const c = new WorkspaceContext({} as WorkspaceServiceDeps);
    c.secrets = new WorkspaceSecrets(c, () => ({ host: "127.0.0.1", port: 22, username: "nexus" }) as never);
    // The git sync state it keeps is its own (test/unit/git-sync-state.test.ts): here, that it is told.
    const gitForgot: string[] = [];
    c.git = { forget: (id: string) => void gitForgot.push(id) } as unknown as GitSync;
    c.activity.touch("ws-1");
    c.activity.touch("ws-2");
    c.locks.changed("ws-1");
    c.supervisorIn.add("ws-1:ctr-a");
    c.supervisorIn.add("ws-1:ctr-b");
    c.supervisorIn.add("ws-2:ctr-c");
    c.forget("ws-1");
    expect([...c.supervisorIn]).toEqual(["ws-2:ctr-c"]);
    expect(c.activity.lastActive("ws-1")).toBeUndefined();
    expect(c.activity.lastActive("ws-2")).toBeDefined();
    expect(c.locks.size).toBe(0);
    expect(gitForgot).toEqual(["ws-1"]);
  });
});
