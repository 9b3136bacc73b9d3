// Which own git layout (own-gitdir.ts) a workspace has: made new from its record when its git dir is
// made, read back from its record and saved state afterwards, and whether a layout kept from last
// time still is that one (afterExec's check that nothing moved runs on the kept one).
import { join } from "node:path";
import { worktreeAdminName, type OwnGitLayout } from "../../git/own-gitdir.ts";
import { NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { SyncState } from "./state.ts";

/** Where the workspace's git dir goes (`dir`) and what it tracks; undefined when git inside gets none. */
export function newLayout(r: WorkspaceRecord, dir: string, log: Logger): OwnGitLayout | undefined {
  if (!r.repository) return undefined;
  const commonDir = r.repository.gitCommonDir;
  let layout: OwnGitLayout;
  if (r.worktree) {
    const adminName = worktreeAdminName(r.worktree.path, commonDir);
    if (!adminName) {
      throw new NexusError("INTERNAL_ERROR", `The worktree ${r.worktree.path} has no .git file naming ${commonDir}/worktrees/…`, {
        suggestion: `Check it with 'git -C ${r.worktree.path} rev-parse --git-dir'`,
      });
    }
    layout = { kind: "worktree", dir, commonDir, adminName, worktree: r.worktree.path, branch: r.worktree.branch };
  } else if (commonDir === join(r.repository.path, ".git") && r.mountPath === r.repository.path) {
    layout = { kind: "repo", dir, commonDir, repo: r.repository.path, branch: r.branch };
  } else {
    log.warn(`${r.name}: the repository's git dir is not <repo>/.git; git inside the workspace has no git dir`);
    return undefined;
  }
  return layout;
}

/** The layout `r` and its saved state `s` describe, with its git dir at `dir`; undefined when they describe none. */
export function savedLayout(r: WorkspaceRecord, s: SyncState, dir: string): OwnGitLayout | undefined {
  if (!r.repository) return undefined;
  if (s.kind === "worktree" && r.worktree && s.adminName) {
    return { kind: "worktree", dir, commonDir: r.repository.gitCommonDir, adminName: s.adminName, worktree: r.worktree.path, branch: s.branch };
  }
  if (s.kind === "repo") return { kind: "repo", dir, commonDir: r.repository.gitCommonDir, repo: r.repository.path, branch: s.branch };
  return undefined;
}

/** Whether `l` is the layout savedLayout() makes for `r` and `s` (the own dir's path and existence aside). */
export function layoutHolds(l: OwnGitLayout, r: WorkspaceRecord, s: SyncState): boolean {
  if (!r.repository || l.kind !== s.kind || l.branch !== s.branch || l.commonDir !== r.repository.gitCommonDir) return false;
  return l.kind === "worktree" ? !!r.worktree && !!s.adminName && l.adminName === s.adminName && l.worktree === r.worktree.path : l.repo === r.repository.path;
}

export function sameLayout(a: OwnGitLayout, b: OwnGitLayout): boolean {
  if (a.dir !== b.dir || a.commonDir !== b.commonDir || a.branch !== b.branch) return false;
  if (a.kind === "worktree") return b.kind === "worktree" && a.adminName === b.adminName && a.worktree === b.worktree;
  return b.kind === "repo" && a.repo === b.repo;
}
