// The host side of service.ts: the hardened git (src/git/) run in the host repository, never
// with a workspace's git dir or config.
import { existsSync } from "node:fs";
import { runGit } from "../../git/git.ts";
import type { OwnGitLayout } from "../../git/own-gitdir.ts";
import { NexusError } from "../errors.ts";

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export async function git(cwd: string, args: string[]): Promise<string> {
  const r = await runGit(args, cwd);
  if (r.code !== 0) {
    throw new NexusError("INTERNAL_ERROR", `git ${args.find((a) => !a.startsWith("-") && !a.includes("=")) ?? ""} failed in ${cwd}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`, {
      suggestion: `Check the repository with 'git -C ${cwd} status'`,
    });
  }
  return r.stdout;
}

export async function refMap(repo: string, patterns: string[]): Promise<Map<string, string>> {
  const out = await git(repo, ["for-each-ref", "--format=%(objectname) %(refname)", ...patterns]);
  const map = new Map<string, string>();
  for (const line of out.split("\n")) {
    const i = line.indexOf(" ");
    if (i > 0 && SHA.test(line.slice(0, i))) map.set(line.slice(i + 1), line.slice(0, i));
  }
  return map;
}

export async function hasCommit(repo: string, sha: string): Promise<boolean> {
  return (await runGit(["cat-file", "-e", `${sha}^{commit}`], repo)).code === 0;
}

export async function isAncestor(repo: string, a: string, b: string): Promise<boolean> {
  return (await runGit(["merge-base", "--is-ancestor", a, b], repo)).code === 0;
}

export async function hostTip(l: OwnGitLayout): Promise<string | undefined> {
  const r = await runGit(["rev-parse", "-q", "--verify", `refs/heads/${l.branch}^{commit}`], l.kind === "worktree" ? l.commonDir : l.repo);
  return r.code === 0 && SHA.test(r.stdout.trim()) ? r.stdout.trim() : undefined;
}

/** Commits under refs/nexus/workspaces/<id>/ that no branch and no remote-tracking branch holds. */
export async function namespaceOnlyCommits(repo: string, id: string): Promise<number> {
  const r = await runGit(["rev-list", "--count", `--glob=refs/nexus/workspaces/${id}/*`, "--not", "--branches", "--remotes"], repo);
  if (r.code !== 0) throw new NexusError("INTERNAL_ERROR", `git rev-list failed in ${repo}: ${r.stderr.trim()}`);
  return Number(r.stdout.trim()) || 0;
}

/**
 * Host side, after its branch took the workspace's commits: the worktree (or repository) on the host
 * has the new files already (they are shared); its index is brought from `from` to `to` when it
 * held nothing staged, so `git status` there is clean again.
 */
export async function refreshHostIndex(l: OwnGitLayout, from: string, to: string): Promise<string | undefined> {
  const cwd = l.kind === "worktree" ? l.worktree : l.repo;
  if (!existsSync(cwd)) return undefined;
  const head = await runGit(["symbolic-ref", "-q", "HEAD"], cwd);
  if (head.stdout.trim() !== `refs/heads/${l.branch}`) return undefined;
  const staged = await runGit(["diff-index", "--cached", "--quiet", from, "--"], cwd);
  if (staged.code !== 0) return `the host's index in ${cwd} has staged changes, so it was not brought to ${to.slice(0, 12)} ('git reset' there shows the new commit as it is)`;
  // Entries whose content is unchanged keep their stat data; no up-to-date check against the files
  // (which hold the new content already, unlike `read-tree -m`). HEAD is not touched.
  const read = await runGit(["reset", "-q", to, "--", "."], cwd);
  if (read.code !== 0) return `could not update the host's index in ${cwd}: ${read.stderr.trim()}`;
  await runGit(["update-index", "-q", "--refresh"], cwd);
  return undefined;
}
