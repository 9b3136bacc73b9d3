// `nexus boulder status` with real state files in a temporary project (core/boulder/status.ts), and
// the command as a process (bun src/main.ts): human, --json, an inactive project, the other verbs.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { boulderProjectDir, readBoulderStatus } from "../../src/core/boulder/status.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const STATE = { iteration: 139, sessionStartTime: 1771570000000, totalWorkTimeMs: 3_725_000, tasksCompleted: 4, tasksCreated: 10, status: "CONTINUOUS", lastActivity: 1771571092362, lastEnforcement: 1771570934709, extra: "kept" };

function project(state?: unknown): { dir: string; dispose: () => PromiseLike<void> } {
  const t = tempDir("boulder");
  const dir = realpathSync(t.path);
  mkdirSync(join(dir, ".git"));
  if (state !== undefined) {
    mkdirSync(join(dir, ".nexus", "boulder"), { recursive: true });
    writeFileSync(join(dir, ".nexus", "boulder", "state.json"), typeof state === "string" ? state : JSON.stringify(state));
  }
  return { dir, dispose: () => t[Symbol.asyncDispose]() };
}

function nexus(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NEXUS_HOME: join(cwd, ".nexus-home"), NO_COLOR: "1" }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("readBoulderStatus", () => {
  test("a state file: every field, times as ISO, the file kept as it is", async () => {
    const p = project(STATE);
    try {
      const s = readBoulderStatus(p.dir);
      expect(s).toMatchObject({
        projectDir: p.dir,
        stateFile: join(p.dir, ".nexus/boulder/state.json"),
        active: true,
        status: "CONTINUOUS",
        paused: false,
        iteration: 139,
        sessionStartedAt: new Date(1771570000000).toISOString(),
        lastActivityAt: new Date(1771571092362).toISOString(),
        lastEnforcementAt: new Date(1771570934709).toISOString(),
        totalWorkTimeMs: 3_725_000,
        tasksCompleted: 4,
        tasksCreated: 10,
        stopRequested: false,
      });
      expect(s.state).toEqual(STATE);
    } finally {
      await p.dispose();
    }
  });

  test("pause.flag makes it PAUSED; lastEnforcement 0 is never", async () => {
    const p = project({ ...STATE, lastEnforcement: 0, stopRequested: true });
    try {
      writeFileSync(join(p.dir, ".nexus/boulder/pause.flag"), "");
      expect(readBoulderStatus(p.dir)).toMatchObject({ status: "PAUSED", paused: true, lastEnforcementAt: null, stopRequested: true });
    } finally {
      await p.dispose();
    }
  });

  test("no state file: inactive, not an error", async () => {
    const p = project();
    try {
      expect(readBoulderStatus(p.dir)).toMatchObject({ active: false, status: null, iteration: null, state: null });
    } finally {
      await p.dispose();
    }
  });

  test("a damaged file is INVALID_STATE naming the file and the problem", async () => {
    for (const [text, why] of [
      ["{not json", "it is not JSON"],
      [JSON.stringify({ iteration: "many" }), "iteration: Invalid type"],
      ["[]", "it is not a JSON object"],
    ] as const) {
      const p = project(text);
      try {
        let err: unknown;
        try {
          readBoulderStatus(p.dir);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(NexusError);
        expect((err as NexusError).code).toBe("INVALID_STATE");
        expect((err as NexusError).message).toContain(`The boulder state file ${join(p.dir, ".nexus/boulder/state.json")} cannot be read: ${why}`);
      } finally {
        await p.dispose();
      }
    }
  });

  test("the project folder: the nearest .nexus/boulder up from here, else the git top", async () => {
    const p = project(STATE);
    try {
      mkdirSync(join(p.dir, "a", "b"), { recursive: true });
      expect(boulderProjectDir(join(p.dir, "a", "b"))).toBe(p.dir);
      const q = project();
      try {
        mkdirSync(join(q.dir, "src"));
        expect(boulderProjectDir(join(q.dir, "src"))).toBe(q.dir);
      } finally {
        await q.dispose();
      }
    } finally {
      await p.dispose();
    }
  });
});

describe("nexus boulder", () => {
  test("status: human and --json, from a subfolder, and --dir", async () => {
    const p = project(STATE);
    try {
      mkdirSync(join(p.dir, "sub"));
      const human = nexus(["boulder", "status"], join(p.dir, "sub"));
      expect(human.code).toBe(0);
      expect(human.stdout).toContain("Boulder CONTINUOUS\n");
      expect(human.stdout).toMatch(/iteration\s+139\n/);
      expect(human.stdout).toMatch(/work time\s+1h 2m\n/);
      expect(human.stdout).toMatch(/tasks\s+4 completed of 10 created\n/);
      const json = JSON.parse(nexus(["boulder", "status", "--json"], p.dir).stdout);
      expect(json).toMatchObject({ active: true, status: "CONTINUOUS", iteration: 139, state: STATE });
      const other = project();
      try {
        const viaDir = JSON.parse(nexus(["boulder", "status", "--json", "--dir", p.dir], other.dir).stdout);
        expect(viaDir.iteration).toBe(139);
        const none = nexus(["boulder", "status"], other.dir);
        expect(none.code).toBe(0);
        expect(none.stdout).toBe(`Boulder is not active in ${other.dir} (no ${join(other.dir, ".nexus/boulder/state.json")})\n`);
      } finally {
        await other.dispose();
      }
    } finally {
      await p.dispose();
    }
  }, 120_000);

  test("the other verbs are not supported (exit 1); unknown ones are usage errors (exit 2); a damaged file exits 1", async () => {
    const p = project("{");
    try {
      const pause = nexus(["boulder", "pause"], p.dir);
      expect(pause.code).toBe(1);
      expect(pause.stderr).toContain("'nexus boulder pause' is not supported: Nexus only reads boulder's state");
      const pauseJson = JSON.parse(nexus(["boulder", "pause", "--json"], p.dir).stdout);
      expect(pauseJson.error.code).toBe("UNIMPLEMENTED");
      expect(nexus(["boulder", "roll"], p.dir).code).toBe(2);
      const bad = nexus(["boulder", "status"], p.dir);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("cannot be read: it is not JSON");
    } finally {
      await p.dispose();
    }
  }, 120_000);
});
