// A workspace's git when the workspace goes: before destroy its commits reach the host, or destroy
// refuses without --force; after, its own git dir is removed, and the refs kept for it on the host
// unless they hold commits nowhere else.
import { existsSync, rmSync } from "node:fs";
import { runGit } from "../../git/git.ts";
import { refsFingerprint, type OwnGitLayout } from "../../git/own-gitdir.ts";
import { NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { GitSyncDeps } from "./service.ts";
import { namespaceOnlyCommits, refMap } from "./host.ts";
import type { SyncStates } from "./state.ts";

/**
 * Before destroy: the workspace's commits reach the host (running: `sync`), or destroy refuses without
 * --force when they may not have (stopped with refs moved since the last sync), or when commits
 * made inside sit only under the namespace (on no branch and no remote). Answers how many such
 * commits there are (a clone holding them is kept).
 */
export async function commitsBeforeDestroy(d: { log: Logger; states: SyncStates }, r: WorkspaceRecord, l: OwnGitLayout, opts: { force: boolean; running: boolean }, sync: () => Promise<unknown>): Promise<number> {
  if (opts.running) {
    try {
      await sync();
    } catch (err) {
      if (!opts.force) {
        throw new NexusError("INVALID_STATE", `Could not bring the commits of workspace '${r.name}' to the host: ${(err as Error).message}`, {
          suggestion: `Fix the cause and destroy again, or run 'nexus destroy ${r.name} --force' to discard them`,
          details: { workspaceName: r.name },
        });
      }
      d.log.warn(`${r.name}: destroy --force: its commits could not be brought to the host: ${(err as Error).message}`);
    }
  } else if (!opts.force && (d.states.get(r.id)?.remote ? d.states.get(r.id)?.failed : refsFingerprint(l, "own") !== d.states.get(r.id)?.ownFingerprint)) {
    throw new NexusError("INVALID_STATE", `Workspace '${r.name}' is not running and its git refs changed since they were last brought to the host`, {
      suggestion: `Start it ('nexus start ${r.name}') so its commits reach the host, then destroy it; or 'nexus destroy ${r.name} --force' to discard them`,
      details: { workspaceName: r.name },
    });
  }
  const repo = l.kind === "worktree" ? l.commonDir : l.repo;
  const only = await namespaceOnlyCommits(repo, r.id).catch(() => 0);
  if (only > 0 && !opts.force) {
    throw new NexusError("INVALID_STATE", `Workspace '${r.name}' has ${only} commit(s) made inside on other branches, a stash or a detached HEAD, on no branch or remote of the host`, {
      suggestion: `They are kept at refs/nexus/workspaces/${r.id}/ ('git log --glob=refs/nexus/workspaces/${r.id}/*'): branch them, or run 'nexus destroy ${r.name} --force' (they stay there)`,
      details: { workspaceName: r.name, commits: only, refs: `refs/nexus/workspaces/${r.id}/` },
    });
  }
  return only;
}

/**
 * After the container is gone: removes the own git dir `dir`, and the namespace refs of layout `l`
 * unless they hold commits nowhere else (then they stay, and the log says where).
 */
export async function removeOwnGit(d: Pick<GitSyncDeps, "log" | "runOneOff">, r: WorkspaceRecord, l: OwnGitLayout | undefined, dir: string, image: string): Promise<void> {
  if (l) {
    const repo = l.kind === "worktree" ? l.commonDir : l.repo;
    if (existsSync(repo)) {
      const only = await namespaceOnlyCommits(repo, r.id).catch(() => 1);
      if (only === 0) {
        for (const ref of (await refMap(repo, [`refs/nexus/workspaces/${r.id}`])).keys()) await runGit(["update-ref", "-d", ref], repo);
      } else {
        d.log.info(`${r.name}: ${only} commit(s) made inside are kept at refs/nexus/workspaces/${r.id}/ in ${repo}`);
      }
    }
  }
  if (!existsSync(dir)) return;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Files made with sudo inside are root's: a throwaway root container removes them.
    await d.runOneOff(
      {
        image,
        labels: {},
        user: "0:0",
        entrypoint: ["/bin/sh", "-c"],
        cmd: ["rm -rf /own/* /own/.[!.]* 2>/dev/null; true"],
        env: [],
        publish: [],
        mounts: [{ type: "bind", source: dir, target: "/own" }],
        network: "none",
        memoryBytes: 0,
      },
      60_000,
    ).catch((err: Error) => d.log.warn(`${r.name}: could not empty ${dir}: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}
