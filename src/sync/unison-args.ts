// One `unison -batch` run's command line (pure: unit-tested): both roots, the session's ssh, the
// excludes, the conflict strategy with -copyonconflict, and a pass limited to some paths.
import { unisonIgnore, type SyncConfig } from "./config.ts";
import { SSH_ALIAS } from "./ssh-files.ts";
import type { SyncSide } from "./types.ts";

/** Stable names for unison's archives: a container's hostname changes when it is made again. */
export const HOST_NAME = "nexus-host";
const WORKSPACE_NAME = "nexus-workspace";

export interface UnisonArgsInput {
  hostRoot: string;
  remoteRoot: string;
  config: Pick<SyncConfig, "exclude" | "strategy" | "mode">;
  sshCommand: string;
  /** Resolving one conflict: only these paths, this side forced, no copy kept. */
  only?: { paths: string[]; force: SyncSide };
  /** A pass over only these paths (what the watchers saw change), not the whole tree. */
  paths?: string[];
  /**
   * After a checkpoint restore: the workspace's tree made equal to the worktree (this side wins every
   * difference, deletions included), the archives of both sides set aside (the workspace's came back
   * with its home, from another time) and written anew.
   */
  mirror?: boolean;
}

/** The remote root as unison names it: ssh://<alias>//abs/path. */
export function remoteRoot(remotePath: string): string {
  return `ssh://${SSH_ALIAS}/${remotePath.startsWith("/") ? remotePath : `/${remotePath}`}`;
}

/** One `unison -batch` run's arguments (pure: unit-tested). */
export function unisonArgs(i: UnisonArgsInput): string[] {
  const { hostRoot, remoteRoot: remote, config } = i;
  const args = [
    hostRoot,
    remote,
    "-batch",
    "-times",
    "-fastcheck", "true",
    "-dumbtty",
    "-color", "false",
    "-log=false",
    // The manager runs one pass at a time per session and ends a killed daemon's leftovers first
    // (processes.ts), so a lock left by a SIGKILLed run is stale by construction.
    "-ignorelocks",
    "-confirmbigdel=false",
    "-sshcmd", i.sshCommand,
    "-servercmd", `env UNISONLOCALHOSTNAME=${WORKSPACE_NAME} unison`,
  ];
  for (const p of config.exclude) args.push("-ignore", unisonIgnore(p));
  if (i.mirror) return [...args, "-force", hostRoot, "-ignorearchives"];
  if (i.only) {
    for (const p of i.only.paths) args.push("-path", p);
    args.push("-force", i.only.force === "host" ? hostRoot : remote);
    return args;
  }
  for (const p of i.paths ?? []) args.push("-path", p);
  args.push("-copyonconflict");
  // one-way: the worktree is the source; the workspace never writes back.
  if (config.mode === "one-way-replica") return [...args, "-force", hostRoot];
  if (config.mode === "one-way-safe") return [...args, "-noupdate", hostRoot, "-nocreation", hostRoot];
  if (config.strategy === "host-wins") args.push("-prefer", hostRoot);
  else if (config.strategy === "workspace-wins") args.push("-prefer", remote);
  else if (config.strategy === "newer-wins") args.push("-prefer", "newer");
  return args;
}
