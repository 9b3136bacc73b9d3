// Moves commits between a workspace's own git dir and the host repository (own-gitdir.ts says why
// the workspace has its own). The workspace side is untrusted: the daemon talks to it only through
// git commands run inside over SSH, and takes its commits as a bundle that the host's hardened git
// fetches (objects checked). No host git process ever runs with the workspace's git dir or config.
//
// This file is the one object the workspace service holds, and decides when a sync runs: after an
// exec whose refs moved (an lstat check, free otherwise), every few seconds while the daemon watches
// (interactive sessions, commits made on the host), before stop, and before destroy. One sync at a
// time per workspace. The parts:
//   - moves.ts: one sync, what moves which way;
//   - state.ts: what is kept about each workspace between syncs;
//   - layout.ts: which own git layout a workspace has;
//   - fingerprint.ts: whether refs moved since the last sync;
//   - make.ts: making the workspace's git; leave.ts: when the workspace goes;
//   - host.ts and wire.ts: git in the host repository, and inside over SSH.
//
// A workspace on a remote engine has its repository inside its volume instead (remote-git.ts): the
// same moves, with its refs' fingerprint read over SSH and the host's objects sent in as a bundle.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ContainerSpec } from "../../docker/container-engine.ts";
import { ownGitMounts, readIndexWhileStill, refsFingerprint, refTreeFingerprint, TREE_OVERFLOW, type Mount, type OwnGitLayout } from "../../git/own-gitdir.ts";
import type { ExecExit } from "../../ssh/pool.ts";
import type { NexusPaths } from "../../store/paths.ts";
import type { Logger } from "../log.ts";
import { KeyedMutex } from "../mutex.ts";
import type { WorkspaceRecord } from "../types.ts";
import { bothFingerprint } from "./fingerprint.ts";
import { layoutHolds, newLayout, sameLayout, savedLayout } from "./layout.ts";
import { commitsBeforeDestroy, removeOwnGit } from "./leave.ts";
import { makeOwnGit, makeRemoteGit, type MakeGitDeps } from "./make.ts";
import { syncRefs, type SyncResult } from "./moves.ts";
import { SyncStates } from "./state.ts";
import { WorkspaceGitWire } from "./wire.ts";
import { REMOTE_GIT_DIR } from "./remote-git.ts";

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

export class GitSync {
  readonly #d: GitSyncDeps;
  readonly #locks = new KeyedMutex();
  readonly #wire: WorkspaceGitWire;
  readonly #states: SyncStates;
  /** What the parts (make, moves, leave) are given: the deps with the wire and the states. */
  readonly #parts: MakeGitDeps;
  readonly #layouts = new Map<string, OwnGitLayout>();
  readonly #ownDirs = new Map<string, string>();

  constructor(deps: GitSyncDeps) {
    this.#d = deps;
    this.#wire = new WorkspaceGitWire(deps);
    this.#states = new SyncStates(deps.paths);
    this.#parts = { paths: deps.paths, log: deps.log, owner: deps.owner, wire: this.#wire, states: this.#states };
  }

  /** The workspace is gone: its state leaves memory (its file went with its folder). */
  forget(id: string): void {
    this.#states.forget(id);
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
    const s = this.#states.get(r.id);
    const dir = s?.remote ? REMOTE_GIT_DIR : this.ownDir(r.id);
    if (!s || !r.repository || (!s.remote && !existsSync(dir))) return undefined;
    const l = savedLayout(r, s, dir);
    return l && this.#kept(r.id, l);
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
    if (existsSync(dir) && !this.#states.get(r.id)) rmSync(dir, { recursive: true, force: true });
    const layout = newLayout(r, dir, this.#d.log);
    if (!layout) return;
    await makeOwnGit(this.#parts, r, layout);
  }

  /** A workspace on a remote engine, running and its files synced: its repository inside, when its volume has none (make.ts). */
  prepareRemote(r: WorkspaceRecord): Promise<void> {
    return makeRemoteGit(this.#parts, r);
  }

  /** The container's git mounts (none for a workspace without a repository: then nothing of a git dir is mounted). */
  mounts(r: WorkspaceRecord): Mount[] {
    const l = this.layout(r);
    return l && !this.#states.get(r.id)?.remote ? ownGitMounts(l) : [];
  }

  /** After an exec: syncs when refs moved on either side; never fails the exec. */
  async afterExec(r: WorkspaceRecord): Promise<void> {
    // The usual case, nothing moved: the lstats alone, on the layout made last time while it is the
    // one layout() would make now (its own dir's existence aside: a dir gone reads "-" here, which no
    // saved fingerprint holds, so that goes the long way below as before).
    const saved = this.#states.get(r.id);
    const last = this.#layouts.get(r.id);
    if (saved && !saved.remote && last && last.dir === this.ownDir(r.id) && layoutHolds(last, r, saved) && refsFingerprint(last) === saved.fingerprint) return;
    const l = this.layout(r);
    const s = this.#states.get(r.id);
    if (!l || !s) return;
    try {
      if ((await bothFingerprint(this.#wire, r, l, s)) === s.fingerprint) return;
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
    const s = this.#states.get(r.id);
    if (!s?.insideHead || (await bothFingerprint(this.#wire, r, l, s)) !== s.fingerprint) await this.sync(r);
    const head = this.#states.get(r.id)?.insideHead;
    return head ? { insideHead: head } : {};
  }

  /** The own git index read on the host; only while no process of the workspace runs (own-gitdir.ts). */
  readIndexWhileStill(r: WorkspaceRecord): ReturnType<typeof readIndexWhileStill> {
    const l = this.layout(r);
    return l && !this.#states.get(r.id)?.remote ? readIndexWhileStill(l) : undefined;
  }

  /**
   * Where the workspace's own index is inside its container. A checkpoint copies that file out and
   * back through the engine's archive API, which resolves the path in the container's view: the
   * daemon itself never opens a file of the own git dir (untrusted).
   */
  indexPathInside(r: WorkspaceRecord): string | undefined {
    const l = this.layout(r);
    if (!l || this.#states.get(r.id)?.remote) return undefined;
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
      const s = this.#states.get(r.id);
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

  /** A sync, and a failure noted in the state (destroy of a stopped remote workspace reads it). */
  async #syncNoting(r: WorkspaceRecord): Promise<SyncResult | undefined> {
    try {
      const l = this.layout(r);
      const state = this.#states.get(r.id);
      if (!l || !state) return undefined;
      return await syncRefs(this.#parts, r, l, state);
    } catch (err) {
      const s = this.#states.get(r.id);
      if (s && !s.failed) this.#states.save(r.id, { ...s, failed: true });
      throw err;
    }
  }

  /** Before destroy: the workspace's commits reach the host or destroy refuses (leave.ts); how many sit only under the namespace. */
  async beforeDestroy(r: WorkspaceRecord, opts: { force: boolean; running: boolean }): Promise<number> {
    const l = this.layout(r);
    if (!l) return 0;
    return commitsBeforeDestroy(this.#parts, r, l, opts, () => this.sync(r));
  }

  /** After the container is gone: the own git dir and the namespace refs go (leave.ts). */
  async remove(r: WorkspaceRecord, image: string): Promise<void> {
    return removeOwnGit(this.#d, r, this.layout(r), this.ownDir(r.id), image);
  }
}
