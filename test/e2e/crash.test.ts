// Crash safety of the compiled binary, black box. The daemon is killed with SIGKILL part way through
// create, stop and destroy; the next command starts a fresh daemon, whose reconcile must leave each
// workspace whole (record + container + worktree) or gone (no record, no labelled container or volume,
// no worktree, no branch it made, its port free again), with nothing orphaned and no worktree edit
// lost. The kill points come from what a user can see (the CLI's progress lines, the record on disk,
// the engine's events), so the product carries no failpoints. The last test restarts a dockerd: a
// private one it starts itself (test/helpers/private-dockerd.ts), never the machine's engine; running
// workspaces come back and the same daemon reaches them again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { WorkspaceRecord, WorkspaceView } from "../../src/core/types.ts";
import { canBind } from "../../src/core/ports.ts";
import { contextHash, DEFAULT_BASE_IMAGE, DockerEngine } from "../../src/docker/engine.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { docker, removeLeftovers } from "../helpers/docker.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { git, makeRepo, tempDir, type TempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { exitWithin, nexusRunner, requireE2E, type NexusRunner, type Run, type Started } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

/**
 * Every home of this run takes its ports from one block of 25, away from where the default range
 * (32800-) hands them out, and picked by pid so that concurrent runs of this file rarely share one:
 * a port freed by a crash must be found free again, not taken by someone else meanwhile.
 */
const PORT_BLOCK = 34000 + 25 * (process.pid % 40);
const PORT_RANGE = { start: PORT_BLOCK, end: PORT_BLOCK + 24 };

// ---- reaping -------------------------------------------------------------------------------------
// A SIGKILLed daemon stays a zombie until its parent reaps it. The CLI that started it has exited,
// so that parent is PID 1, which on some machines (containers, sandboxes) never reaps, and the
// daemon's lock file counts a zombie owner as alive. This process therefore becomes the subreaper
// of what its CLIs start, and reaps each daemon it stops or kills.
const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const libc = (() => {
  try {
    return dlopen("libc.so.6", {
      prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
      waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    });
  } catch {
    return undefined; // not Linux/glibc: the system's init reaps
  }
})();

/** Process state letter from /proc (R, S, Z, ...), or undefined when the process is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** Waits until `pid` is gone for good (reaped when it is our child); false when it outlives `timeoutMs`. */
async function waitGone(pid: number, timeoutMs = 15_000, everyMs = 10): Promise<boolean> {
  const status = new Int32Array(1);
  const gone = () => {
    libc?.symbols.waitpid(pid, status, WNOHANG); // -1 (ECHILD) when not our child: harmless
    return procState(pid) === undefined;
  };
  return await until(`process ${pid} is gone`, gone, Boolean, { timeoutMs, intervalMs: everyMs }).catch(() => false);
}

// ---- a NEXUS_HOME and a repository per test, removed even when the test fails --------------------


interface Labelled {
  containers: Array<{ id: string; workspaceId: string; name: string; state: string }>;
  volumes: Array<{ name: string; workspaceId: string }>;
}

class Lab implements AsyncDisposable {
  readonly home: string;
  readonly repo: string;
  readonly instance: string;
  /** The engine this lab's daemon uses: the machine's, or a private one (DOCKER_HOST). */
  readonly engine: PrivateDockerd | undefined;
  readonly #root: TempDir;
  /** The CLI with this lab's home, repository and engine; bounded, and SIGKILLed past its deadline. */
  readonly #cli: NexusRunner;
  readonly #children = new Set<ChildProcess>();
  readonly #daemons = new Set<number>();

  constructor(tag: string, engine?: PrivateDockerd) {
    this.engine = engine;
    this.#root = tempDir(`crash-${tag}`);
    this.home = join(this.#root.path, "nexus");
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.home, "config.yaml"), `ssh:\n  port_range:\n    start: ${PORT_RANGE.start}\n    end: ${PORT_RANGE.end}\n`);
    this.repo = makeRepo(join(this.#root.path, "repo"));
    this.instance = instanceId(this.home);
    this.#cli = nexusRunner({ home: this.home, cwd: this.repo, env: engine ? engine.env({}) : {}, killSignal: "SIGKILL" });
  }

  /** The docker CLI against this lab's engine. */
  docker(...args: string[]): string {
    return this.engine ? this.engine.docker(...args) : docker(...args);
  }

  /** Runs the CLI to its end (bounded). */
  nexus(args: string[], timeoutMs = 90_000): Run {
    const r = this.#cli(args, { timeoutMs });
    this.#noteDaemon();
    return r;
  }

  /** Starts the CLI in the background; `onLine` sees each stderr line (progress) the moment it comes. */
  spawn(args: string[], onLine?: (line: string) => void): Started {
    const p = this.#cli.start(args, { onLine });
    this.#children.add(p.child);
    return p;
  }

  /** The exit code of a background CLI; it is killed, and the test fails, when it does not end in time. */
  async exitOf(p: Started, timeoutMs = 60_000): Promise<number> {
    const code = await exitWithin(p, timeoutMs, () => `\ndaemon.log:\n${this.logTail()}`);
    this.#noteDaemon();
    return code;
  }

  daemonPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.home, "daemon.pid"), "utf8").trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  #noteDaemon(): void {
    const pid = this.daemonPid();
    if (pid !== undefined) this.#daemons.add(pid);
  }

  /** Starts the daemon now, so the kill needs no lookup at the kill point; returns its pid. */
  startDaemon(): number {
    const r = this.nexus(["daemon", "start"]);
    expect(r.code).toBe(0);
    const pid = this.daemonPid();
    expect(pid).toBeDefined();
    return pid!;
  }

  /**
   * SIGKILL, and waits until the process is gone for good. Reaped within a ms or two: a CLI that
   * restarts the daemon by itself must not find the lock held by a zombie.
   */
  async killDaemon(pid: number): Promise<void> {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already dead
    }
    expect(await waitGone(pid, 15_000, 1)).toBe(true);
  }

  /** The end of daemon.log, for failure messages. */
  logTail(lines = 15): string {
    try {
      return readFileSync(join(this.home, "daemon.log"), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no daemon.log)";
    }
  }

  /** Records as they are on disk (no daemon asked). */
  records(): WorkspaceRecord[] {
    const dir = join(this.home, "workspaces");
    if (!existsSync(dir)) return [];
    const out: WorkspaceRecord[] = [];
    for (const id of readdirSync(dir)) {
      const r = this.record(id);
      if (r) out.push(r);
    }
    return out;
  }

  record(id: string): WorkspaceRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.home, "workspaces", id, "workspace.json"), "utf8")) as WorkspaceRecord;
    } catch {
      return undefined;
    }
  }

  /** `nexus list --json`: starts a daemon when none runs (which reconciles first). */
  list(): WorkspaceView[] {
    const r = this.nexus(["list", "--json"]);
    if (r.code !== 0) throw new Error(`nexus list failed (${r.code}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as { workspaces: WorkspaceView[] }).workspaces;
  }

  /** Containers and volumes of the engine carrying this home's instance label. */
  labelled(): Labelled {
    const label = `label=${LABELS.instance}=${this.instance}`;
    const containers = this.docker("ps", "-a", "--filter", label, "--format", `{{.ID}}\t{{.Label "${LABELS.workspaceId}"}}\t{{.Label "${LABELS.workspaceName}"}}\t{{.State}}`)
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [id = "", workspaceId = "", name = "", state = ""] = l.split("\t");
        return { id, workspaceId, name, state };
      });
    const volumes = this.docker("volume", "ls", "--filter", label, "--format", `{{.Name}}\t{{.Label "${LABELS.workspaceId}"}}`)
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [name = "", workspaceId = ""] = l.split("\t");
        return { name, workspaceId };
      });
    return { containers, volumes };
  }

  /** Worktrees git knows of in the repository (dangling ones included). */
  worktrees(): string[] {
    return git(this.repo, "worktree", "list", "--porcelain")
      .split("\n")
      .filter((l) => l.startsWith("worktree "))
      .map((l) => l.slice("worktree ".length));
  }

  branchExists(branch: string): boolean {
    return spawnSync("git", ["show-ref", "--verify", "-q", `refs/heads/${branch}`], { cwd: this.repo }).status === 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    const pid = this.daemonPid();
    if (pid !== undefined) this.#daemons.add(pid);
    this.#cli(["daemon", "stop"], { timeoutMs: 30_000 });
    for (const p of this.#daemons) {
      if (!(await waitGone(p, 5_000))) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone meanwhile
        }
        await waitGone(p, 5_000);
      }
    }
    try {
      if (!this.engine) removeLeftovers(this.home); // a private engine is thrown away whole
    } catch (err) {
      console.error(`crash.test: could not remove the containers and volumes of ${this.home}: ${(err as Error).message}`);
    }
    await this.#root[Symbol.asyncDispose]();
  }
}

// ---- what "whole or gone" means ------------------------------------------------------------------

/** What the cut operation had made, from its record on disk at the kill. */
interface Made {
  id: string;
  name: string;
  ssh: number;
  worktree: string;
  branch: string;
  branchCreated: boolean;
}

function madeFrom(r: WorkspaceRecord): Made {
  return {
    id: r.id,
    name: r.name,
    ssh: r.ports.ssh,
    worktree: r.worktree!.path,
    branch: r.worktree!.branch,
    branchCreated: r.worktree!.branchCreated,
  };
}

/** Only this home's records own labelled things, and no record is left half-way (pending or destroying). */
function expectNothingOrphaned(lab: Lab, listed: WorkspaceView[]): void {
  const onDisk = lab.records();
  expect(onDisk.filter((r) => r.status === "pending" || r.status === "destroying").map((r) => `${r.name}: ${r.status}`)).toEqual([]);
  expect(listed.map((w) => w.id).sort()).toEqual(onDisk.map((r) => r.id).sort());
  const ids = new Set(onDisk.map((r) => r.id));
  const { containers, volumes } = lab.labelled();
  expect(containers.filter((c) => !ids.has(c.workspaceId))).toEqual([]);
  expect(volumes.filter((v) => !ids.has(v.workspaceId))).toEqual([]);
  // Every worktree git knows of exists on disk: none is left dangling.
  for (const wt of lab.worktrees()) expect(existsSync(wt)).toBe(true);
}

/**
 * After the crash and a restart (done by `lab.list()`): the workspace is whole, or gone with
 * everything it made. Returns which.
 */
async function expectWholeOrGone(lab: Lab, made: Made, opts: { branchKept?: boolean } = {}): Promise<"whole" | "gone"> {
  const listed = lab.list();
  expectNothingOrphaned(lab, listed);
  const { containers, volumes } = lab.labelled();
  const ws = listed.find((w) => w.id === made.id);
  if (ws) {
    expect(["running", "stopped"]).toContain(ws.status);
    const mine = containers.filter((c) => c.workspaceId === made.id);
    expect(mine.map((c) => c.state)).toEqual([ws.status === "running" ? "running" : "exited"]);
    expect(volumes.filter((v) => v.workspaceId === made.id)).toHaveLength(1);
    expect(existsSync(made.worktree)).toBe(true);
    expect(lab.worktrees()).toContain(made.worktree);
    expect(lab.branchExists(made.branch)).toBe(true);
    return "whole";
  }
  expect(listed.find((w) => w.name === made.name)).toBeUndefined();
  expect(containers.filter((c) => c.name === made.name)).toEqual([]);
  expect(existsSync(made.worktree)).toBe(false);
  expect(lab.worktrees()).not.toContain(made.worktree);
  // A create that is undone deletes the branch it made; destroy keeps the branch (by design).
  if (opts.branchKept) expect(lab.branchExists(made.branch)).toBe(true);
  else if (made.branchCreated) expect(lab.branchExists(made.branch)).toBe(false);
  expect(existsSync(join(lab.home, "workspaces", made.id))).toBe(false);
  expect(await canBind(made.ssh)).toBe(true);
  return "gone";
}

function expectExecOk(lab: Lab, name: string): void {
  const r = lab.nexus(["exec", name, "--", "echo", "ok"]);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
}

/** A create after the crash works: same name and the freed port when the workspace is gone, a new name otherwise. */
function expectCreateWorks(lab: Lab, made: Made, outcome: "whole" | "gone"): void {
  const name = outcome === "gone" ? made.name : `${made.name}-next`;
  const r = lab.nexus(["create", name, "--json"]);
  if (r.code !== 0) throw new Error(`create ${name} after the crash failed (${r.code}): ${r.stderr}\ndaemon.log:\n${lab.logTail()}`);
  const ws = JSON.parse(r.stdout) as WorkspaceView;
  const ssh = ws.ports.find((p) => p.name === "ssh")!.hostPort;
  // The restarted daemon hands ports out from the start of the range again: the crashed one's port
  // comes back when it was freed (container gone, no claim left), and is skipped while it is held.
  if (outcome === "gone") expect(ssh).toBe(made.ssh);
  else expect(ssh).not.toBe(made.ssh);
  expectExecOk(lab, name);
}

/** Creates a workspace to the end; returns what it made. */
function createWhole(lab: Lab, name: string): Made {
  const r = lab.nexus(["create", name, "--json"]);
  if (r.code !== 0) throw new Error(`create ${name} failed (${r.code}): ${r.stderr}\ndaemon.log:\n${lab.logTail()}`);
  const id = (JSON.parse(r.stdout) as WorkspaceView).id;
  return madeFrom(lab.record(id)!);
}

function containerOf(lab: Lab, id: string): string {
  const c = lab.labelled().containers.find((x) => x.workspaceId === id);
  if (!c) throw new Error(`no container for ${id}`);
  return c.id;
}

beforeAll(() => {
  requireE2E();
  libc?.symbols.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
});

afterAll(() => {
  libc?.symbols.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
});

// ---- create --------------------------------------------------------------------------------------

/** Runs `nexus create <name>` and SIGKILLs the daemon the moment the CLI prints a line containing `at`. */
async function createKilledAt(lab: Lab, name: string, at: string): Promise<{ made: Made; statusAtKill: string; cliCode: number; atKill: { worktree: boolean; containers: number; volumes: number } }> {
  const pid = lab.startDaemon();
  let killed = false;
  const create = lab.spawn(["create", name], (line) => {
    if (!killed && line.includes(at)) {
      killed = true;
      process.kill(pid, "SIGKILL");
    }
  });
  const cliCode = await lab.exitOf(create);
  expect(killed).toBe(true);
  await lab.killDaemon(pid); // already killed: waits until it is gone for good
  // The record is written before anything else is made: it says what the cut create had made.
  const record = lab.records().find((r) => r.name === name);
  expect(record).toBeDefined();
  const { containers, volumes } = lab.labelled();
  const atKill = { worktree: existsSync(record!.worktree!.path), containers: containers.length, volumes: volumes.length };
  return { made: madeFrom(record!), statusAtKill: record!.status, cliCode, atKill };
}

describe("SIGKILL of the daemon during create", () => {
  // Progress lines of the CLI, in order, and what the create has surely made when each one shows.
  const points = [
    { at: "Creating worktree" }, // the worktree may or may not be there yet
    { at: "Generating SSH host key", worktree: true },
    { at: "Creating container", worktree: true }, // the volume, even the container, may be there
    { at: "Starting container", worktree: true, container: true },
    { at: "is ready", worktree: true, container: true, running: true },
  ];
  for (const [i, point] of points.entries()) {
    const { at } = point;
    test(`at "${at}": the next daemon leaves the workspace whole or gone, and the name, branch and port work again`, async () => {
      await using lab = new Lab(`create-${i}`);
      const { made, statusAtKill, cliCode, atKill } = await createKilledAt(lab, `cut${i}`, at);
      // The kill landed where it was meant to: the restart has something to undo (or to keep).
      if (point.worktree) expect(atKill.worktree).toBe(true);
      if (point.container) expect({ containers: atKill.containers, volumes: atKill.volumes }).toEqual({ containers: 1, volumes: 1 });
      expect(statusAtKill).toBe(point.running ? "running" : "pending");
      // A create the daemon did not finish (record pending, worktree clean) is undone; a finished one is kept.
      const outcome = await expectWholeOrGone(lab, made);
      expect(outcome).toBe(statusAtKill === "pending" ? "gone" : "whole");
      if (statusAtKill === "pending") expect(cliCode).toBe(255); // CONNECTION_LOST, not a hang or a fake success
      if (outcome === "whole") expectExecOk(lab, made.name);
      expectCreateWorks(lab, made, outcome);
      expectNothingOrphaned(lab, lab.list());
    });
  }

  for (const [i, at] of ["Generating SSH host key", "Starting container"].entries()) {
    test(`at "${at}" with an edit in the worktree: the worktree and the edit are kept, and destroy refuses without --force`, async () => {
      await using lab = new Lab(`edit-${i}`);
      const name = `edit${i}`;
      const { made } = await createKilledAt(lab, name, at);
      expect(existsSync(made.worktree)).toBe(true);
      // The user works in the worktree while no daemon runs.
      const file = join(made.worktree, "notes.txt");
      writeFileSync(file, "work in progress\n");

      const listed = lab.list(); // restarts the daemon: reconcile
      const ws = listed.find((w) => w.name === name);
      expect(ws?.status).toBe("error");
      expect(lab.record(made.id)?.error?.message).toContain("worktree holds changes");
      expect(readFileSync(file, "utf8")).toBe("work in progress\n");
      expect(lab.worktrees()).toContain(made.worktree);
      expect(lab.branchExists(made.branch)).toBe(true);
      expectNothingOrphaned(lab, listed);

      const refused = lab.nexus(["destroy", name]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("INVALID_STATE");
      expect(refused.stderr).toContain("uncommitted");
      expect(readFileSync(file, "utf8")).toBe("work in progress\n");
      expect(lab.list().find((w) => w.name === name)?.status).toBe("error");

      expect(lab.nexus(["destroy", name, "--force"]).code).toBe(0);
      expect(existsSync(made.worktree)).toBe(false);
      expect(lab.list()).toEqual([]);
      expect(lab.labelled()).toEqual({ containers: [], volumes: [] });
      expect(lab.branchExists(made.branch)).toBe(true); // destroy keeps the branch, by design
    });

    test(`at "${at}" with an edit in the worktree: 'nexus start' (the suggested retry) finishes the workspace around the edit`, async () => {
      await using lab = new Lab(`retry-${i}`);
      const name = `retry${i}`;
      const { made } = await createKilledAt(lab, name, at);
      writeFileSync(join(made.worktree, "notes.txt"), "work in progress\n");
      expect(lab.list().find((w) => w.name === name)?.status).toBe("error"); // restarts the daemon: reconcile
      // What the user is told to do with a workspace in error:
      expect(lab.nexus(["exec", name, "--", "true"]).stderr).toContain(`'nexus start ${name}' tries again`);

      const started = lab.nexus(["start", name]);
      // stderr carries start's progress lines, and nothing else.
      expect({ code: started.code, errors: started.stderr.split("\n").filter((l) => l && !/^\[\d+\.\ds\] /.test(l)) }).toEqual({ code: 0, errors: [] });
      expect(lab.list().find((w) => w.name === name)?.status).toBe("running");
      const cat = lab.nexus(["exec", name, "--", "cat", "notes.txt"]);
      expect({ code: cat.code, stdout: cat.stdout }).toEqual({ code: 0, stdout: "work in progress\n" });
      // Whatever start had to make carries the labels, so reconcile and cleanup still find it.
      const record = lab.record(made.id)!;
      expect(lab.labelled().volumes.map((v) => v.name)).toContain(record.homeVolume);
      expect(await expectWholeOrGone(lab, made)).toBe("whole");
    });
  }
});

// ---- destroy -------------------------------------------------------------------------------------

describe("SIGKILL of the daemon during destroy", () => {
  test("the next daemon finishes the destroy: nothing of the workspace is left, and its name and port work again", async () => {
    await using lab = new Lab("destroy");
    const made = createWhole(lab, "doomed");
    // A home volume with many files makes the removal take a few hundred ms: a wide window to cut.
    const fill = lab.nexus(["exec", "doomed", "--", "sh", "-c", "mkdir -p ~/many && cd ~/many && seq 1 20000 | xargs touch"]);
    expect(fill.code).toBe(0);
    const pid = lab.daemonPid()!;

    const destroy = lab.spawn(["destroy", "doomed", "--force"]);
    // The kill point: the record says "destroying" (written before anything is removed).
    // Probed every ms: the kill must land while the removal is under way.
    let statusAtKill: string | undefined;
    await until(
      "the record says destroying, or is gone",
      () => {
        const status = lab.record(made.id)?.status;
        if (status !== "destroying" && status !== undefined) return false;
        if (status === "destroying") process.kill(pid, "SIGKILL");
        statusAtKill = status;
        return true;
      },
      Boolean,
      { timeoutMs: 20_000, intervalMs: 1 },
    ).catch(() => undefined); // statusAtKill stays unset: the expectation below names what was seen
    await lab.killDaemon(pid);
    expect(statusAtKill).toBe("destroying");
    expect(lab.record(made.id)?.status).toBe("destroying"); // cut part way: the record is still there

    // The destroy command itself starts a new daemon (whose reconcile finishes the destroy) and asks
    // again (a DELETE is idempotent); the one sent again finds the workspace gone, which is what it asked for.
    const code = await lab.exitOf(destroy);
    expect({ code, stderr: code === 0 ? "" : destroy.out.stderr }).toEqual({ code: 0, stderr: "" });
    expect(lab.daemonPid()).not.toBe(pid);
    expect(await expectWholeOrGone(lab, made, { branchKept: true })).toBe("gone");
    expect(lab.labelled()).toEqual({ containers: [], volumes: [] });
    expectCreateWorks(lab, made, "gone");
  });
});

// ---- stop ----------------------------------------------------------------------------------------

/**
 * A running workspace whose container ignores SIGTERM: its sshd (PID 1's child) is frozen with
 * SIGSTOP, so `docker stop -t 5` waits the full 5 s before SIGKILL: a wide window to cut the stop.
 * Frozen as root through the engine: the workspace user has no sudo for a non-root host user (the
 * project's `sudo: true` is what lifts no-new-privileges), and the test needs none of the workspace's.
 */
function stubbornWorkspace(lab: Lab, name: string): { made: Made; container: string } {
  const made = createWhole(lab, name);
  const container = containerOf(lab, made.id);
  lab.docker("exec", "-u", "0", container, "pkill", "-STOP", "-o", "-x", "sshd");
  return { made, container };
}

/** Resolves when the engine sends `container` its first SIGTERM from now on (docker stop started). */
function sigtermSent(lab: Lab, container: string): { seen: Promise<boolean>; close: () => void } {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const events = spawn("docker", ["events", "--since", since, "--filter", `container=${container}`, "--filter", "event=kill", "--format", '{{index .Actor.Attributes "signal"}}'], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const seen = new Promise<boolean>((resolve) => {
    let buf = "";
    events.stdout!.on("data", (b: Buffer) => {
      buf += b.toString("utf8");
      if (/^15$/m.test(buf)) resolve(true);
    });
    events.on("exit", () => resolve(false));
    setTimeout(() => resolve(false), 30_000).unref();
  });
  return { seen, close: () => void events.kill("SIGKILL") };
}

function containerRunning(lab: Lab, container: string): boolean {
  return lab.docker("inspect", "--format", "{{.State.Running}}", container) === "true";
}

/** A stop test waits out the engine's 5 s stop timeout (once or twice) besides a create and a start: far beyond bun's 5 s default. */
const STOP_TEST_TIMEOUT_MS = 90_000;

describe("SIGKILL of the daemon during stop", () => {
  test("the stop command starts a new daemon and finishes: the workspace ends stopped, and starts again", async () => {
    await using lab = new Lab("stop");
    const { made, container } = stubbornWorkspace(lab, "halt");
    const pid = lab.daemonPid()!;
    const term = sigtermSent(lab, container);
    try {
      const stop = lab.spawn(["stop", "halt", "--timeout", "5"]);
      expect(await term.seen).toBe(true);
      process.kill(pid, "SIGKILL"); // the daemon waits on `docker stop` now
      await lab.killDaemon(pid);
      expect(lab.record(made.id)?.status).toBe("running"); // the stop was cut before it was recorded

      const code = await lab.exitOf(stop);
      expect({ code, stderr: code === 0 ? "" : stop.out.stderr }).toEqual({ code: 0, stderr: "" });
      expect(lab.daemonPid()).not.toBe(pid);
      expect(await expectWholeOrGone(lab, made)).toBe("whole");
      expect(lab.list().find((w) => w.id === made.id)?.status).toBe("stopped");
      expect(containerRunning(lab, container)).toBe(false);

      expect(lab.nexus(["start", "halt"]).code).toBe(0);
      expectExecOk(lab, "halt");
      expectCreateWorks(lab, made, "whole");
    } finally {
      term.close();
    }
  }, STOP_TEST_TIMEOUT_MS);

  test("with the stop command killed too: once the engine finishes the stop, the record says stopped and start works", async () => {
    await using lab = new Lab("stop-both");
    const { made, container } = stubbornWorkspace(lab, "halt");
    const pid = lab.daemonPid()!;
    const term = sigtermSent(lab, container);
    try {
      const stop = lab.spawn(["stop", "halt", "--timeout", "5"]);
      expect(await term.seen).toBe(true);
      process.kill(pid, "SIGKILL");
      stop.child.kill("SIGKILL"); // the terminal went away with it
      await lab.killDaemon(pid);
      await lab.exitOf(stop);

      // The next command restarts the daemon while the engine still waits out the stop's 5 s.
      expect(await expectWholeOrGone(lab, made)).toBe("whole");
      // The engine finishes the stop it was asked for before the crash...
      await until("the engine finishes the stop", () => !containerRunning(lab, container), Boolean, { timeoutMs: 20_000 });
      // ... and the daemon's record follows the container (the CLI must not show "running" for a stopped container).
      const status = await until("the record says stopped", () => lab.list().find((w) => w.id === made.id)?.status, (st) => st === "stopped", { timeoutMs: 10_000, intervalMs: 250 }).catch(() => lab.list().find((w) => w.id === made.id)?.status);
      expect({ record: status, container: "exited" }).toEqual({ record: "stopped", container: "exited" });
      expect(await expectWholeOrGone(lab, made)).toBe("whole");

      expect(lab.nexus(["start", "halt"]).code).toBe(0);
      expectExecOk(lab, "halt");
    } finally {
      term.close();
    }
  }, STOP_TEST_TIMEOUT_MS);
});

// ---- dockerd restart -----------------------------------------------------------------------------

/**
 * The workspace image of this build, made on the machine's engine when missing (as `nexus create`
 * would): the private engine's containers reach no registry or mirror, so it gets the image copied in.
 */
async function workspaceImage(): Promise<string> {
  const tag = `nexus-workspace:${contextHash(DEFAULT_BASE_IMAGE)}`;
  if (spawnSync("docker", ["image", "inspect", tag], { stdio: "ignore" }).status === 0) return tag;
  return await new DockerEngine({ env: process.env }).ensureWorkspaceImage(DEFAULT_BASE_IMAGE, () => {});
}

const noPrivateEngine = privateDockerdUnavailable();
if (noPrivateEngine) console.warn(`crash.test: skipping "restarting dockerd": ${noPrivateEngine}`);

describe("restarting dockerd", () => {
  test.skipIf(noPrivateEngine !== undefined)(
    "running workspaces come back, and the same daemon reaches them again by itself (a private dockerd)",
    async () => {
      await using engine = await PrivateDockerd.start({ images: [DEFAULT_BASE_IMAGE, await workspaceImage()] });
      await using lab = new Lab("dockerd", engine);
      const made = createWhole(lab, "survivor");
      const container = containerOf(lab, made.id);
      expectExecOk(lab, "survivor");
      // A stopped workspace stays stopped (restart policy unless-stopped).
      const sleeper = createWhole(lab, "sleeper");
      expect(lab.nexus(["stop", "sleeper", "--timeout", "5"]).code).toBe(0);
      const pid = lab.daemonPid()!;

      await engine.stopEngine();
      expect(engine.answers()).toBe(false);
      await engine.startEngine();
      // Restart policy unless-stopped: the engine starts the container again.
      await until("the workspace's container runs again", () => {
        try {
          return containerRunning(lab, container);
        } catch {
          return false;
        }
      }, Boolean, { timeoutMs: 60_000, intervalMs: 250 });

      // sshd takes a moment after the container starts: a few tries, bounded, then it must answer.
      const exec = () => lab.nexus(["exec", "survivor", "--", "echo", "ok"]);
      const last = await until("exec answers again", exec, (r) => r.code === 0, { timeoutMs: 20_000, intervalMs: 500 }).catch(exec);
      expect({ code: last.code, stdout: last.stdout, stderr: last.stderr }).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
      // The same daemon: it was not restarted, it reconnected.
      expect(lab.daemonPid()).toBe(pid);
      expect(["R", "S", "D"]).toContain(procState(pid) ?? "gone");
      expect(lab.nexus(["exec", "survivor", "--", "echo", "ok"]).stdout).toBe("ok\n");
      expect(lab.list().find((w) => w.id === made.id)?.status).toBe("running");
      expect(containerRunning(lab, containerOf(lab, sleeper.id))).toBe(false);
      expect(lab.list().find((w) => w.id === sleeper.id)?.status).toBe("stopped");
      expectNothingOrphaned(lab, lab.list());
      // The same daemon drives the engine again too: start, and a new create.
      expect(lab.nexus(["start", "sleeper"]).code).toBe(0);
      expectExecOk(lab, "sleeper");
      expectCreateWorks(lab, made, "whole");
    },
    // The workspace image may have to be built first (minutes on a loaded machine).
    600_000,
  );
});
