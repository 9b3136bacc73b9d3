// Running and timing whole commands in the remote-engine benches (remote.ts, tcp-engine.ts).
import { spawnSync, type SpawnSyncReturns } from "node:child_process";

/** Runs a command to its end; a failure or a non-zero exit throws with its output. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: opts.timeoutMs ?? 120_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}\n${r.stderr}${r.stdout}`);
  return r;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Milliseconds one run of the command takes. */
export function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t = performance.now();
  run(cmd, args, { env, timeoutMs: 60_000 });
  return performance.now() - t;
}
