// The processes a session starts (unison passes, the ssh that runs inotifywait, mutagen) are
// written to <session>/pids, so a daemon started after a SIGKILL ends the ones its predecessor left
// (two unison runs on one archive must never overlap).
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "../kernel/poll.ts";

export class ProcessTracker {
  readonly #file: string;
  readonly #pids = new Set<number>();

  constructor(dir: string) {
    this.#file = join(dir, "pids");
  }

  spawn(command: string, args: string[], opts: SpawnOptions): ChildProcess {
    const child = spawn(command, args, opts);
    const pid = child.pid;
    if (pid !== undefined) {
      this.#pids.add(pid);
      this.#write();
      child.once("exit", () => {
        this.#pids.delete(pid);
        this.#write();
      });
    }
    return child;
  }

  #write(): void {
    try {
      writeFileSync(this.#file, [...this.#pids].join("\n"));
    } catch {
      // The session's folder is gone (detached): nothing left to track.
    }
  }
}

/** Ends processes a previous daemon started for the session in `dir` (only ones whose command line names `dir`). */
export async function endOrphans(dir: string): Promise<number> {
  let pids: number[];
  try {
    pids = readFileSync(join(dir, "pids"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return 0;
  }
  const ours = pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
    } catch {
      return false;
    }
  });
  for (const pid of ours) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
  // Wait for them to go (a unison pass ends its run on SIGTERM quickly), then insist.
  await pollUntil(() => (ours.some(alive) ? undefined : true), { deadline: Date.now() + 3000, intervalMs: 50 });
  for (const pid of ours.filter(alive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  writeFileSync(join(dir, "pids"), "");
  return ours.length;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to its end and collects its output (merged in arrival order). */
export function collect(tracker: ProcessTracker, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string | Buffer } = {}): Promise<{ code: number; output: string; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = tracker.spawn(command, args, { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const merged: string[] = [];
    child.stdout!.on("data", (b: Buffer) => {
      out.push(b);
      merged.push(b.toString("utf8"));
    });
    child.stderr!.on("data", (b: Buffer) => merged.push(b.toString("utf8")));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs) : undefined;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output: merged.join(""), stdout: Buffer.concat(out) });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}
