import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import { hardenedEnv, hardeningArgs } from "./hardened.ts";
import { appendUntrustedFileSync, readUntrustedFileSync } from "../fs/untrusted-files.ts";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs git with argv (never through a shell), hardened (hardened.ts): no hooks, no fsmonitor, no
 * ssh command from the repository. Resolves with the exit code; `git` missing is an error.
 */
export function runGit(args: readonly string[], cwd: string, env?: Record<string, string>): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      [...hardeningArgs(), ...args],
      { cwd, env: hardenedEnv(process.env, env), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === "string") {
          reject(
            new NexusError("INTERNAL_ERROR", `Could not run git: ${err.message}`, {
              suggestion: "Install git and make sure it is on the daemon's PATH",
            }),
          );
          return;
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function git(args: readonly string[], cwd: string): Promise<string> {
  const r = await runGit(args, cwd);
  if (r.code !== 0) {
    throw new NexusError("INVALID_ARGUMENT", `git ${args[0]} failed: ${r.stderr.trim() || r.stdout.trim()}`, {
      suggestion: "Check the repository with 'git status'",
      details: { args: [...args], cwd },
    });
  }
  return r.stdout.trim();
}

export interface RepoInfo {
  /** The main working tree. */
  path: string;
  /** Absolute common git dir (".git" of the main working tree). */
  commonDir: string;
  /** Current branch, or the commit when HEAD is detached; empty in a repository with no commits. */
  head: string;
}

/** The repository containing `dir`, or a clear error when `dir` is not in one. */
export async function repoInfo(dir: string): Promise<RepoInfo> {
  const top = await runGit(["rev-parse", "--show-toplevel"], dir).catch((e) => {
    throw e;
  });
  if (top.code !== 0) {
    throw new NexusError("INVALID_ARGUMENT", `'${dir}' is not inside a git repository`, {
      suggestion: "Run 'nexus create' inside a git repository, pass --repo <url>, or use --no-worktree",
      details: { path: dir },
    });
  }
  const commonDir = await git(["rev-parse", "--path-format=absolute", "--git-common-dir"], dir);
  // Worktrees of worktrees are not a thing: always anchor on the main working tree.
  const mainTree = commonDir.endsWith("/.git") ? commonDir.slice(0, -"/.git".length) : top.stdout.trim();
  // An unborn branch (no commits yet) has a name but no commit: head is "" then, as documented.
  const commit = await runGit(["rev-parse", "-q", "--verify", "HEAD"], dir);
  let head = "";
  if (commit.code === 0) {
    const branch = await runGit(["symbolic-ref", "--short", "-q", "HEAD"], dir);
    head = branch.code === 0 ? branch.stdout.trim() : commit.stdout.trim();
  }
  return { path: mainTree, commonDir, head };
}

export async function hasCommit(repo: string, rev: string): Promise<boolean> {
  return (await runGit(["rev-parse", "-q", "--verify", `${rev}^{commit}`], repo)).code === 0;
}

/** `origin/<name>` when the remote `origin` has that branch (a fresh clone holds only its default branch locally). */
export async function remoteBranch(repo: string, name: string): Promise<string | undefined> {
  return (await hasCommit(repo, `refs/remotes/origin/${name}`)) ? `origin/${name}` : undefined;
}

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  return (await runGit(["show-ref", "--verify", "-q", `refs/heads/${branch}`], repo)).code === 0;
}

/** Adds a worktree at `path`: on a new branch from `base`, or on an existing branch. */
export async function addWorktree(repo: string, path: string, branch: string, opts: { createFrom?: string }): Promise<void> {
  const args = opts.createFrom !== undefined
    ? ["worktree", "add", "-b", branch, path, opts.createFrom]
    : ["worktree", "add", path, branch];
  await git(args, repo);
}

export async function removeWorktree(repo: string, path: string): Promise<void> {
  const r = await runGit(["worktree", "remove", "--force", "--force", path], repo);
  if (r.code !== 0 && existsSync(path)) {
    throw new NexusError("INTERNAL_ERROR", `Could not remove worktree ${path}: ${r.stderr.trim()}`, {
      suggestion: `Remove it by hand with 'git worktree remove --force ${path}'`,
    });
  }
  await runGit(["worktree", "prune"], repo);
}

export async function deleteBranch(repo: string, branch: string): Promise<void> {
  await runGit(["branch", "-D", branch], repo);
}

export async function clone(url: string, dest: string): Promise<void> {
  const r = await runGit(["clone", "--", url, dest], process.cwd());
  if (r.code !== 0) {
    throw new NexusError("INVALID_ARGUMENT", `Could not clone ${url}: ${r.stderr.trim()}`, {
      suggestion: "Check the URL and that you can reach it with 'git ls-remote <url>'",
      details: { url },
    });
  }
}

export interface WorkInProgress {
  /** `git status --porcelain` lines: uncommitted and untracked changes. */
  uncommitted: string[];
  /** Commits on HEAD that no other branch and no remote-tracking branch holds. */
  unpushedCommits: number;
}

/** What would be lost if the worktree at `path` disappeared. `ownBranch` is left out of "other branches". */
export async function workInProgress(path: string, ownBranch: string): Promise<WorkInProgress> {
  // Not trimmed at the front: porcelain's first column is significant (" M" is unstaged, "M " staged).
  const status = await runGit(["status", "--porcelain", "--untracked-files=all"], path);
  if (status.code !== 0) {
    throw new NexusError("INTERNAL_ERROR", `git status failed in ${path}: ${status.stderr.trim()}`, { suggestion: `Check the worktree with 'git -C ${path} status'` });
  }
  const uncommitted = status.stdout.split("\n").filter((l) => l.trim() !== "");
  let unpushedCommits = 0;
  if (await hasCommit(path, "HEAD")) {
    const count = await runGit(
      // --exclude matches --branches by short name (no refs/heads/ prefix).
      ["rev-list", "--count", "HEAD", "--not", `--exclude=${ownBranch}`, "--branches", "--remotes"],
      path,
    );
    unpushedCommits = count.code === 0 ? Number(count.stdout.trim()) || 0 : 0;
  }
  return { uncommitted, unpushedCommits };
}

/**
 * Commits of the repository at `path` that no remote-tracking branch holds, on HEAD, any local
 * branch or a stash: what deleting the whole repository would lose. Throws when git cannot tell.
 */
export async function localOnlyCommits(path: string): Promise<number> {
  const tips: string[] = [];
  for (const ref of ["HEAD", "refs/stash"]) if (await hasCommit(path, ref)) tips.push(ref);
  const count = await runGit(["rev-list", "--count", ...tips, "--branches", "--not", "--remotes"], path);
  if (count.code !== 0) {
    throw new NexusError("INTERNAL_ERROR", `git rev-list failed in ${path}: ${count.stderr.trim()}`, { suggestion: `Check the repository with 'git -C ${path} log --branches --not --remotes'` });
  }
  return Number(count.stdout.trim()) || 0;
}

/** Keeps `.worktree/` out of `git status` of the main tree without touching the user's .gitignore. */
export function excludeWorktreeDir(commonDir: string): void {
  // The git dir may have been reached by a workspace: no symlink out, no FIFO (untrusted-files.ts).
  const file = join(commonDir, "info", "exclude");
  const line = "/.worktree/";
  const current = readUntrustedFileSync(commonDir, file) ?? "";
  if (current.split("\n").includes(line)) return;
  mkdirSync(join(commonDir, "info"), { recursive: true });
  appendUntrustedFileSync(commonDir, file, `${current && !current.endsWith("\n") ? "\n" : ""}# nexus workspaces\n${line}\n`);
}
