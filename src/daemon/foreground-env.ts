// The runtime's settings for the daemon (runtime.daemonEnv; under Bun, no JIT tier: bench/memory.ts)
// are read once, when a process starts. The daemon the CLI starts and the service units get them in
// their environment; a `nexus daemon` typed by hand in the foreground starts with the user's, so it
// replaces itself with the same program and arguments with them added (execve: the same pid,
// terminal and descriptors), before it loads anything of the daemon. Values the user set win.
import { currentRuntime } from "../runtime/index.ts";

type Env = Record<string, string | undefined>;

/** The runtime's settings for the daemon that `env` lacks (a value of the user's own wins), or undefined. */
export function missingDaemonEnv(runtimeEnv: Record<string, string>, env: Env): Record<string, string> | undefined {
  const missing = Object.entries(runtimeEnv).filter(([key]) => env[key] === undefined);
  return missing.length > 0 ? Object.fromEntries(missing) : undefined;
}

/**
 * Starts this program again in place with `args` and the settings `env` lacks; returns only when
 * nothing is missing or the runtime cannot replace the process (no process.execve, or it failed):
 * the daemon then runs as it is, which it did before these settings existed.
 */
export async function reexecWithDaemonEnv(args: readonly string[], env: Env): Promise<void> {
  const runtime = await currentRuntime();
  const missing = missingDaemonEnv(runtime.daemonEnv(), env);
  if (!missing) return;
  const execve = (process as unknown as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== "function") return;
  const self = runtime.selfCommand();
  const next: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) next[key] = value;
  try {
    execve.call(process, self.argv[0]!, [...self.argv, ...args], { ...next, ...missing });
  } catch {
    // execve(2) failed and this process goes on unchanged.
  }
}
