// One sync: what moves between a workspace's refs and the host repository's, and which way.
//
// The workspace's branch (`nexus/<name>`) moves both ways:
//   - workspace → host: the host branch takes the workspace's tip when the host did not move since
//     the last sync (or the workspace's tip descends from it). A rewrite of its own branch (rebase,
//     amend) is the workspace's right; the host's reflog keeps the old tip.
//   - host → workspace: likewise the other way (a commit made on the host in the worktree).
//   - both moved apart: neither moves; the workspace's tip is kept on the host under
//     refs/nexus/workspaces/<id>/heads/<branch> and the log says so.
// The side that did not commit gets its index brought along (`reset <new> -- .`), unless that
// index holds staged changes: then it is left alone and the log says so.
// Every other local branch, the stash and a detached HEAD of the workspace are kept on the host under
// refs/nexus/workspaces/<id>/ (never under refs/heads: the workspace cannot touch the host's branches).
import { refsFingerprint, refTreeFingerprint, type OwnGitLayout } from "../../git/own-gitdir.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import { ownFingerprint } from "./fingerprint.ts";
import { git, hasCommit, isAncestor, refMap, refreshHostIndex } from "./host.ts";
import type { SyncState, SyncStates } from "./state.ts";
import type { WorkspaceGitWire } from "./wire.ts";

export interface SyncResult {
  /** Which way the workspace's branch moved, if it did. */
  moved: "none" | "to-host" | "to-workspace" | "diverged";
  branch: string;
  tip?: string;
  /** Refs kept under refs/nexus/workspaces/<id>/ this time. */
  kept: string[];
  /** Set when an index was left alone (staged changes there). */
  note?: string;
}

export interface SyncMoveDeps {
  log: Logger;
  wire: WorkspaceGitWire;
  states: SyncStates;
}

/** Brings the two sides of `r` (layout `l`, last synced as `state`) together, and saves the state that follows. */
export async function syncRefs(d: SyncMoveDeps, r: WorkspaceRecord, l: OwnGitLayout, state: SyncState): Promise<SyncResult> {
  const repo = l.kind === "worktree" ? l.commonDir : l.repo;
  const ns = `refs/nexus/workspaces/${r.id}`;
  // Taken before the workspace's refs are read: a commit made inside while this sync runs then
  // still differs from what is saved, and the next check syncs it.
  const ownBefore = await ownFingerprint(d.wire, r, l, state);
  const treeBefore = state.remote ? undefined : refTreeFingerprint(l);
  const inside = await d.wire.insideRefs(r);
  const host = await refMap(repo, ["refs/heads"]);
  const kept = await refMap(repo, [ns]);

  // 1. Every workspace ref the host does not hold as is: kept under the namespace (bundle for the missing objects).
  const wanted = new Map<string, { from: string; sha: string }>();
  for (const [ref, sha] of inside.refs) {
    const to = ref === "refs/stash" ? `${ns}/stash` : `${ns}/heads/${ref.slice("refs/heads/".length)}`;
    if (ref.startsWith("refs/heads/") && host.get(ref) === sha) continue;
    if (kept.get(to) !== sha) wanted.set(to, { from: ref, sha });
  }
  if (inside.head && ![...inside.refs.values()].includes(inside.head) && kept.get(`${ns}/HEAD`) !== inside.head) {
    wanted.set(`${ns}/HEAD`, { from: "HEAD", sha: inside.head });
  }
  const missing = new Map<string, { from: string; sha: string }>();
  for (const [to, w] of wanted) {
    if (await hasCommit(repo, w.sha)) await git(repo, ["update-ref", "-m", `nexus: from workspace ${r.name}`, to, w.sha]);
    else missing.set(to, w);
  }
  if (missing.size > 0) {
    const exclude = [...new Set([...host.values(), ...kept.values(), ...(state.base ? [state.base] : [])])].slice(0, 500);
    await d.wire.fetchBundle(r, repo, [...missing].map(([to, w]) => ({ to, from: w.from })), exclude);
  }

  // 2. The workspace's branch.
  const ref = `refs/heads/${l.branch}`;
  const wsTip = inside.refs.get(ref);
  const hTip = host.get(ref);
  const result: SyncResult = { moved: "none", branch: l.branch, kept: [...wanted.keys()] };
  let base = state.base;
  if (wsTip && wsTip !== hTip) {
    const hostMoved = hTip !== undefined && hTip !== state.base;
    const wsMoved = wsTip !== state.base;
    if (!hostMoved || (hTip !== undefined && (await isAncestor(repo, hTip, wsTip)))) {
      await git(repo, ["update-ref", "-m", `nexus: commits from workspace ${r.name}`, ref, wsTip, hTip ?? "0".repeat(wsTip.length)]);
      const note = hTip ? await refreshHostIndex(l, hTip, wsTip) : undefined;
      Object.assign(result, { moved: "to-host", tip: wsTip, ...(note ? { note } : {}) });
      base = wsTip;
    } else if (hTip !== undefined && (!wsMoved || (await isAncestor(repo, wsTip, hTip)))) {
      if (state.remote) await d.wire.sendObjects(r, repo, ref, wsTip);
      const note = await d.wire.moveInside(r, l.branch, wsTip, hTip);
      Object.assign(result, { moved: "to-workspace", tip: hTip, ...(note ? { note } : {}) });
      base = hTip;
    } else {
      // Both moved apart: nothing is moved; the workspace's tip is safe under the namespace.
      await git(repo, ["update-ref", "-m", `nexus: diverged in workspace ${r.name}`, `${ns}/heads/${l.branch}`, wsTip]);
      result.moved = "diverged";
      d.log.warn(`${r.name}: ${l.branch} moved on the host and in the workspace; neither was moved. The workspace's tip ${wsTip.slice(0, 12)} is kept at ${ns}/heads/${l.branch}: merge or rebase it, then sync again`);
    }
  } else if (wsTip) {
    base = wsTip;
  }
  if (result.note) d.log.warn(`${r.name}: ${result.note}`);
  if (result.moved === "to-host" || result.moved === "to-workspace") d.log.info(`${r.name}: ${l.branch} ${result.moved} at ${result.tip!.slice(0, 12)}`);
  // The host side is taken after this sync's own ref moves, so they do not trigger another one;
  // the workspace side too when this sync moved its branch.
  const own = result.moved === "to-workspace" ? await ownFingerprint(d.wire, r, l, state) : ownBefore;
  // A branch moved inside carries HEAD with it when HEAD was on its old tip.
  const insideHead = result.moved === "to-workspace" && inside.head === wsTip ? result.tip : inside.head;
  d.states.save(r.id, {
    ...state,
    ...(base ? { base } : {}),
    fingerprint: `${own}#${refsFingerprint(l, "host")}`,
    ownFingerprint: own,
    // Moving the branch inside changed the tree: taken again then, as `own` is.
    refTree: result.moved === "to-workspace" && !state.remote ? refTreeFingerprint(l) : treeBefore,
    lastSyncAt: new Date().toISOString(),
    insideHead,
    failed: undefined,
  });
  return result;
}
