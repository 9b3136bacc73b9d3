// How the e2e tests run the CLI: NEXUS_BIN (dist/nexus, or with NEXUS_E2E_RUNTIME=deno the source
// under Deno) with the test's NEXUS_HOME and NO_COLOR, in the test's repository, its output as text.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { NEXUS_BIN } from "./bin.ts";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Laid over the runner's environment (a variable set to undefined is left out). */
  env?: Record<string, string | undefined>;
  /** Ten minutes unless given: a create may build the workspace image first on a loaded machine. */
  timeoutMs?: number;
  input?: string;
  /** "ignore": stdin is /dev/null rather than an empty pipe. */
  stdin?: "ignore" | "pipe";
  /** Another program (and its first arguments) in place of NEXUS_BIN. */
  bin?: string[];
}

export type NexusRunner = (args: string[], opts?: RunOptions) => Run;

/** A runner of `nexus` whose every call gets `defaults` (each call's options laid over them). */
export function nexusRunner(defaults: RunOptions & { home: string }): NexusRunner {
  return (args, opts = {}) => {
    const [cmd, ...pre] = opts.bin ?? defaults.bin ?? [NEXUS_BIN];
    const input = opts.input ?? defaults.input;
    const stdin = opts.stdin ?? defaults.stdin;
    const r = spawnSync(cmd!, [...pre, ...args], {
      cwd: opts.cwd ?? defaults.cwd,
      env: { ...process.env, NEXUS_HOME: defaults.home, NO_COLOR: "1", ...defaults.env, ...opts.env },
      encoding: "utf8",
      timeout: opts.timeoutMs ?? defaults.timeoutMs ?? 600_000,
      ...(input !== undefined ? { input } : {}),
      ...(stdin === "ignore" ? { stdio: ["ignore", "pipe", "pipe"] as const } : {}),
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
}

/** Fails a test file's beforeAll at once when the binary it runs was not built. */
export function requireNexusBin(): void {
  if (!existsSync(NEXUS_BIN)) throw new Error(`${NEXUS_BIN} is missing: run 'npm run build' (npm test does)`);
}
