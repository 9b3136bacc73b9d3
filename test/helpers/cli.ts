// How the e2e tests run the CLI: NEXUS_BIN (dist/nexus, or with NEXUS_E2E_RUNTIME=deno the source
// under Deno) with the test's NEXUS_HOME and NO_COLOR, in the test's repository, its output as text.
// One runner for every e2e file, so the program, the environment and the deadline of a run are the
// same everywhere: to its end (the runner itself), as bytes, in the background, bounded in the
// background, or or as a shell line for a real terminal (tmux, script).
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { shellLine } from "../../src/ssh/quote.ts";
import { NEXUS_BIN } from "./bin.ts";
import { engineAnswers, removeLeftovers } from "./docker.ts";
import { until } from "./wait.ts";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A run whose standard output is bytes (tar streams, binary files). */
export interface BytesRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** NEXUS_HOME of this call, in place of the runner's. */
  home?: string;
  /** Laid over the runner's environment (a variable set to undefined is left out). */
  env?: Record<string, string | undefined>;
  /** Ten minutes unless given: a create may build the workspace image first on a loaded machine. */
  timeoutMs?: number;
  /** The signal a run past its deadline gets (SIGTERM unless given; SIGKILL for a CLI that may hang in its handler). */
  killSignal?: NodeJS.Signals;
  input?: string | Uint8Array;
  /** "ignore": stdin is /dev/null rather than an empty pipe. */
  stdin?: "ignore" | "pipe";
  /** Another program (and its first arguments) in place of NEXUS_BIN. */
  bin?: string[];
}

export interface SpawnOptions extends Omit<RunOptions, "input" | "stdin" | "timeoutMs" | "killSignal"> {
  /** stdin, stdout and stderr of the child: pipes unless given. */
  stdio?: StdioOptions;
}

/** A CLI started in the background: the child, and its output so far. */
export interface Started {
  child: ChildProcess;
  args: string[];
  out: { stdout: string; stderr: string };
  /** The exit code (128 when a signal ended it). */
  exit: Promise<number>;
}

export interface NexusRunner {
  /** The NEXUS_HOME of its calls. */
  readonly home: string;
  /** Runs `nexus args` to its end (bounded by timeoutMs), its output as text. */
  (args: string[], opts?: RunOptions): Run;
  /** The same, its standard output as bytes. */
  bytes(args: string[], opts?: RunOptions): BytesRun;
  /** Starts `nexus args` in the background with the runner's program, environment and folder. */
  spawn(args: string[], opts?: SpawnOptions): ChildProcess;
  /**
   * Starts `nexus args` in the background, collecting its output; `onLine` sees each stderr line
   * (progress) the moment it comes, `feed` gets its stdin (otherwise stdin is /dev/null).
   */
  start(args: string[], opts?: SpawnOptions & { onLine?: (line: string) => void; feed?: (stdin: NodeJS.WritableStream) => void }): Started;
  /** Runs `nexus args` in the background to its end; rejects (the child SIGKILLed) after `ms`: a hang is the bug. */
  within(args: string[], ms: number, opts?: SpawnOptions & { feed?: (stdin: NodeJS.WritableStream) => void }): Promise<Run>;
  /** A POSIX shell line running `nexus args` as the runner does (for tmux or script(1)): `env NEXUS_HOME=… NO_COLOR=1 nexus …`. */
  line(args: string[], opts?: Pick<RunOptions, "home" | "bin">): string;
  /** The environment a call with these options runs with. */
  env(opts?: Pick<RunOptions, "home" | "env">): Record<string, string | undefined>;
}

/** The exit code of a started CLI; it is SIGKILLed and the wait fails when it does not end within `ms`. */
export async function exitWithin(p: Started, ms: number, detail: () => string = () => ""): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  const code = await Promise.race([p.exit, late]);
  clearTimeout(timer);
  if (code === undefined) {
    p.child.kill("SIGKILL");
    throw new Error(`'nexus ${p.args.join(" ")}' did not end within ${ms} ms; stdout so far: ${p.out.stdout}\nstderr so far:\n${p.out.stderr}${detail()}`);
  }
  return code;
}

/** A runner of `nexus` whose every call gets `defaults` (each call's options laid over them). */
export function nexusRunner(defaults: RunOptions & { home: string }): NexusRunner {
  const envOf = (opts: Pick<RunOptions, "home" | "env"> = {}) => ({
    ...process.env,
    NEXUS_HOME: opts.home ?? defaults.home,
    NO_COLOR: "1",
    ...defaults.env,
    ...opts.env,
  });
  const program = (opts: Pick<RunOptions, "bin">, args: string[]) => {
    const [cmd, ...pre] = opts.bin ?? defaults.bin ?? [NEXUS_BIN];
    return { cmd: cmd!, argv: [...pre, ...args] };
  };
  const runSync = (args: string[], opts: RunOptions, encoding: "utf8" | "buffer") => {
    const { cmd, argv } = program(opts, args);
    const input = opts.input ?? defaults.input;
    const stdin = opts.stdin ?? defaults.stdin;
    return spawnSync(cmd, argv, {
      cwd: opts.cwd ?? defaults.cwd,
      env: envOf(opts),
      encoding,
      timeout: opts.timeoutMs ?? defaults.timeoutMs ?? 600_000,
      killSignal: opts.killSignal ?? defaults.killSignal ?? "SIGTERM",
      ...(input !== undefined ? { input } : {}),
      ...(stdin === "ignore" ? { stdio: ["ignore", "pipe", "pipe"] as const } : {}),
    });
  };
  const spawnOne = (args: string[], opts: SpawnOptions = {}): ChildProcess => {
    const { cmd, argv } = program(opts, args);
    return spawn(cmd, argv, { cwd: opts.cwd ?? defaults.cwd, env: envOf(opts), stdio: opts.stdio ?? "pipe" });
  };
  const start: NexusRunner["start"] = (args, opts = {}) => {
    const child = spawnOne(args, { ...opts, stdio: opts.stdio ?? [opts.feed ? "pipe" : "ignore", "pipe", "pipe"] });
    const out = { stdout: "", stderr: "" };
    let partial = "";
    child.stdout?.on("data", (b: Buffer) => (out.stdout += b.toString("utf8")));
    child.stderr?.on("data", (b: Buffer) => {
      const text = b.toString("utf8");
      out.stderr += text;
      partial += text;
      for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        opts.onLine?.(line);
      }
    });
    const exit = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
    if (opts.feed && child.stdin) opts.feed(child.stdin);
    return { child, args, out, exit };
  };

  const run = ((args: string[], opts: RunOptions = {}): Run => {
    const r = runSync(args, opts, "utf8");
    return { code: r.status ?? -1, stdout: (r.stdout as string | null) ?? "", stderr: (r.stderr as string | null) ?? "" };
  }) as NexusRunner;
  run.bytes = (args, opts = {}) => {
    const r = runSync(args, opts, "buffer");
    return { code: r.status ?? -1, stdout: (r.stdout as Buffer | null) ?? Buffer.alloc(0), stderr: ((r.stderr as Buffer | null) ?? "").toString() };
  };
  run.spawn = spawnOne;
  run.start = start;
  run.within = async (args, ms, opts = {}) => {
    const p = start(args, opts);
    const code = await exitWithin(p, ms);
    return { code, ...p.out };
  };
  run.line = (args, opts = {}) => {
    const { cmd, argv } = program(opts, args);
    const vars = { NEXUS_HOME: opts.home ?? defaults.home, NO_COLOR: "1", ...defaults.env };
    const entries = Object.entries(vars);
    const unset = entries.flatMap(([k, v]) => (v === undefined ? ["-u", k] : []));
    const assignments = entries.flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
    return shellLine(["env", ...unset, ...assignments, cmd, ...argv]);
  };
  run.env = envOf;
  Object.defineProperty(run, "home", { value: defaults.home });
  return run;
}

/** Fails a test file's beforeAll at once when the binary it runs was not built. */
export function requireNexusBin(): void {
  if (!existsSync(NEXUS_BIN)) throw new Error(`${NEXUS_BIN} is missing: run 'npm run build' (npm test does)`);
}

/** Fails a test file's beforeAll at once when the binary was not built or no Docker engine answers. */
export function requireE2E(): void {
  requireNexusBin();
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
}

/**
 * A test file's afterAll: destroys its workspaces, stops the daemon of the runner's home, removes
 * what still carries that home's label (a test that failed half-way), then the temporary folder.
 */
export async function tearDown(nexus: NexusRunner, root: AsyncDisposable, workspaces: string[] = []): Promise<void> {
  try {
    for (const name of workspaces) nexus(["destroy", name, "--force"]);
    nexus(["daemon", "stop"]);
    removeLeftovers(nexus.home);
  } finally {
    await root[Symbol.asyncDispose]();
  }
}

/**
 * `nexus daemon` in the foreground, as a process of the test (so the test may kill it, and only it),
 * returned once it serves: its pid file names it (after its reconcile; a killed one's may be left).
 */
export async function foregroundDaemon(nexus: NexusRunner, home: string, timeoutMs = 60_000): Promise<ChildProcess> {
  const child = nexus.spawn(["daemon"], { stdio: "ignore" });
  const pidFile = join(home, "daemon.pid");
  const serving = await until("the daemon serves", () => child.exitCode !== null || (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() === String(child.pid)), Boolean, timeoutMs);
  if (!serving || child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}) before it served`);
  return child;
}
