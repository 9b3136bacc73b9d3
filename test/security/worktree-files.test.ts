// Finding 5: the daemon must not follow links or open special files that a workspace made in its
// worktree or git dir. Each attack is done from inside a real workspace (or, for the host's git dir,
// as a hostile repository would ship it), then the daemon is made to read the file.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRepo } from "../helpers/fixtures.ts";
import { harness, rejection, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;
let repo = "";
let secret = "";
const SECRET = "host-secret-key: do-not-echo-4711";

beforeAll(async () => {
  h = await harness("sec-files");
  secret = join(h.root.path, "host-secret.yaml");
  writeFileSync(secret, `${SECRET}\n`);
  repo = makeRepo(join(h.root.path, "repo"), { "README.md": "# r\n", ".nexus/workspace.yaml": "env: { A: b }\n" });
  await h.s.workspaces.create({ name: "sec-files", path: repo });
}, 600_000);

// Each attack starts from a plain .nexus folder (the one before may have failed half way).
beforeEach(() => {
  h.rootSh("sec-files", "rm -rf /workspace/.nexus; mkdir -p /workspace/.nexus");
});

afterAll(async () => {
  await h?.close();
});

describe("files a workspace leaves for the daemon", () => {
  test("a symlink at .nexus/workspace.yaml to a host file is refused, and the file's contents are not echoed", async () => {
    const r = h.rootSh("sec-files", `ln -sfn ${secret} /workspace/.nexus/workspace.yaml`);
    expect(r.exitCode).toBe(0);
    const err = await rejection(h.s.workspaces.listServices("sec-files"), "PERMISSION_DENIED");
    expect(err.message).toContain("symlink");
    expect(JSON.stringify(err.toJSON())).not.toContain("do-not-echo");
  }, 120_000);

  test("a symlinked .nexus folder leading out of the worktree is refused", async () => {
    const r = h.rootSh("sec-files", `rm -rf /workspace/.nexus && ln -sfn ${h.root.path} /workspace/.nexus`);
    expect(r.exitCode).toBe(0);
    // host-secret.yaml is no project file; put one there that a read would find.
    writeFileSync(join(h.root.path, "workspace.yaml"), `${SECRET}\n`);
    const err = await rejection(h.s.workspaces.listServices("sec-files"), "PERMISSION_DENIED");
    expect(err.message).toContain("leads out");
    expect(JSON.stringify(err.toJSON())).not.toContain("do-not-echo");
    h.rootSh("sec-files", "rm -f /workspace/.nexus && mkdir -p /workspace/.nexus");
  }, 120_000);

  test("a FIFO at .nexus/workspace.yaml does not freeze the daemon: the read is refused at once", async () => {
    const r = h.rootSh("sec-files", "rm -f /workspace/.nexus/workspace.yaml && mkfifo /workspace/.nexus/workspace.yaml");
    expect(r.exitCode).toBe(0);
    const started = Date.now();
    const err = await rejection(h.s.workspaces.listServices("sec-files"), "INVALID_ARGUMENT");
    expect(err.message).toContain("not a regular file");
    // The event loop kept turning: a timer set now fires (a blocked readFileSync would hang here forever).
    await new Promise((r) => setTimeout(r, 10));
    expect(Date.now() - started).toBeLessThan(60_000);
    h.rootSh("sec-files", "rm -f /workspace/.nexus/workspace.yaml");
  }, 120_000);

  test("a FIFO or symlink at .nexus/lifecycle.json is refused too", async () => {
    h.rootSh("sec-files", `mkfifo /workspace/.nexus/lifecycle.json`);
    await rejection(h.s.workspaces.listServices("sec-files"), "INVALID_ARGUMENT");
    h.rootSh("sec-files", `rm -f /workspace/.nexus/lifecycle.json && ln -s ${secret} /workspace/.nexus/lifecycle.json`);
    const err = await rejection(h.s.workspaces.listServices("sec-files"), "PERMISSION_DENIED");
    expect(JSON.stringify(err.toJSON())).not.toContain("do-not-echo");
    h.rootSh("sec-files", "rm -f /workspace/.nexus/lifecycle.json");
  }, 120_000);

  test("an oversized workspace.yaml is refused, not read into memory", async () => {
    const r = h.rootSh("sec-files", "truncate -s 3000000 /workspace/.nexus/workspace.yaml");
    expect(r.exitCode).toBe(0);
    const err = await rejection(h.s.workspaces.listServices("sec-files"), "INVALID_ARGUMENT");
    expect(err.message).toContain("larger than");
    h.rootSh("sec-files", "rm -f /workspace/.nexus/workspace.yaml");
  }, 120_000);

  test("a symlinked .git/info/exclude is never appended to: the host file it names stays as it was", async () => {
    const victim = join(h.root.path, "victim.txt");
    writeFileSync(victim, "untouched\n");
    const exclude = join(repo, ".git", "info", "exclude");
    rmSync(exclude, { force: true });
    symlinkSync(victim, exclude);
    const err = await rejection(h.s.workspaces.create({ name: "sec-files-2", path: repo }), "PERMISSION_DENIED");
    expect(err.message).toContain("symlink");
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    rmSync(exclude);
  }, 120_000);
});
