// Moves commits between a workspace's own git dir and the host repository (own-gitdir.ts says why
// the workspace has its own). The workspace side is untrusted: the daemon talks to it only through
// git commands run inside over SSH, and takes its commits as a bundle that the host's hardened git
// fetches (objects checked). No host git process ever runs with the workspace's git dir or config.
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
//
// When: after an exec whose refs moved (an lstat check, free otherwise), every few seconds while the
// daemon watches (interactive sessions, commits made on the host), before stop, and before destroy.
//
// A workspace on a remote engine has its repository inside its volume instead (remote-git.ts): the
// same moves, with its refs' fingerprint read over SSH and the host's objects sent in as a bundle.
import { createReadStream, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ContainerSpec } from "../../docker/container-engine.ts";
import { runGit } from "../../git/git.ts";
import { hostRepoFiles, makeOwnGitDir, ownGitMounts, readIndexWhileStill, refsFingerprint, refTreeFingerprint, TREE_OVERFLOW, worktreeAdminName, type Mount, type OwnGitLayout } from "../../git/own-gitdir.ts";
import type { ExecExit } from "../../ssh/pool.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { NexusPaths } from "../../store/paths.ts";
import { NexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { KeyedMutex } from "../mutex.ts";
import { git, hasCommit, hostTip, isAncestor, namespaceOnlyCommits, refMap, refreshHostIndex } from "./git-sync-host.ts";
import type { WorkspaceRecord } from "../types.ts";
import { WorkspaceGitWire } from "./git-sync-wire.ts";
import { fingerprintLine, initLine, PRESENT_LINE, REMOTE_GIT_DIR, repoFilesLine } from "./remote-git.ts";

const POLL_MS = 3000;

export interface GitSyncDeps {
  paths: NexusPaths;
  log: Logger;
  owner: { uid: number; gid: number };
  /** Runs a command line in the workspace over its pooled SSH connection. */
  exec(r: WorkspaceRecord, line: string, streams: { onStdout?: (b: Buffer) => void; onStderr?: (b: Buffer) => void; signal?: AbortSignal; stdin?: Uint8Array | AsyncIterable<Uint8Array> }): Promise<ExecExit>;
  /** Runs a throwaway container (root, the workspace's image) to remove what the workspace left root-owned. */
  runOneOff(spec: ContainerSpec, timeoutMs: number): Promise<{ exitCode: number; output: string }>;
}

/** What the daemon keeps about a workspace's own git dir (in its record folder, out of the workspace's reach). */
interface SyncState {
  kind: "worktree" | "repo";
  branch: string;
  adminName?: string;
  /** The branch tip both sides had at the last sync. */
  base?: string;
  /** refsFingerprint (both sides) at the last sync. */
  fingerprint?: string;
  /** refsFingerprint of the workspace's side only at the last sync: what destroy of a stopped workspace compares. */
  ownFingerprint?: string;
  /** refTreeFingerprint at the last sync: with `fingerprint`, what lets stop skip a sync when nothing moved. */
  refTree?: string;
  lastSyncAt?: string;
  /** HEAD inside (a commit) as the last sync read it: a checkpoint records it (src/core/checkpoints/). */
  insideHead?: string;
  /** The repository is inside the container's volume on a remote engine (remote-git.ts), not on this machine. */
  remote?: boolean;
  /** The last sync failed: a stopped remote workspace may hold commits the host has not (destroy asks for --force). */
  failed?: boolean;
}

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

export class GitSync {
  readonly #d: GitSyncDeps;
  readonly #locks = new KeyedMutex();
  readonly #wire: WorkspaceGitWire;
  /**
   * Each workspace's state as last read or written: this object is its file's only writer, and
   * afterExec reads it after every exec (a file read and a JSON parse each time, before).
   */
  readonly #states = new Map<string, SyncState>();
  readonly #layouts = new Map<string, OwnGitLayout>();
  readonly #ownDirs = new Map<string, string>();

  constructor(deps: GitSyncDeps) {
    this.#d = deps;
    this.#wire = new WorkspaceGitWire(deps);
  }

  #stateFile(id: string): string {
    return join(this.#d.paths.workspaceDir(id), "git-sync.json");
  }

  #state(id: string): SyncState | undefined {
    if (this.#states.has(id)) return this.#states.get(id);
    let s: SyncState | undefined;
    try {
      s = JSON.parse(readFileSync(this.#stateFile(id), "utf8")) as SyncState;
    } catch {
      s = undefined;
    }
    // A workspace without a state yet is read again next time (prepare may be under way elsewhere).
    if (s) this.#states.set(id, s);
    return s;
  }

  #saveState(id: string, s: SyncState): void {
    writeFileAtomic(this.#stateFile(id), JSON.stringify(s, null, 2) + "\n");
    this.#states.set(id, s);
  }

  /** The workspace is gone: its state leaves memory (its file went with its folder). */
  forget(id: string): void {
    this.#states.delete(id);
    this.#layouts.delete(id);
    this.#ownDirs.delete(id);
  }

  ownDir(id: string): string {
    let dir = this.#ownDirs.get(id);
    if (dir === undefined) this.#ownDirs.set(id, (dir = join(this.#d.paths.workspaceDir(id), "git")));
    return dir;
  }

  /** The layout of a workspace with its own git dir; undefined for a workspace without a repository. */
  layout(r: WorkspaceRecord): OwnGitLayout | undefined {
    const s = this.#state(r.id);
    const dir = s?.remote ? REMOTE_GIT_DIR : this.ownDir(r.id);
    if (!s || !r.repository || (!s.remote && !existsSync(dir))) return undefined;
    if (s.kind === "worktree" && r.worktree && s.adminName) {
      return this.#kept(r.id, { kind: "worktree", dir, commonDir: r.repository.gitCommonDir, adminName: s.adminName, worktree: r.worktree.path, branch: s.branch });
    }
    if (s.kind === "repo") return this.#kept(r.id, { kind: "repo", dir, commonDir: r.repository.gitCommonDir, repo: r.repository.path, branch: s.branch });
    return undefined;
  }

  /** The workspace's last layout when `l` equals it: one object per workspace, so refsFingerprint's paths are joined once, not after every exec. */
  #kept(id: string, l: OwnGitLayout): OwnGitLayout {
    const last = this.#layouts.get(id);
    if (last && sameLayout(last, l)) return last;
    this.#layouts.set(id, l);
    return l;
  }

  /**
   * Makes the workspace's own git dir, once (create; start of a workspace made before it existed).
   * Nothing to do without a repository, or for --no-worktree on a repository whose `.git` is not a folder.
   */
  async prepare(r: WorkspaceRecord): Promise<void> {
    if (!r.repository || this.layout(r)) return;
    const dir = this.ownDir(r.id);
    // Half made by a create that was cut short: made again from scratch (no container has had it).
    if (existsSync(dir) && !this.#state(r.id)) rmSync(dir, { recursive: true, force: true });
    const layout = this.#newLayout(r, dir);
    if (!layout) return;
    await makeOwnGitDir(layout, this.#d.owner);
    const base = await hostTip(layout);
    this.#saveState(r.id, {
      kind: layout.kind,
      branch: layout.branch,
      ...(layout.kind === "worktree" ? { adminName: layout.adminName } : {}),
      ...(base ? { base } : {}),
      fingerprint: refsFingerprint(layout),
      ownFingerprint: refsFingerprint(layout, "own"),
      refTree: refTreeFingerprint(layout),
    });
  }

  /** Where the workspace's git dir goes (`dir`) and what it tracks; undefined when git inside gets none. */
  #newLayout(r: WorkspaceRecord, dir: string): OwnGitLayout | undefined {
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
      this.#d.log.warn(`${r.name}: the repository's git dir is not <repo>/.git; git inside the workspace has no git dir`);
      return undefined;
    }
    return layout;
  }

  /**
   * A workspace on a remote engine, running and its files synced: makes its repository inside from
   * the host's refs when its volume has none (create; start after the volume was made anew). A
   * repository already there is kept as it is (it holds the workspace's own history).
   */
  async prepareRemote(r: WorkspaceRecord): Promise<void> {
    if (!r.repository) return;
    if ((await this.#wire.run(r, PRESENT_LINE)).trim() === "present") {
      if (!this.#state(r.id)?.remote) this.#d.log.warn(`${r.name}: /workspace/.git was made inside, not by Nexus: its commits are not brought to the host`);
      return;
    }
    const layout = this.#newLayout(r, REMOTE_GIT_DIR);
    if (!layout) return;
    const repo = layout.kind === "worktree" ? layout.commonDir : layout.repo;
    const format = (await runGit(["rev-parse", "--show-object-format"], repo)).stdout.trim();
    const file = join(this.#d.paths.workspaceDir(r.id), "outgoing.bundle");
    try {
      // Every branch, tag and remote-tracking branch, as a clone has them (a local workspace sees them through its alternates).
      const made = await runGit(["-c", "gc.auto=0", "bundle", "create", "-q", file, "--branches", "--tags", "--remotes"], repo);
      const bundled = made.code === 0 && existsSync(file);
      // A repository without a commit has nothing to bundle ("Refusing to create empty bundle"); anything else is a failure.
      if (!bundled && !/empty bundle/i.test(made.stderr)) throw new NexusError("INTERNAL_ERROR", `git bundle failed in ${repo}: ${made.stderr.trim().slice(0, 500)}`, { suggestion: `Check the repository with 'git -C ${repo} status'` });
      await this.#wire.run(r, initLine(layout.branch, format, bundled), bundled ? createReadStream(file) : new Uint8Array(0));
      // The host repository's config (identity, aliases, remotes), info/exclude and hooks, as a local workspace gets them.
      // On stdin: one argument of a command line is limited to 128 KiB, a hook may be bigger.
      await this.#wire.run(r, "sh -s", new TextEncoder().encode(repoFilesLine(hostRepoFiles(layout))));
    } finally {
      rmSync(file, { force: true });
    }
    const base = await hostTip(layout);
    const own = await this.#wire.run(r, fingerprintLine(layout.branch));
    this.#saveState(r.id, {
      kind: layout.kind,
      branch: layout.branch,
      ...(layout.kind === "worktree" ? { adminName: layout.adminName } : {}),
      ...(base ? { base } : {}),
      remote: true,
      fingerprint: `${own}#${refsFingerprint(layout, "host")}`,
      ownFingerprint: own,
    });
    this.#d.log.info(`${r.name}: made its repository inside from ${repo} (${layout.branch})`);
  }

  /** The fingerprint of the workspace's refs: lstat here, or one command inside for a remote workspace. */
  async #ownFingerprint(r: WorkspaceRecord, l: OwnGitLayout, s: SyncState): Promise<string> {
    return s.remote ? await this.#wire.run(r, fingerprintLine(l.branch)) : refsFingerprint(l, "own");
  }

  /** Both sides' fingerprint, as saved at the last sync. */
  async #fingerprint(r: WorkspaceRecord, l: OwnGitLayout, s: SyncState): Promise<string> {
    return s.remote ? `${await this.#ownFingerprint(r, l, s)}#${refsFingerprint(l, "host")}` : refsFingerprint(l);
  }

  /** The container's git mounts (none for a workspace without a repository: then nothing of a git dir is mounted). */
  mounts(r: WorkspaceRecord): Mount[] {
    const l = this.layout(r);
    return l && !this.#state(r.id)?.remote ? ownGitMounts(l) : [];
  }

  /** After an exec: syncs when refs moved on either side; never fails the exec. */
  async afterExec(r: WorkspaceRecord): Promise<void> {
    // The usual case, nothing moved: the lstats alone, on the layout made last time while it is the
    // one layout() would make now (its own dir's existence aside: a dir gone reads "-" here, which no
    // saved fingerprint holds, so that goes the long way below as before).
    const saved = this.#state(r.id);
    const last = this.#layouts.get(r.id);
    if (saved && !saved.remote && last && last.dir === this.ownDir(r.id) && layoutHolds(last, r, saved) && refsFingerprint(last) === saved.fingerprint) return;
    const l = this.layout(r);
    const s = this.#state(r.id);
    if (!l || !s) return;
    try {
      if ((await this.#fingerprint(r, l, s)) === s.fingerprint) return;
      await this.sync(r);
    } catch (err) {
      this.#d.log.warn(`${r.name}: git sync: ${(err as Error).message}`);
    }
  }

  /**
   * Before a checkpoint: a sync when refs moved on either side since the last one (an lstat check
   * otherwise, as after an exec), then HEAD inside as that sync read it.
   */
  async syncIfMoved(r: WorkspaceRecord): Promise<{ insideHead?: string }> {
    const l = this.layout(r);
    if (!l) return {};
    const s = this.#state(r.id);
    if (!s?.insideHead || (await this.#fingerprint(r, l, s)) !== s.fingerprint) await this.sync(r);
    const head = this.#state(r.id)?.insideHead;
    return head ? { insideHead: head } : {};
  }

  /**
   * Where the workspace's own index is inside its container. A checkpoint copies that file out and
   * back through the engine's archive API, which resolves the path in the container's view: the
   * daemon itself never opens a file of the own git dir (untrusted).
   */
  /** The own git index read on the host; only while no process of the workspace runs (own-gitdir.ts). */
  readIndexWhileStill(r: WorkspaceRecord): ReturnType<typeof readIndexWhileStill> {
    const l = this.layout(r);
    return l && !this.#state(r.id)?.remote ? readIndexWhileStill(l) : undefined;
  }

  indexPathInside(r: WorkspaceRecord): string | undefined {
    const l = this.layout(r);
    if (!l || this.#state(r.id)?.remote) return undefined;
    return l.kind === "worktree" ? join(l.commonDir, "worktrees", l.adminName, "index") : "/workspace/.git/index";
  }

  /** Polls running workspaces for ref changes (interactive sessions, commits on the host) until `signal` aborts. */
  watch(signal: AbortSignal, running: () => WorkspaceRecord[]): void {
    const timer = setInterval(() => {
      for (const r of running()) void this.afterExec(r);
    }, POLL_MS);
    timer.unref?.();
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  }

  /**
   * Before stop (the workspace is running): a sync unless no ref moved on either side since the last
   * one. The check is lstat only and runs under the sync lock, so a sync the poller has under way is
   * waited for, never cut short by the stop. Commits made inside (on any branch, the stash, HEAD) move
   * a folder under refs/ or the branch file, and so always sync; stop no longer pays an SSH round trip
   * and three git runs when nothing moved.
   */
  async beforeStop(r: WorkspaceRecord): Promise<SyncResult | undefined> {
    return this.#locks.run(r.id, async () => {
      const l = this.layout(r);
      const s = this.#state(r.id);
      if (!l || !s) return undefined;
      // A remote workspace's refs are read over SSH, and its other branches have no cheap check: always a sync.
      if (s.remote) return this.#syncNoting(r);
      const tree = refTreeFingerprint(l);
      if (s.fingerprint === refsFingerprint(l) && tree !== TREE_OVERFLOW && s.refTree === tree) return undefined;
      return this.#syncNoting(r);
    });
  }

  /** Brings the two sides together now (the workspace must be running: the workspace side is reached over SSH). */
  sync(r: WorkspaceRecord): Promise<SyncResult | undefined> {
    return this.#locks.run(r.id, () => this.#syncNoting(r));
  }

  /** #sync, and a failure noted in the state (destroy of a stopped remote workspace reads it). */
  async #syncNoting(r: WorkspaceRecord): Promise<SyncResult | undefined> {
    try {
      return await this.#sync(r);
    } catch (err) {
      const s = this.#state(r.id);
      if (s && !s.failed) this.#saveState(r.id, { ...s, failed: true });
      throw err;
    }
  }

  async #sync(r: WorkspaceRecord): Promise<SyncResult | undefined> {
    const l = this.layout(r);
    const state = this.#state(r.id);
    if (!l || !state) return undefined;
    const repo = l.kind === "worktree" ? l.commonDir : l.repo;
    const ns = `refs/nexus/workspaces/${r.id}`;
    // Taken before the workspace's refs are read: a commit made inside while this sync runs then
    // still differs from what is saved, and the next check syncs it.
    const ownBefore = await this.#ownFingerprint(r, l, state);
    const treeBefore = state.remote ? undefined : refTreeFingerprint(l);
    const inside = await this.#wire.insideRefs(r);
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
      await this.#wire.fetchBundle(r, repo, [...missing].map(([to, w]) => ({ to, from: w.from })), exclude);
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
        if (state.remote) await this.#wire.sendObjects(r, repo, ref, wsTip);
        const note = await this.#wire.moveInside(r, l.branch, wsTip, hTip);
        Object.assign(result, { moved: "to-workspace", tip: hTip, ...(note ? { note } : {}) });
        base = hTip;
      } else {
        // Both moved apart: nothing is moved; the workspace's tip is safe under the namespace.
        await git(repo, ["update-ref", "-m", `nexus: diverged in workspace ${r.name}`, `${ns}/heads/${l.branch}`, wsTip]);
        result.moved = "diverged";
        this.#d.log.warn(`${r.name}: ${l.branch} moved on the host and in the workspace; neither was moved. The workspace's tip ${wsTip.slice(0, 12)} is kept at ${ns}/heads/${l.branch}: merge or rebase it, then sync again`);
      }
    } else if (wsTip) {
      base = wsTip;
    }
    if (result.note) this.#d.log.warn(`${r.name}: ${result.note}`);
    if (result.moved === "to-host" || result.moved === "to-workspace") this.#d.log.info(`${r.name}: ${l.branch} ${result.moved} at ${result.tip!.slice(0, 12)}`);
    // The host side is taken after this sync's own ref moves, so they do not trigger another one;
    // the workspace side too when this sync moved its branch.
    const own = result.moved === "to-workspace" ? await this.#ownFingerprint(r, l, state) : ownBefore;
    // A branch moved inside carries HEAD with it when HEAD was on its old tip.
    const insideHead = result.moved === "to-workspace" && inside.head === wsTip ? result.tip : inside.head;
    this.#saveState(r.id, {
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

  /**
   * Before destroy: the workspace's commits reach the host (running), or destroy refuses without
   * --force when they may not have (stopped with refs moved since the last sync), or when commits
   * made inside sit only under the namespace (on no branch and no remote). Answers how many such
   * commits there are (a clone holding them is kept).
   */
  async beforeDestroy(r: WorkspaceRecord, opts: { force: boolean; running: boolean }): Promise<number> {
    const l = this.layout(r);
    if (!l) return 0;
    if (opts.running) {
      try {
        await this.sync(r);
      } catch (err) {
        if (!opts.force) {
          throw new NexusError("INVALID_STATE", `Could not bring the commits of workspace '${r.name}' to the host: ${(err as Error).message}`, {
            suggestion: `Fix the cause and destroy again, or run 'nexus destroy ${r.name} --force' to discard them`,
            details: { workspaceName: r.name },
          });
        }
        this.#d.log.warn(`${r.name}: destroy --force: its commits could not be brought to the host: ${(err as Error).message}`);
      }
    } else if (!opts.force && (this.#state(r.id)?.remote ? this.#state(r.id)?.failed : refsFingerprint(l, "own") !== this.#state(r.id)?.ownFingerprint)) {
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
   * After the container is gone: removes the own git dir, and the namespace refs unless they hold
   * commits nowhere else (then they stay, and the log says where).
   */
  async remove(r: WorkspaceRecord, image: string): Promise<void> {
    const l = this.layout(r);
    const dir = this.ownDir(r.id);
    if (l) {
      const repo = l.kind === "worktree" ? l.commonDir : l.repo;
      if (existsSync(repo)) {
        const only = await namespaceOnlyCommits(repo, r.id).catch(() => 1);
        if (only === 0) {
          for (const ref of (await refMap(repo, [`refs/nexus/workspaces/${r.id}`])).keys()) await runGit(["update-ref", "-d", ref], repo);
        } else {
          this.#d.log.info(`${r.name}: ${only} commit(s) made inside are kept at refs/nexus/workspaces/${r.id}/ in ${repo}`);
        }
      }
    }
    if (!existsSync(dir)) return;
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Files made with sudo inside are root's: a throwaway root container removes them.
      await this.#d.runOneOff(
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
      ).catch((err: Error) => this.#d.log.warn(`${r.name}: could not empty ${dir}: ${err.message}`));
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Whether `l` is the layout layout() makes for `r` and `s` (the own dir's path and existence aside). */
function layoutHolds(l: OwnGitLayout, r: WorkspaceRecord, s: SyncState): boolean {
  if (!r.repository || l.kind !== s.kind || l.branch !== s.branch || l.commonDir !== r.repository.gitCommonDir) return false;
  return l.kind === "worktree" ? !!r.worktree && !!s.adminName && l.adminName === s.adminName && l.worktree === r.worktree.path : l.repo === r.repository.path;
}

function sameLayout(a: OwnGitLayout, b: OwnGitLayout): boolean {
  if (a.dir !== b.dir || a.commonDir !== b.commonDir || a.branch !== b.branch) return false;
  if (a.kind === "worktree") return b.kind === "worktree" && a.adminName === b.adminName && a.worktree === b.worktree;
  return b.kind === "repo" && a.repo === b.repo;
}
