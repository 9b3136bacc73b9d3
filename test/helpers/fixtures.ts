// Test fixtures: temporary folders and git repositories that remove themselves (`await using`).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TempDir extends AsyncDisposable {
  path: string;
}

export function tempDir(prefix = "t"): TempDir {
  const base = process.env.NEXUS_TEST_ROOT ?? "/tmp";
  const path = mkdtempSync(join(base, `${prefix}-`));
  return { path, [Symbol.asyncDispose]: async () => removeTree(path) };
}

/**
 * Removes a test folder. Run as a non-root user (scripts/test-nonroot.sh), a test that attacks as
 * root inside a container leaves root-owned files in its worktree: those go through a throwaway
 * container of the base image (already there: workspaces are built from it).
 */
function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (process.getuid?.() === 0 || (code !== "EACCES" && code !== "EPERM")) throw err;
    execFileSync("docker", ["run", "--rm", "--pull", "never", "--network", "none", "--label", "nexus.test=cleanup", "-v", `${path}:/d`, "debian:bookworm-slim", "sh", "-c", "rm -rf /d/* /d/.[!.]* /d/..?*"], { stdio: "ignore" });
    rmSync(path, { recursive: true, force: true });
  }
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** Writes `files` (paths relative to `dir`, folders made as needed) into `dir`; returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): string {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** A git repository with one commit on `main`. */
export function makeRepo(dir: string, files: Record<string, string> = { "README.md": "# fixture\n" }): string {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  writeFiles(dir, files);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "initial");
  return dir;
}
