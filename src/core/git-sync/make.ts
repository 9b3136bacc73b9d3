// Making a workspace's git, once, with its first sync state: its own git dir on this machine (mounted
// into its container), or on a remote engine a repository inside its volume made from the host's refs.
import { createReadStream, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runGit } from "../../git/git.ts";
import { hostRepoFiles, makeOwnGitDir, refsFingerprint, refTreeFingerprint, type OwnGitLayout } from "../../git/own-gitdir.ts";
import type { NexusPaths } from "../../store/paths.ts";
import { NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import { hostTip } from "./host.ts";
import { newLayout } from "./layout.ts";
import type { SyncStates } from "./state.ts";
import type { WorkspaceGitWire } from "./wire.ts";
import { fingerprintLine, initLine, PRESENT_LINE, REMOTE_GIT_DIR, repoFilesLine } from "./remote-git.ts";

export interface MakeGitDeps {
  paths: NexusPaths;
  log: Logger;
  owner: { uid: number; gid: number };
  wire: WorkspaceGitWire;
  states: SyncStates;
}

/** Makes the own git dir `layout` describes on this machine, and saves its first state. */
export async function makeOwnGit(d: Pick<MakeGitDeps, "owner" | "states">, r: WorkspaceRecord, layout: OwnGitLayout): Promise<void> {
  await makeOwnGitDir(layout, d.owner);
  const base = await hostTip(layout);
  d.states.save(r.id, {
    kind: layout.kind,
    branch: layout.branch,
    ...(layout.kind === "worktree" ? { adminName: layout.adminName } : {}),
    ...(base ? { base } : {}),
    fingerprint: refsFingerprint(layout),
    ownFingerprint: refsFingerprint(layout, "own"),
    refTree: refTreeFingerprint(layout),
  });
}

/**
 * A workspace on a remote engine, running and its files synced: makes its repository inside from
 * the host's refs when its volume has none, and saves its first state. A repository already there is
 * kept as it is (it holds the workspace's own history).
 */
export async function makeRemoteGit(d: MakeGitDeps, r: WorkspaceRecord): Promise<void> {
  if (!r.repository) return;
  if ((await d.wire.run(r, PRESENT_LINE)).trim() === "present") {
    if (!d.states.get(r.id)?.remote) d.log.warn(`${r.name}: /workspace/.git was made inside, not by Nexus: its commits are not brought to the host`);
    return;
  }
  const layout = newLayout(r, REMOTE_GIT_DIR, d.log);
  if (!layout) return;
  const repo = layout.kind === "worktree" ? layout.commonDir : layout.repo;
  const format = (await runGit(["rev-parse", "--show-object-format"], repo)).stdout.trim();
  const file = join(d.paths.workspaceDir(r.id), "outgoing.bundle");
  try {
    // Every branch, tag and remote-tracking branch, as a clone has them (a local workspace sees them through its alternates).
    const made = await runGit(["-c", "gc.auto=0", "bundle", "create", "-q", file, "--branches", "--tags", "--remotes"], repo);
    const bundled = made.code === 0 && existsSync(file);
    // A repository without a commit has nothing to bundle ("Refusing to create empty bundle"); anything else is a failure.
    if (!bundled && !/empty bundle/i.test(made.stderr)) throw new NexusError("INTERNAL_ERROR", `git bundle failed in ${repo}: ${made.stderr.trim().slice(0, 500)}`, { suggestion: `Check the repository with 'git -C ${repo} status'` });
    await d.wire.run(r, initLine(layout.branch, format, bundled), bundled ? createReadStream(file) : new Uint8Array(0));
    // The host repository's config (identity, aliases, remotes), info/exclude and hooks, as a local workspace gets them.
    // On stdin: one argument of a command line is limited to 128 KiB, a hook may be bigger.
    await d.wire.run(r, "sh -s", new TextEncoder().encode(repoFilesLine(hostRepoFiles(layout))));
  } finally {
    rmSync(file, { force: true });
  }
  const base = await hostTip(layout);
  const own = await d.wire.run(r, fingerprintLine(layout.branch));
  d.states.save(r.id, {
    kind: layout.kind,
    branch: layout.branch,
    ...(layout.kind === "worktree" ? { adminName: layout.adminName } : {}),
    ...(base ? { base } : {}),
    remote: true,
    fingerprint: `${own}#${refsFingerprint(layout, "host")}`,
    ownFingerprint: own,
  });
  d.log.info(`${r.name}: made its repository inside from ${repo} (${layout.branch})`);
}
