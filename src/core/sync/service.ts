// File sync as every transport sees it (spec §3.1 File Sync): a workspace whose worktree is
// bind-mounted (the local engine) has provider `bind` — the same files on both sides, nothing to
// sync, pause refused, flush done at once, never a conflict; a workspace attached to the sync
// manager (a remote engine: src/sync/) answers from its session.
import * as v from "valibot";
import { NexusError } from "../../kernel/errors.ts";
import type { SyncManager } from "../../sync/manager.ts";
import type { SyncConflict, SyncEndpoint, SyncStatusView } from "../../sync/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { countFiles } from "../../sync/count.ts";
import { syncConfigFrom, type SyncConfig } from "../../sync/config.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";

/** POST /workspaces/{id}/sync/conflicts/resolve's body. gRPC's `resolution` alpha|beta maps onto it. */
export const ResolveConflictInput = v.strictObject({
  path: v.pipe(v.string("path must be a string"), v.minLength(1, "path must not be empty")),
  winner: v.picklist(["host", "workspace"], "winner must be host or workspace"),
});
export type ResolveConflictInput = v.InferOutput<typeof ResolveConflictInput>;

export interface SyncServiceDeps {
  /** The workspace a ref (id or name) names; throws WORKSPACE_NOT_FOUND. */
  resolve(ref: string): WorkspaceRecord;
  manager: SyncManager;
  /** The config's `sync:` block (validated by the config schema); default: the spec's defaults. */
  config?: unknown;
  /** After a flush of a remote workspace: its commits made inside reach the host's branch too (core/git-sync/service.ts). */
  syncGit?: (r: WorkspaceRecord) => Promise<unknown>;
}

const BIND_CACHE_MS = 5000;

export class SyncService {
  readonly #d: SyncServiceDeps;
  readonly #counts = new Map<string, { at: number; n: number }>();

  constructor(deps: SyncServiceDeps) {
    this.#d = deps;
  }

  /** The manager behind it. */
  get manager(): SyncManager {
    return this.#d.manager;
  }

  /** The `sync:` config with its defaults, as a session takes it. */
  get config(): SyncConfig {
    return syncConfigFrom(this.#d.config ?? {});
  }

  // ---- for remote workspaces: the shape of core/workspace's RemoteSync (check, attach, suspend, detach) ----

  /** SYNC_PROVIDER_NOT_FOUND (with how to install one) when neither mutagen nor unison is on this machine. */
  check(): void {
    this.#d.manager.check(this.config);
  }

  /**
   * Keeps the workspace's worktree (its record's mountPath) and its container's /workspace in step
   * from now on; resolves after the first full pass. Called by remote create and start.
   */
  async attach(r: WorkspaceRecord, endpoint: SyncEndpoint, progress: ProgressSink = () => {}): Promise<void> {
    const t0 = Date.now();
    progress({ phase: "sync", message: `Syncing ${r.mountPath} with /workspace` });
    // `.git` is never synced, whatever the config says: the worktree's `.git` file names a git dir on
    // this machine, and the workspace has a repository of its own there (core/git-sync/remote-git.ts).
    const config = this.config;
    if (!config.exclude.includes(".git")) config.exclude = [...config.exclude, ".git"];
    const s = await this.#d.manager.attach(r.id, { hostPath: r.mountPath, remotePath: "/workspace", endpoint, config });
    progress({ phase: "sync", message: `In step (${s.provider}, ${s.stats.filesTotal} files, ${((Date.now() - t0) / 1000).toFixed(1)}s)`, elapsedMs: Date.now() - t0 });
  }

  /** The workspace stops: stop watching, keep the state (attach again at start). */
  suspend(r: Pick<WorkspaceRecord, "id">): Promise<void> {
    return this.#d.manager.suspend(r.id);
  }

  /** The workspace is destroyed (or its create rolled back): stop and forget. */
  detach(r: Pick<WorkspaceRecord, "id">): Promise<void> {
    return this.#d.manager.detach(r.id);
  }

  /** A session whose workspace is stopped cannot pause, resume, flush or resolve: its container is not there. */
  #refuseDormant(r: WorkspaceRecord): void {
    if (this.#d.manager.has(r.id) || !this.#d.manager.dormant(r.id)) return;
    throw new NexusError("INVALID_STATE", `File sync of '${r.name}' is not running: the workspace is stopped`, { suggestion: `Start it with 'nexus start ${r.name}' (sync resumes with a full pass)`, details: { workspaceId: r.id } });
  }

  #bindFiles(r: WorkspaceRecord): number {
    const hit = this.#counts.get(r.id);
    if (hit && Date.now() - hit.at < BIND_CACHE_MS) return hit.n;
    const n = countFiles(r.mountPath, this.config.exclude);
    // Stale counts go at each miss: a destroyed workspace's count does not stay for the daemon's life.
    for (const [id, e] of this.#counts) if (Date.now() - e.at >= BIND_CACHE_MS) this.#counts.delete(id);
    this.#counts.set(r.id, { at: Date.now(), n });
    return n;
  }

  status(ref: string): SyncStatusView {
    const r = this.#d.resolve(ref);
    if (this.#d.manager.has(r.id)) return this.#d.manager.status(r.id);
    const dormant = this.#d.manager.dormant(r.id);
    if (dormant) return dormant;
    const n = this.#bindFiles(r);
    // One set of files seen from both sides: always in step, nothing ever transferred.
    return { workspaceId: r.id, provider: "bind", status: "syncing", sessionId: null, stats: { filesTotal: n, filesSynced: n, conflicts: 0, bytesTransferred: 0 }, lastSyncAt: null, error: null };
  }

  /** status.sync in the workspace's status (spec: GET /workspaces/{id}/status). */
  summary(r: WorkspaceRecord): { provider: string; status: string; lastSyncAt: string | null } {
    if (!this.#d.manager.has(r.id)) {
      const dormant = this.#d.manager.dormant(r.id);
      return dormant ? { provider: dormant.provider, status: dormant.status, lastSyncAt: dormant.lastSyncAt } : { provider: "bind", status: "syncing", lastSyncAt: null };
    }
    const s = this.#d.manager.status(r.id);
    return { provider: s.provider, status: s.status, lastSyncAt: s.lastSyncAt };
  }

  async pause(ref: string): Promise<SyncStatusView> {
    const r = this.#d.resolve(ref);
    this.#refuseDormant(r);
    if (!this.#d.manager.has(r.id)) throw bindRefuses("paused");
    return this.#d.manager.pause(r.id);
  }

  async resume(ref: string): Promise<SyncStatusView> {
    const r = this.#d.resolve(ref);
    this.#refuseDormant(r);
    // A bind mount is never paused: resuming it is already done.
    if (!this.#d.manager.has(r.id)) return this.status(r.id);
    return this.#d.manager.resume(r.id);
  }

  async flush(ref: string, opts: { timeoutSeconds?: number } = {}): Promise<{ flushed: true; durationMs: number }> {
    const r = this.#d.resolve(ref);
    this.#refuseDormant(r);
    // Both sides are the same files: they agree already.
    if (!this.#d.manager.has(r.id)) return { flushed: true, durationMs: 0 };
    const t0 = Date.now();
    await this.#d.manager.flush(r.id, opts.timeoutSeconds ? opts.timeoutSeconds * 1000 : undefined);
    // Commits made inside are part of "both sides agree": the host's branch takes them now.
    await this.#d.syncGit?.(r);
    return { flushed: true, durationMs: Date.now() - t0 };
  }

  conflicts(ref: string): { conflicts: SyncConflict[] } {
    const r = this.#d.resolve(ref);
    return { conflicts: this.#d.manager.has(r.id) ? this.#d.manager.conflicts(r.id) : this.#d.manager.dormantConflicts(r.id) };
  }

  async resolveConflict(ref: string, input: ResolveConflictInput): Promise<{ resolved: true; path: string }> {
    const r = this.#d.resolve(ref);
    this.#refuseDormant(r);
    if (!this.#d.manager.has(r.id)) {
      throw new NexusError("NOT_FOUND", `No sync conflict at '${input.path}': workspace '${r.name}' shares the worktree's files (provider bind), so there are none`, { suggestion: "Nothing to resolve", details: { path: input.path } });
    }
    await this.#d.manager.resolve(r.id, input.path, input.winner);
    return { resolved: true, path: input.path };
  }
}

function bindRefuses(what: string): NexusError {
  return new NexusError("INVALID_STATE", `File sync cannot be ${what}: this workspace's worktree is bind-mounted (provider bind), host and workspace see the same files`, {
    suggestion: "Nothing to do: edits are visible on both sides at once",
    details: { provider: "bind" },
  });
}
