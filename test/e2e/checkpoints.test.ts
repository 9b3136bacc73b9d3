// Checkpoints through the compiled binary: the CLI commands, and a daemon killed (SIGKILL) in the
// middle of a restore loses nothing. Only the daemon this test starts is ever killed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { removeCheckpointImages, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, foregroundDaemon } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("e2e-checkpoints");
const home = join(root.path, "nexus");
// sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", ".nexus/workspace.yaml": "sudo: true\n" });
let daemon: ChildProcess | undefined;

const nexus = nexusRunner({ home, cwd: repo });
function ok(...args: string[]): string {
  const r = nexus(args);
  if (r.code !== 0) throw new Error(`nexus ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const sh = (script: string) => ok("exec", "crash", "--", "sh", "-c", script);
const state = () => sh("cat /opt/v ~/h /workspace/w.txt 2>&1; true");

/** The daemon in the foreground, as a process of this test (so it can be killed, and only it). */
async function startDaemon(): Promise<void> {
  daemon = await foregroundDaemon(nexus, home);
}

async function killDaemon(): Promise<void> {
  const child = daemon!;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
}

beforeAll(async () => {
  requireE2E();
  await startDaemon();
  ok("create", "crash");
}, 900_000);

afterAll(async () => {
  nexus(["destroy", "crash", "--force"]);
  if (daemon && daemon.exitCode === null) {
    const child = daemon;
    child.kill("SIGTERM");
    await until("the daemon exits", () => child.exitCode !== null || child.signalCode !== null, Boolean, 15_000).catch(() => child.kill("SIGKILL"));
  }
  removeLeftovers(home);
  removeCheckpointImages(home);
  await root[Symbol.asyncDispose]();
});

describe("nexus checkpoint and restore", () => {
  test("create, list (--json), restore and errors through the CLI", () => {
    sh("sudo sh -c 'echo v1 > /opt/v' && echo h1 > ~/h && cd /workspace && (echo w1 > w.txt || sudo sh -c 'echo w1 > w.txt')");
    const created = ok("checkpoint", "create", "crash", "-n", "one", "--description", "first");
    expect(created).toMatch(/Created checkpoint one \(ckpt-[0-9a-f]{12}\) of crash/);
    expect(created).toContain("untracked files included");
    const list = JSON.parse(ok("checkpoint", "list", "crash", "--json")).checkpoints;
    expect(list.map((c: { name: string }) => c.name)).toEqual(["one"]);
    expect(list[0].holds.worktree.branch).toBe("nexus/crash");

    const bad = nexus(["checkpoint", "create", "crash", "-n", "Not OK"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("checkpoint name must be");
    const unknown = nexus(["restore", "crash", "nope"]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain("Checkpoint 'nope' doesn't exist");
  }, 600_000);

  test("a daemon killed in the middle of a restore loses nothing: the workspace is as before or restored, and the automatic checkpoint holds what it had", async () => {
    sh("sudo sh -c 'echo v2 > /opt/v' && echo h2 > ~/h && cd /workspace && (echo w2 > w.txt || sudo sh -c 'echo w2 > w.txt')");
    expect(state()).toBe("v2\nh2\nw2\n");
    const journal = () => readdirSync(join(home, "checkpoints")).find((f) => f.startsWith("restore-"));
    const restore = nexus.spawn(["restore", "crash", "one"], { stdio: "ignore" });
    const restoreDone = new Promise((r) => restore.once("exit", r));
    // Killed once the automatic checkpoint is taken (the journal names it) and the restore is making
    // the new container: from here on the workspace itself changes. (The journal is written before,
    // while the new container is made beside the automatic checkpoint; a kill then finds the
    // workspace untouched.)
    const safetyKnown = () => {
      const f = journal();
      if (!f) return false;
      try {
        return !!(JSON.parse(readFileSync(join(home, "checkpoints", f), "utf8")) as { safetyId: string }).safetyId;
      } catch {
        return false; // removed meanwhile
      }
    };
    // Probed every 5 ms: the window between the journal naming the checkpoint and the swap is short.
    await until("the journal names the automatic checkpoint, or the restore ends", () => safetyKnown() || restore.exitCode !== null, Boolean, { timeoutMs: 300_000, intervalMs: 5 });
    const phase = journal() ? (JSON.parse(readFileSync(join(home, "checkpoints", journal()!), "utf8")) as { phase: string }).phase : "finished";
    await killDaemon();
    await restoreDone;

    await startDaemon();
    expect(journal()).toBeUndefined();
    const status = JSON.parse(ok("status", "crash", "--json")).status as string;
    if (status !== "running") ok("start", "crash");
    const now = state();
    // As before the restore (undone), or as the checkpoint (the swap was done): never a mix, never lost.
    expect(["v2\nh2\nw2\n", "v1\nh1\nw1\n"]).toContain(now);

    const auto = (JSON.parse(ok("checkpoint", "list", "crash", "--json")).checkpoints as Array<{ name: string; auto: boolean }>).filter((c) => c.auto);
    expect(auto).toHaveLength(1);
    ok("restore", "crash", auto[0]!.name);
    expect(state()).toBe("v2\nh2\nw2\n");
    ok("restore", "crash", "one");
    expect(state()).toBe("v1\nh1\nw1\n");
    console.log(`killed in phase '${phase}'; after the daemon came back the workspace was ${now === "v1\nh1\nw1\n" ? "restored" : "as before"}`);
  }, 900_000);
  test("a daemon killed later in a restore (files going back, or the swap) loses nothing either", async () => {
    sh("sudo sh -c 'echo v3 > /opt/v' && echo h3 > ~/h && cd /workspace && (echo w3 > w.txt || sudo sh -c 'echo w3 > w.txt')");
    expect(state()).toBe("v3\nh3\nw3\n");
    const journalFile = () => readdirSync(join(home, "checkpoints")).find((f) => f.startsWith("restore-"));
    const journalPhase = () => {
      const f = journalFile();
      try {
        return f ? (JSON.parse(readFileSync(join(home, "checkpoints", f), "utf8")) as { phase: string }).phase : undefined;
      } catch {
        return undefined; // being replaced this instant
      }
    };
    const restore = nexus.spawn(["restore", "crash", "one"], { stdio: "ignore" });
    const restoreDone = new Promise((r) => restore.once("exit", r));
    // Killed once the new container is made and filled (the files are going back, or the swap is under way).
    let phase: string | undefined;
    await until(
      "the restore fills the new container or swaps, or ends",
      () => {
        phase = journalPhase();
        return phase === "worktree" || phase === "switch" || restore.exitCode !== null;
      },
      Boolean,
      { timeoutMs: 300_000, intervalMs: 5 },
    );
    await killDaemon();
    await restoreDone;

    await startDaemon();
    expect(journalFile()).toBeUndefined();
    if ((JSON.parse(ok("status", "crash", "--json")).status as string) !== "running") ok("start", "crash");
    const now = state();
    expect(["v3\nh3\nw3\n", "v1\nh1\nw1\n"]).toContain(now);
    // The newest automatic checkpoint holds what the restore replaced.
    const autos = (JSON.parse(ok("checkpoint", "list", "crash", "--json")).checkpoints as Array<{ name: string; auto: boolean; createdAt: string }>).filter((c) => c.auto);
    const newest = autos.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1)!;
    ok("restore", "crash", newest.name);
    expect(state()).toBe("v3\nh3\nw3\n");
    console.log(`killed in phase '${phase ?? "finished"}'; after the daemon came back the workspace was ${now === "v1\nh1\nw1\n" ? "restored" : "as before"}`);
  }, 900_000);
});
