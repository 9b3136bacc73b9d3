import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { NexusError } from "../core/errors.ts";

/** One daemon per NEXUS_HOME: an exclusively created lock file holding the owner's pid; a dead owner's lock is taken over. */
export function acquireLock(file: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        if (lockOwner(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = lockOwner(file);
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
        throw new NexusError("INVALID_STATE", `A Nexus daemon is already running for this NEXUS_HOME (pid ${owner})`, {
          suggestion: "Use it, or stop it first with 'nexus daemon stop'",
          details: { pid: owner, lockFile: file },
        });
      }
      rmSync(file, { force: true });
    }
  }
  throw new NexusError("INVALID_STATE", `Could not take the daemon lock ${file}`, { suggestion: "Another daemon is starting; try again" });
}

export function lockOwner(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/** A killed process nobody has reaped yet still answers kill(0), but holds nothing: it is dead. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false; // no /proc (macOS): kill(0) is all we know
  }
}
