import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { NexusError } from "../../src/core/errors.ts";
import { acquireLock, isAlive, lockOwner } from "../../src/daemon/lock.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const BUN = resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const LOCK_MODULE = resolve(import.meta.dirname, "../../src/daemon/lock.ts");

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync("true");
  expect(r.status).toBe(0);
  expect(isAlive(r.pid!)).toBe(false);
  return r.pid!;
}

function lockError(file: string): NexusError {
  try {
    acquireLock(file);
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    return err as NexusError;
  }
  throw new Error("expected acquireLock to fail");
}

describe("isAlive / lockOwner", () => {
  test("isAlive", () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(deadPid())).toBe(false);
  });

  test("lockOwner reads a pid, and nothing else", async () => {
    await using dir = tempDir("lock");
    const file = join(dir.path, "daemon.lock");
    expect(lockOwner(file)).toBeUndefined();
    writeFileSync(file, "1234\n");
    expect(lockOwner(file)).toBe(1234);
    for (const junk of ["", "abc", "-5", "0", "1.5"]) {
      writeFileSync(file, junk);
      expect(lockOwner(file)).toBeUndefined();
    }
  });
});

describe("acquireLock", () => {
  test("takes a free lock, writes our pid (0600), and release removes it", async () => {
    await using dir = tempDir("lock");
    const { lockFile } = nexusPaths({ NEXUS_HOME: dir.path });
    const release = acquireLock(lockFile);
    expect(readFileSync(lockFile, "utf8")).toBe(String(process.pid));
    expect((await import("node:fs")).statSync(lockFile).mode & 0o777).toBe(0o600);
    release();
    expect(existsSync(lockFile)).toBe(false);
  });

  test("a second acquire fails with INVALID_STATE while another live process holds the lock", async () => {
    await using dir = tempDir("lock");
    const { lockFile } = nexusPaths({ NEXUS_HOME: dir.path });
    // A real second process takes the lock and holds it until its stdin closes.
    const script = `import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
acquireLock(${JSON.stringify(lockFile)});
process.stdout.write("locked\\n");
process.stdin.on("data", () => {}); process.stdin.on("end", () => process.exit(0));`;
    const scriptFile = join(dir.path, "holder.ts");
    writeFileSync(scriptFile, script);
    const child = spawn(BUN, [scriptFile], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      await new Promise<void>((res, rej) => {
        child.stdout.on("data", (d: Buffer) => (d.toString().includes("locked") ? res() : undefined));
        child.once("exit", (code) => rej(new Error(`holder exited early (${code})`)));
      });
      expect(lockOwner(lockFile)).toBe(child.pid!);
      const e = lockError(lockFile);
      expect(e.code).toBe("INVALID_STATE");
      expect(e.message).toContain(`pid ${child.pid}`);
      expect(e.details).toEqual({ pid: child.pid, lockFile });
      expect(e.suggestion).toContain("nexus daemon stop");
      // The holder's lock is untouched.
      expect(lockOwner(lockFile)).toBe(child.pid!);
    } finally {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
    }
  });

  test("a live owner's lock written by pid alone is respected too", async () => {
    await using dir = tempDir("lock");
    const file = join(dir.path, "daemon.lock");
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      writeFileSync(file, String(sleeper.pid));
      expect(lockError(file).code).toBe("INVALID_STATE");
      expect(readFileSync(file, "utf8")).toBe(String(sleeper.pid));
    } finally {
      sleeper.kill();
    }
  });

  test("a stale lock (dead pid) is taken over", async () => {
    await using dir = tempDir("lock");
    const file = join(dir.path, "daemon.lock");
    writeFileSync(file, String(deadPid()));
    const release = acquireLock(file);
    expect(lockOwner(file)).toBe(process.pid);
    release();
    expect(existsSync(file)).toBe(false);
  });

  test("a lock file with garbage in it is taken over", async () => {
    await using dir = tempDir("lock");
    const file = join(dir.path, "daemon.lock");
    writeFileSync(file, "not a pid");
    const release = acquireLock(file);
    expect(lockOwner(file)).toBe(process.pid);
    release();
  });

  test("release leaves a lock that another process has taken since", async () => {
    await using dir = tempDir("lock");
    const file = join(dir.path, "daemon.lock");
    const release = acquireLock(file);
    writeFileSync(file, "999999");
    release();
    expect(readFileSync(file, "utf8")).toBe("999999");
  });

  test("a lock in a folder that does not exist is an error, not a silent success", () => {
    expect(() => acquireLock("/nonexistent-dir-for-nexus-test/daemon.lock")).toThrow();
  });
});
