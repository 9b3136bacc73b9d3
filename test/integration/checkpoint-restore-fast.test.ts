// What makes a restore quick, against the real engine and sshd, and that it keeps every guarantee.
// A workspace with nothing to run before a stop (no pre-stop hook, no services) is ended still
// frozen after its automatic checkpoint (SIGKILL, no thaw): nothing in it runs after that instant.
// One with a pre-stop hook is thawed and stopped as 'nexus stop' does, and the hook runs. A
// checkpoint keeps its changed paths as one tar after its answer, which its restore copies in.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { engineAnswers, removeCheckpointImages, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { serviceGraph } from "../helpers/graph.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("restore-fast");
const home = join(root.path, "nexus");
// sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
const quietRepo = makeRepo(join(root.path, "quiet"), { ".gitignore": "*.log\n", "README.md": "quiet\n", ".nexus/workspace.yaml": "sudo: true\n" });
const hookRepo = makeRepo(join(root.path, "hooked"), {
  ".gitignore": "*.log\n",
  ".nexus/workspace.yaml": "hooks:\n  pre-stop: cd /workspace && (echo pre-stop >> stopped.log || sudo sh -c 'echo pre-stop >> stopped.log')\n",
});
let s: Services;

const run = async (ws: string, script: string) => {
  const r = await s.workspaces.execCollect(ws, { command: "sh", args: ["-c", script] });
  if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
};
const lines = (text: string) => text.split("\n").filter(Boolean);

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.checkpoints.reconcile();
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "quiet", path: quietRepo });
  await s.workspaces.create({ name: "hooked", path: hookRepo });
}, 900_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  removeCheckpointImages(home);
  await root[Symbol.asyncDispose]();
});

describe("restore ends the old container", () => {
  test("without a pre-stop hook or services: frozen at the automatic checkpoint, it never runs again (a ticking loop writes nothing after that instant)", async () => {
    expect(s.workspaces.quietStop(s.store.findByName("quiet")!)).toBe(true);
    await s.checkpoints.create("quiet", { name: "base" });
    // Each tick goes to the worktree's log (ignored: a restore leaves it) first, then to home (held by
    // the automatic checkpoint): at the freeze the log has the home's ticks, or one more.
    const log = join(s.store.findByName("quiet")!.mountPath, "ticks.log");
    await run(
      "quiet",
      `cd /workspace && W=$([ -w . ] && echo sh || echo 'sudo sh'); nohup sh -c "i=0; while :; do i=\\$((i+1)); echo \\$i | $W -c 'cat >> /workspace/ticks.log'; echo \\$i >> ~/ticks; sleep 0.02; done" >/dev/null 2>&1 &`,
    );
    await until("the loop ticks", () => existsSync(log) && lines(readFileSync(log, "utf8")).length > 20, Boolean, { timeoutMs: 120_000 });
    const result = await s.checkpoints.restore("base", "quiet");
    expect(result.status).toBe("running");
    const safety = s.checkpoints.resolve(result.safetyCheckpoint.id);
    expect(Object.keys(safety.phasesMs!)).not.toContain("unfreeze");
    const held = lines(execFileSync("tar", ["-xOf", safety.home!.file, "nexus/ticks"], { encoding: "utf8" }));
    const logged = lines(readFileSync(log, "utf8"));
    expect(held.length).toBeGreaterThan(20);
    // Thawed and stopped with SIGTERM, the loop would have gone on for the thaw and the stop.
    expect(logged.length - held.length).toBeGreaterThanOrEqual(0);
    expect(logged.length - held.length).toBeLessThanOrEqual(1);
    // The restored workspace is the checkpoint's (no ticks in home), and the log stays as it was.
    expect(await run("quiet", "cat ~/ticks 2>/dev/null || echo none")).toBe("none\n");
    expect(lines(readFileSync(log, "utf8")).length).toBe(logged.length);
  }, 600_000);

  test("with a pre-stop hook: thawed and stopped as 'nexus stop' does, the hook runs before the files go back", async () => {
    expect(s.workspaces.quietStop(s.store.findByName("hooked")!)).toBe(false);
    await s.checkpoints.create("hooked", { name: "base" });
    const log = join(s.store.findByName("hooked")!.mountPath, "stopped.log");
    const result = await s.checkpoints.restore("base", "hooked");
    expect(result.status).toBe("running");
    expect(lines(readFileSync(log, "utf8"))).toEqual(["pre-stop"]);
    expect(s.checkpoints.resolve(result.safetyCheckpoint.id).phasesMs).toHaveProperty("unfreeze");
  }, 600_000);
});

describe("the changed paths kept as a tar", () => {
  test("made after the answer, copied in by the restore (the files come back), gone with the checkpoint", async () => {
    await run("quiet", "sudo sh -c 'mkdir -p /opt/kept && echo kept-1 > /opt/kept/a && echo gone > /opt/kept/b'");
    const cp = await s.checkpoints.create("quiet", { name: "kept" });
    await s.checkpoints.settled();
    const file = join(home, "checkpoints", `${cp.id}.changes.tar`);
    expect(existsSync(file)).toBe(true);
    const names = execFileSync("tar", ["-tf", file], { encoding: "utf8" });
    expect(names).toContain("opt/kept/a");
    expect(names).not.toContain("home/");
    await run("quiet", "sudo sh -c 'echo kept-2 > /opt/kept/a && rm /opt/kept/b && echo new > /opt/kept/c'");
    await s.checkpoints.settled();
    await s.checkpoints.restore("kept", "quiet");
    expect(await run("quiet", "cat /opt/kept/a /opt/kept/b; ls /opt/kept")).toBe("kept-1\ngone\na\nb\n");
    await s.checkpoints.delete("kept", "quiet");
    expect(existsSync(file)).toBe(false);
  }, 600_000);
});
