// `nexus create` with no name on a terminal asks (tmux gives it one); Ctrl-C cancels with nothing
// made; without a terminal the clear usage error stays. No daemon is reached: DOCKER_HOST is bogus
// and every path here ends before the create request.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { nameProblem } from "../../src/cli/wizard.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { exitStatusIn, until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const session = `nexus-wizard-${process.pid}`;

const tmux = (...args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-t", session).stdout;

function waitFor(text: string, ms = 60_000): Promise<string> {
  return until(`'${text}' appears on the screen`, screen, (s) => s.includes(text), { timeoutMs: ms, intervalMs: 50 });
}

afterEach(() => void tmux("kill-session", "-t", session));

describe("create wizard", () => {
  test("names are checked with the workspace name rules", () => {
    expect(nameProblem("feature-auth")).toBeUndefined();
    expect(nameProblem("")).toBe("A name is needed");
    expect(nameProblem("Bad")).toBe("Lowercase only");
    expect(nameProblem("-x")).toBe("Start with a letter or digit");
    expect(nameProblem("a_b")).toBe("Only lowercase letters, digits and '-'");
    expect(nameProblem("a".repeat(64))).toBe("At most 63 characters");
  });

  test("asks on a terminal, checks the name as it is typed, refuses a bad one, and Ctrl-C cancels with nothing made", async () => {
    await using dir = tempDir("wizard");
    const repo = makeRepo(join(dir.path, "repo"));
    const home = join(dir.path, "nx");
    const exitFile = join(dir.path, "exit");
    const cmd = `env HOME=${dir.path} NEXUS_HOME=${home} DOCKER_HOST=unix:///nonexistent/x.sock NO_COLOR=1 ${BUN} ${join(ROOT, "src/main.ts")} create; echo $? > ${exitFile}; sleep 30`;
    expect(tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", repo, cmd).status).toBe(0);
    await waitFor("Workspace name");
    tmux("send-keys", "-t", session, "Bad");
    await waitFor("✗ Lowercase only"); // before Enter: checked as typed
    tmux("send-keys", "-t", session, "Enter");
    // Enter takes only a valid name: the keys after it still reach the name question (tmux hands
    // them over in order), so the name turns valid there and the next question has not come.
    tmux("send-keys", "-t", session, "C-u", "my-ws");
    expect(await waitFor("✓ a valid name")).not.toContain("This repository");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor("This repository");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor("Backend");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor("Branch of the worktree");
    tmux("send-keys", "-t", session, "C-c");
    await waitFor("Cancelled; nothing was created");
    expect(await exitStatusIn(exitFile)).toBe(130);
    expect(existsSync(join(home, "daemon.sock"))).toBe(false);
    expect(existsSync(join(home, "workspaces"))).toBe(false);
    expect(existsSync(join(repo, ".worktree"))).toBe(false);
  });

  test("goes through every question to a summary; no at the summary makes nothing", async () => {
    await using dir = tempDir("wizard");
    const repo = makeRepo(join(dir.path, "repo"));
    const home = join(dir.path, "nx");
    const cmd = `env HOME=${dir.path} NEXUS_HOME=${home} DOCKER_HOST=unix:///nonexistent/x.sock NO_COLOR=1 ${BUN} ${join(ROOT, "src/main.ts")} create; sleep 30`;
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "50", "-c", repo, cmd);
    await waitFor("Workspace name");
    tmux("send-keys", "-t", session, "review-7", "Enter");
    await waitFor("This repository");
    tmux("send-keys", "-t", session, "Enter");
    const backend = await waitFor("Backend");
    expect(backend).toContain("not available in this version"); // sprite is listed, and cannot be picked
    tmux("send-keys", "-t", session, "Down", "Enter"); // skips the disabled sprite: stays docker
    await waitFor("Branch of the worktree");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor("Base branch");
    tmux("send-keys", "-t", session, "Enter");
    await waitFor("Resources");
    tmux("send-keys", "-t", session, "Down", "Enter");
    await waitFor("Container ports");
    tmux("send-keys", "-t", session, "3000, 99999", "Enter");
    await waitFor("'99999' is not a port");
    tmux("send-keys", "-t", session, "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "Enter");
    await waitFor("Base image");
    tmux("send-keys", "-t", session, "Enter");
    const s = await waitFor("Create it?");
    expect(s).toMatch(/name\s+review-7/);
    expect(s).toMatch(/backend\s+docker/);
    expect(s).toMatch(/branch\s+nexus\/review-7 \(from main\)/);
    expect(s).toMatch(/resources\s+large/);
    expect(s).toMatch(/ports\s+3000\b/);
    tmux("send-keys", "-t", session, "Right", "Enter"); // No
    await waitFor("Cancelled; nothing was created");
    expect(existsSync(join(home, "daemon.sock"))).toBe(false);
    expect(existsSync(join(repo, ".worktree"))).toBe(false);
  });

  test("without a terminal and without a name: the usage error", () => {
    const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), "create"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("A workspace name is needed");
  });
});
