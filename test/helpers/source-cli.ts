// The CLI run from source (`bun src/main.ts`) as a process, for unit tests that answer it from an
// in-process API: asynchronously, so that API can answer while it runs. Its environment is only
// PATH, HOME and NEXUS_HOME under `home`, and NO_COLOR, with `env` laid over it.
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

export interface SourceRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nexus <args>` from source; killed (SIGKILL) after 15 s. */
export function nexusFromSource(args: string[], home: string, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<SourceRun> {
  return new Promise((res, rej) => {
    const child = spawn(BUN, [join(ROOT, "src/main.ts"), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(home, "home"), NEXUS_HOME: join(home, "nexus"), NO_COLOR: "1", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("error", rej);
    child.once("close", (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}
