import { join } from "node:path";

/**
 * Every name a workspace gets, derived from its name (and id) in one place: branch, worktree dir,
 * container, home volume, clone dir, SSH alias and host-key comment. Records keep what was derived
 * at create, so changing a rule here never renames an existing workspace's resources.
 */
export interface WorkspaceNames {
  /** The default branch of its worktree. */
  branch: string;
  /** The worktree's folder inside the repository's main working tree. */
  worktreeDir(repositoryPath: string): string;
  container: string;
  homeVolume: string;
  /** Where `--repo` clones go, under NEXUS_HOME. */
  cloneDir(nexusHome: string): string;
  /** `Host` entry of ~/.nexus/ssh_config. */
  sshAlias: string;
  /** Comment of the workspace's SSH host key. */
  keyComment: string;
}

/** The short id part that makes names of two workspaces of one name (one destroyed, one new) differ. */
export function shortId(id: string): string {
  return id.slice(3, 9);
}

export function workspaceNames(name: string, id: string): WorkspaceNames {
  const short = shortId(id);
  return {
    branch: `nexus/${name}`,
    worktreeDir: (repositoryPath) => join(repositoryPath, WORKTREE_FOLDER, name),
    container: `nexus-${name}-${short}`,
    homeVolume: `nexus-${name}-${short}-home`,
    cloneDir: (nexusHome) => join(nexusHome, "repos", `${name}-${short}`),
    sshAlias: sshAlias(name),
    keyComment: `nexus-${name}`,
  };
}

/** The folder of a repository holding its workspaces' worktrees. */
export const WORKTREE_FOLDER = ".worktree";

/** `Host` entry of a workspace in ~/.nexus/ssh_config: needs only the name (ssh_config is written from records). */
export function sshAlias(name: string): string {
  return `nexus-${name}`;
}
