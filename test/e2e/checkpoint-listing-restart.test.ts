// The original image's listing survives a daemon restart (kept under NEXUS_HOME): the first
// checkpoint after the restart takes no `docker diff` while frozen (its record's phases say so), its
// changes listed afterwards are exactly those `docker diff` gave for the same unchanged container,
// `--wait` answers once they are listed, and destroy removes the kept listing with the last user of
// the image. Only the daemon this test starts is ever stopped; the Docker engine is never touched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CheckpointRecord, CheckpointView } from "../../src/core/checkpoints/types.ts";
import { removeCheckpointImages, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, foregroundDaemon } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("e2e-checkpoint-listing");
const home = join(root.path, "nexus");
// sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", ".nexus/workspace.yaml": "sudo: true\n" });
const listings = join(home, "checkpoints", "image-listings");
let daemon: ChildProcess | undefined;

const nexus = nexusRunner({ home, cwd: repo });
function ok(...args: string[]): string {
  const r = nexus(args);
  if (r.code !== 0) throw new Error(`nexus ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const record = (id: string) => JSON.parse(readFileSync(join(home, "checkpoints", `${id}.json`), "utf8")) as CheckpointRecord;
const kept = () => (existsSync(listings) ? readdirSync(listings).filter((f) => f.endsWith(".listing")) : []);

async function startDaemon(): Promise<void> {
  daemon = await foregroundDaemon(nexus, home);
}

async function stopDaemon(): Promise<void> {
  const child = daemon;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await until("the daemon exits", () => child.exitCode !== null || child.signalCode !== null, Boolean, 60_000).catch(() => child.kill("SIGKILL"));
  await gone;
}

beforeAll(async () => {
  requireE2E();
  await startDaemon();
  ok("create", "lst");
}, 900_000);

afterAll(async () => {
  nexus(["destroy", "lst", "--force"]);
  await stopDaemon();
  removeLeftovers(home);
  removeCheckpointImages(home);
  await root[Symbol.asyncDispose]();
});

describe("the original image's listing across a daemon restart", () => {
  test("the first checkpoint after a restart lists its changes after the answer, and they are docker diff's", async () => {
    ok("exec", "lst", "--", "sh", "-c", "sudo sh -c 'echo marker > /opt/marker && rm -rf /usr/share/doc/tmux'");
    // Paused from here on: nothing in the container changes between the two checkpoints.
    ok("pause", "lst");
    const one = JSON.parse(ok("checkpoint", "create", "lst", "-n", "one", "--json")) as CheckpointView;
    // The daemon's first checkpoint of this image: `docker diff` (no listing of the image yet).
    expect(Object.keys(record(one.id).phasesMs!)).toContain("diff");
    expect(one.holds.container!.changesListed).toBe(true);
    const diffed = record(one.id).container!.changes!;
    expect(diffed.copy).toContain("/opt/marker");
    expect(diffed.remove).toContain("/usr/share/doc/tmux");
    // After the answer the original image is listed, and the listing kept on disk.
    await until("the original image's listing is kept", () => kept().length === 1, Boolean, 300_000);

    await stopDaemon();
    await startDaemon();
    expect(kept()).toHaveLength(1);

    const two = JSON.parse(ok("checkpoint", "create", "lst", "-n", "two", "--json")) as CheckpointView;
    // Not `docker diff` while frozen: the kept listing says the image can be listed afterwards.
    expect(Object.keys(record(two.id).phasesMs!)).not.toContain("diff");
    // --wait answers once the changes are listed, whether or not the listing was done already.
    const got = JSON.parse(ok("checkpoint", "get", "lst", "two", "--wait", "--json")) as CheckpointView;
    expect(got.holds.container!.changesListed).toBe(true);
    const listed = record(two.id).container!.changes!;
    const sorted = (c: { copy: string[]; remove: string[] }) => ({ copy: [...c.copy].sort(), remove: [...c.remove].sort() });
    expect(sorted(listed)).toEqual(sorted(diffed));
    expect(got.holds.container!.changedPaths).toBe(diffed.copy.length);
    expect(got.holds.container!.deletedPaths).toBe(diffed.remove.length);
    const all = JSON.parse(ok("checkpoint", "list", "lst", "--wait", "--json")).checkpoints as CheckpointView[];
    expect(all.map((c) => [c.name, c.holds.container!.changesListed])).toEqual([
      ["one", true],
      ["two", true],
    ]);
    // The CLI's table says what a part holds, and no longer "listing".
    expect(ok("checkpoint", "list", "lst")).toContain(`${diffed.copy.length} changed, ${diffed.remove.length} deleted`);
  }, 900_000);

  test("destroy removes the kept listing once no workspace or checkpoint uses the image", async () => {
    ok("destroy", "lst", "--force");
    await until("the kept listing is removed", () => kept().length === 0, Boolean, 120_000);
  }, 600_000);
});
