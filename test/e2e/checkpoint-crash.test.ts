// A daemon killed (SIGKILL) at each point of a restore, the automatic checkpoint included, loses
// nothing: after the next daemon's reconcile the workspace is as before the restore or restored
// (then the automatic checkpoint brings back what was there), never a mix; every checkpoint listed
// is whole (record, image, home tar, ref) and nothing of an unlisted one is left (no half record,
// no image, tar, ref, temporary git index, container or volume). The kill points are what the
// engine's events and the files on disk show, so the product carries no failpoints (as crash.test).
// Only the daemon this test starts is killed; only resources of this test's NEXUS_HOME are touched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CHECKPOINT_LABELS } from "../../src/docker/checkpoints.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { docker, removeLeftovers } from "../helpers/docker.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, foregroundDaemon } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("e2e-checkpoint-crash");
const home = join(root.path, "nexus");
// sudo: true, so the workspace user may write /opt as a non-root host user too (no-new-privileges otherwise).
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", ".nexus/workspace.yaml": "sudo: true\n" });
const instance = instanceId(home);
const ckptDir = join(home, "checkpoints");
let daemon: ChildProcess | undefined;
let events: ChildProcess | undefined;

const nexus = nexusRunner({ home, cwd: repo });
function ok(...args: string[]): string {
  const r = nexus(args);
  if (r.code !== 0) throw new Error(`nexus ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const sh = (script: string) => ok("exec", "cut", "--", "sh", "-c", script);
/** The three parts' marks: /opt (container filesystem), ~ (home volume), the worktree. */
const write = (v: string) => sh(`sudo sh -c 'echo ${v} > /opt/v' && echo ${v} > ~/h && cd /workspace && (echo ${v} > w.txt || sudo sh -c 'echo ${v} > w.txt')`);
const state = () => sh("cat /opt/v ~/h /workspace/w.txt 2>&1; true");
const marks = (v: string) => `${v}\n${v}\n${v}\n`;

interface Listed {
  id: string;
  name: string;
  auto: boolean;
  createdAt: string;
  holds: { container: { image: string } | null; worktree: { ref: string } | null };
}
const listed = () => JSON.parse(ok("checkpoint", "list", "cut", "--json")).checkpoints as Listed[];
const journal = () => (existsSync(ckptDir) ? readdirSync(ckptDir).find((f) => /^restore-.+\.json$/.test(f)) : undefined);
function journalPhase(): string | undefined {
  const f = journal();
  try {
    return f ? (JSON.parse(readFileSync(join(ckptDir, f), "utf8")) as { phase: string }).phase : undefined;
  } catch {
    return undefined; // replaced this instant
  }
}

/** The daemon in the foreground, as a process of this test (so it can be killed, and only it). */
async function startDaemon(): Promise<void> {
  daemon = await foregroundDaemon(nexus, home, 300_000);
}

/** Kills the daemon now (synchronously: called from an event handler, the daemon gets no time to go on). */
function killNow(): void {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL");
}

async function daemonGone(): Promise<void> {
  const child = daemon!;
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
}

/**
 * Engine events of this home's containers ("<action> <name>"), each given to `onEvent` as it
 * arrives: a kill from there lands within the engine's answer to the daemon.
 */
let onEvent: (action: string, name: string) => void = () => {};
/** Events before this instant (ns) are not given: the CLI calls run synchronously, so older ones arrive late, all at once. */
let since = 0n;
function watchEvents(): void {
  events = spawn("docker", ["events", "--filter", "type=container", "--filter", `label=${LABELS.instance}=${instance}`, "--format", "{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}"], { stdio: ["ignore", "pipe", "ignore"] });
  let buf = "";
  events.stdout!.on("data", (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [time = "0", action = "", name = ""] = buf.slice(0, nl).split(" ");
      buf = buf.slice(nl + 1);
      if (!/^\d+$/.test(time) || BigInt(time) < since) continue;
      onEvent(action, name);
    }
  });
}

let containerName = "";
let gitDir = "";

beforeAll(async () => {
  requireE2E();
  watchEvents();
  await startDaemon();
  ok("create", "cut");
  containerName = docker("ps", "-a", "--filter", `label=${LABELS.instance}=${instance}`, "--format", "{{.Names}}");
  write("v0");
  ok("checkpoint", "create", "cut", "-n", "base");
  // The worktree is the container's /workspace; its git dir is where temporary indexes would be left.
  const mounts = JSON.parse(docker("inspect", containerName))[0].Mounts as Array<{ Source: string; Destination: string }>;
  gitDir = git(mounts.find((m) => m.Destination === "/workspace")!.Source, "rev-parse", "--absolute-git-dir");
}, 900_000);

afterAll(async () => {
  events?.kill();
  nexus(["destroy", "cut", "--force"]);
  if (daemon && daemon.exitCode === null) {
    const child = daemon;
    child.kill("SIGTERM");
    await until("the daemon exits", () => child.exitCode !== null || child.signalCode !== null, Boolean, 15_000).catch(() => child.kill("SIGKILL"));
  }
  removeLeftovers(home);
  const images = docker("images", "-q", "--filter", `label=${CHECKPOINT_LABELS.instance}=${instance}`).split("\n").filter(Boolean);
  if (images.length) docker("rmi", "-f", ...images);
  await root[Symbol.asyncDispose]();
});

/** Nothing half: what is listed is whole, and nothing of anything else is left. */
async function expectNothingHalf(): Promise<Listed[]> {
  expect(journal()).toBeUndefined();
  const list = listed();
  const ids = new Set(list.map((c) => c.id));
  // Records on disk: one per listed checkpoint, each ready; beside them only their own tars (and the
  // folder of original images' listings, which belong to images, not to checkpoints).
  const files = readdirSync(ckptDir).filter((f) => f !== "image-listings").sort();
  const strays = files.filter((f) => {
    // (A listed checkpoint's kept changes tar may be left half-written, .partial, by a kill during its
    // background write: the store keeps it for that record, and the next write replaces it.)
    const m = /^(ckpt-[0-9a-f]+)\.(json|home\.tar|git-index\.tar|changes\.tar|changes\.tar\.partial)$/.exec(f);
    return !m || !ids.has(m[1]!);
  });
  expect(strays).toEqual([]);
  for (const c of list) {
    expect(JSON.parse(readFileSync(join(ckptDir, `${c.id}.json`), "utf8")).state).toBe("ready");
    expect(existsSync(join(ckptDir, `${c.id}.home.tar`))).toBe(true);
  }
  // Images: those of the listed checkpoints, no other.
  const imageIds = (repoTag: string) => docker("images", "-q", "--no-trunc", repoTag);
  const labelled = () => docker("images", "-q", "--no-trunc", "--filter", `label=${CHECKPOINT_LABELS.instance}=${instance}`).split("\n").filter(Boolean).sort();
  const mine = [...new Set(list.map((c) => imageIds(c.holds.container!.image)))].sort();
  expect(mine).not.toContain("");
  // A commit the killed daemon asked for can end in the engine after the new daemon's reconcile
  // (the ref is written beside it): the daemon sweeps images of no checkpoint again for a while.
  const images = await until("only the listed checkpoints' images", labelled, (v) => v.join() === mine.join(), 120_000).catch(() => labelled());
  expect(images).toEqual(mine);
  // Refs: those of the listed checkpoints, no other; no temporary index left in the worktree's git dir.
  const refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/nexus/checkpoints").split("\n").filter(Boolean).sort();
  expect(refs).toEqual(list.map((c) => c.holds.worktree!.ref).sort());
  expect(readdirSync(gitDir).filter((f) => f.startsWith("nexus-checkpoint-"))).toEqual([]);
  // The workspace's one container (under its own name) and one volume; no reader, no half-made restore container.
  const containers = docker("ps", "-a", "--filter", `label=${LABELS.instance}=${instance}`, "--format", "{{.Names}}").split("\n").filter(Boolean);
  expect(containers).toEqual([containerName]);
  expect(docker("volume", "ls", "-q", "--filter", `label=${LABELS.instance}=${instance}`).split("\n").filter(Boolean)).toHaveLength(1);
  return list;
}

/**
 * A restore of 'base' (marks v0) over marks `v`, the daemon killed at `point`; then a new daemon:
 * the workspace is as before or restored, nothing half; restored, the newest automatic checkpoint
 * brings back `v`. Ends with the workspace holding `v`.
 */
async function killedAt(v: string, point: string, arm: (kill: () => void, over: () => boolean) => void | Promise<void>): Promise<void> {
  write(v);
  expect(state()).toBe(marks(v));
  const before = new Set(listed().map((c) => c.id));
  let phase: string | undefined = "none";
  let killed = false;
  let disarmed = false;
  const kill = () => {
    if (killed || disarmed) return;
    killed = true;
    killNow();
    phase = journalPhase();
  };
  since = BigInt(Date.now()) * 1_000_000n;
  const restore = nexus.spawn(["restore", "cut", "base"], { stdio: "ignore" });
  const restoreCode = new Promise<number | null>((r) => restore.once("exit", (code) => r(code)));
  await arm(kill, () => killed || disarmed);
  await until(`the kill at ${point}, or the restore's end`, () => killed || restore.exitCode !== null, Boolean, { timeoutMs: 600_000, intervalMs: 5 });
  // A point the restore passed without it firing fires no later kill.
  disarmed = true;
  onEvent = () => {};
  killNow();
  await daemonGone();
  const code = await restoreCode;
  // The kill landed inside the restore: it did not answer success.
  expect(killed).toBe(true);
  expect(code).not.toBe(0);

  await startDaemon();
  if ((JSON.parse(ok("status", "cut", "--json")).status as string) !== "running") ok("start", "cut");
  const now = state();
  expect([marks(v), marks("v0")]).toContain(now);
  const list = await expectNothingHalf();
  const autos = list.filter((c) => c.auto && !before.has(c.id));
  console.log(`killed at ${point} (journal phase ${phase ?? "none"}): the workspace came back ${now === marks(v) ? "as before" : "restored"}; automatic checkpoint ${autos.length ? "kept" : "absent"}`);
  if (now === marks("v0")) {
    // Restored: what it replaced is in the automatic checkpoint, which is whole.
    expect(autos).toHaveLength(1);
    ok("restore", "cut", autos[0]!.id);
    expect(state()).toBe(marks(v));
    await expectNothingHalf();
  }
}

/** Arms a kill at the first engine event matching `match`. */
const atEvent = (match: (action: string, name: string) => boolean) => (kill: () => void) => {
  onEvent = (action, name) => {
    if (match(action, name)) kill();
  };
};
const restoreContainer = (name: string) => name.startsWith(`${containerName}-restore-`);

describe("SIGKILL of the daemon during a restore", () => {
  test("while the automatic checkpoint has the workspace frozen", () => killedAt("v1", "freeze", atEvent((a, n) => a === "pause" && n === containerName)), 900_000);

  test("once the automatic checkpoint's image is committed (its record not yet ready)", () => killedAt("v2", "commit", atEvent((a, n) => a === "commit" && n === containerName)), 900_000);

  test("once the automatic checkpoint's ref is written (its record not yet ready)", () =>
    killedAt("v3", "ref", (kill, over) => {
      // Polled: a file appears (update-ref writes a loose ref), no engine event says so.
      const dir = join(repo, ".git", "refs", "nexus", "checkpoints");
      const refs = () => (existsSync(dir) ? readdirSync(dir) : []);
      const known = new Set(refs());
      void until("a new checkpoint ref", () => over() || refs().some((r) => !known.has(r)), Boolean, { timeoutMs: 600_000, intervalMs: 2 }).then(kill, () => {});
    }),
  900_000);

  test("once the old container has stopped", () => killedAt("v4", "stop", atEvent((a, n) => a === "die" && n === containerName)), 900_000);

  test("once the new container is made", () => killedAt("v5", "re-create", atEvent((a, n) => a === "create" && restoreContainer(n))), 900_000);

  test("while the new container is filled (home and rootfs changes going in)", () => killedAt("v6", "fill", atEvent((a, n) => a === "extract-to-dir" && restoreContainer(n))), 900_000);

  test("while the worktree's files go back", () =>
    killedAt("v7", "worktree", (kill, over) => {
      void until("the journal's worktree phase", () => over() || journalPhase() === "worktree", Boolean, { timeoutMs: 600_000, intervalMs: 2 }).then(kill, () => {});
    }), 900_000);

  test("during the swap (the containers renamed)", () => killedAt("v8", "swap", atEvent((a) => a === "rename")), 900_000);
});
