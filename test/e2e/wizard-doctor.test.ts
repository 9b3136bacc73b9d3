// The compiled binary against the real engine: the create wizard on a terminal (tmux) makes a real
// workspace under its spinner, and doctor finds the engine and the daemon of this build.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { leftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { exitStatusIn, until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-wizard");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const session = `nexus-e2e-wizard-${process.pid}`;

const nexus = nexusRunner({ home, cwd: repo });
const tmux = (...args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-J", "-t", session).stdout;

function waitFor(text: string | RegExp, ms = 60_000): Promise<string> {
  return until(`'${text}' appears on the screen`, screen, (s) => (typeof text === "string" ? s.includes(text) : text.test(s)), { timeoutMs: ms, intervalMs: 50 });
}

beforeAll(() => {
  requireE2E();
});

afterAll(async () => {
  tmux("kill-session", "-t", session);
  await tearDown(nexus, root, ["wiz"]);
});

describe("create wizard, for real", () => {
  test("answers on a terminal make a running workspace", async () => {
    const exitFile = join(root.path, "exit");
    const cmd = `${nexus.line(["create"])}; echo $? > ${exitFile}; sleep 60`;
    expect(tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "60", "-c", repo, cmd).status).toBe(0);
    await waitFor("Workspace name");
    tmux("send-keys", "-t", session, "wiz", "Enter");
    for (const q of ["This repository", "Backend", "Branch of the worktree", "Base branch", "Resources", "Container ports", "Base image"]) {
      await waitFor(q);
      tmux("send-keys", "-t", session, "Enter");
    }
    await waitFor("Create it?");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor(/Created workspace wiz|Create failed/, 300_000);
    const status = await exitStatusIn(exitFile);
    const done = screen();
    expect(done).toContain("Created workspace wiz");
    // The summary comes after the spinner's last line, not over it.
    expect(done.indexOf("Created workspace wiz")).toBeGreaterThan(done.lastIndexOf("Created\n"));
    expect(status).toBe(0);
    const ws = JSON.parse(nexus(["status", "wiz", "--json"]).stdout);
    expect(ws).toMatchObject({ name: "wiz", status: "running", branch: "nexus/wiz" });
    expect(leftovers(home).containers.length).toBe(1);
  }, 300_000);

  test("a name already taken is refused at the name question, and Enter does not go on", async () => {
    const again = `${session}-taken`;
    const cmd = `${nexus.line(["create"])}; sleep 60`;
    expect(tmux("new-session", "-d", "-s", again, "-x", "140", "-y", "40", "-c", repo, cmd).status).toBe(0);
    const shown = (): string => tmux("capture-pane", "-p", "-J", "-t", again).stdout;
    try {
      const appears = (text: string) => until(`'${text}' appears on the screen`, shown, (s) => s.includes(text), { intervalMs: 50 });
      await appears("Workspace name");
      tmux("send-keys", "-t", again, "wiz");
      expect(await appears("already exists")).toContain("✗ A workspace named 'wiz' already exists");
      // Keys are read in order: once the edit after Enter shows at the name question, Enter was
      // read there and refused (had it gone on, the edit would have landed in the next question).
      tmux("send-keys", "-t", again, "Enter");
      tmux("send-keys", "-t", again, "BSpace", "2");
      expect(await appears("✓ a valid name")).toContain("✓ a valid name");
      expect(shown()).not.toContain("Repository"); // still at the name question
      tmux("send-keys", "-t", again, "C-c");
    } finally {
      tmux("kill-session", "-t", again);
    }
    expect(leftovers(home).containers.length).toBe(1); // nothing more was made
  }, 120_000);
});

describe("doctor, for real", () => {
  test("finds the engine, the image and this build's daemon; exits 0", () => {
    const r = nexus(["doctor", "--json"]);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; message: string }> };
    const c = Object.fromEntries(out.checks.map((x) => [x.name, x]));
    expect(c.docker!.status).toBe("ok");
    expect(c.docker!.message).toMatch(/^engine \d+\./);
    expect(c.image!.status).toBe("ok");
    expect(c.daemon!.status).toBe("ok");
    expect(c.daemon!.message).toContain("same version");
    expect(c.home!.message).toContain("mode 0700");
    expect(c.socket!.message).toContain("mode 0600");
    expect(out.ok).toBe(true);
    expect(r.code).toBe(0);
  });
});
