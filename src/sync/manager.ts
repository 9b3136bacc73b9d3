/**
 * SyncManager: keeps a workspace's worktree on this machine and its container's tree in step, for
 * workspaces whose engine cannot bind-mount the worktree (a remote engine). Local-engine workspaces
 * need none of it (provider `bind`, see src/core/sync/service.ts). The core reaches it through
 * SyncService (src/core/sync/service.ts): its check(), attach(record, endpoint, progress),
 * suspend(record) and detach(record) are what remote create, start, stop and destroy call.
 *
 *   const m = new SyncManager({ dir: join(paths.home, "sync"), env: process.env, log });
 *   m.check(config);              // SYNC_PROVIDER_NOT_FOUND before anything is made
 *   await m.restore();            // daemon start: every persisted session again, each with a full pass
 *   await m.attach(workspaceId, { hostPath, remotePath: "/workspace",
 *                                 endpoint: { host, port, user, identityFile, knownHosts, hostKeyAlias },
 *                                 config: syncConfigFrom(config.sync) });   // resolves after the first full pass
 *   m.has(id); m.status(id); await m.pause(id); await m.resume(id);
 *   await m.flush(id);            // resolves once both sides agree
 *   m.conflicts(id); await m.resolve(id, "src/a.ts", "host" | "workspace");
 *   await m.suspend(id);          // workspace stopped: stop watching, keep the state (attach again at start)
 *   await m.detach(id);           // workspace destroyed: stop and forget
 *   await m.shutdown();           // daemon exit: stop watching, keep every state
 *
 * Errors (NexusError): SYNC_PROVIDER_NOT_FOUND (attach: neither mutagen nor unison here; nothing is
 * left behind), SYNC_PAUSED (flush/resolve while paused), SYNC_CONFLICT (flush with a conflict
 * neither side won), SYNC_SESSION_FAILED (the provider failed), NOT_FOUND (no session / no such
 * conflict). State lives in <dir>/<workspace id>/ (state.json, written atomically; unison's
 * archives; the ssh files), so a daemon killed with SIGKILL resumes with nothing lost.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { chooseProvider } from "./detect.ts";
import { MutagenSession } from "./mutagen.ts";
import { endOrphans } from "./processes.ts";
import { MIRROR_MARKER, type PersistedSync, type SessionContext, type SyncSession } from "./provider.ts";
import type { SyncConfig } from "./config.ts";
import type { AttachOptions, SyncConflict, SyncSide, SyncStatusView } from "./types.ts";
import { UnisonSession } from "./unison.ts";

export interface SyncManagerOptions {
  /** Where sessions keep their state: ~/.nexus/sync. */
  dir: string;
  env: Record<string, string | undefined>;
  log?: (message: string) => void;
  /** unison's fast route (fast-route.ts); default on. Off: every pass is a unison pass. */
  fastRoute?: boolean;
  /** Where each pass's time goes (bench/sync.ts). */
  trace?: (phase: string, ms: number) => void;
}

interface Entry {
  session: SyncSession;
  /** Set while a restored session waits to start (its workspace not reachable yet). */
  retry?: ReturnType<typeof setTimeout>;
}

const RESTART_MS = 15_000;

export class SyncManager {
  readonly #o: SyncManagerOptions;
  readonly #entries = new Map<string, Entry>();
  /** attach/detach/suspend of one workspace run one at a time. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(opts: SyncManagerOptions) {
    this.#o = opts;
  }

  #log(m: string): void {
    this.#o.log?.(m);
  }

  #sessionDir(id: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new NexusError("INVALID_ARGUMENT", `'${id}' is not a workspace id`);
    return join(this.#o.dir, id);
  }

  #serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.#locks.set(id, next);
    void next.catch(() => undefined).finally(() => {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    });
    return next;
  }

  #make(state: PersistedSync, binary: string): SyncSession {
    const dir = this.#sessionDir(state.workspaceId);
    const ctx: SessionContext = {
      dir,
      save: () => writeFileAtomic(join(dir, "state.json"), JSON.stringify(state, null, 2) + "\n"),
      log: (m) => this.#log(m),
      ...(this.#o.fastRoute === false ? { fastRoute: false } : {}),
      ...(this.#o.trace ? { trace: this.#o.trace } : {}),
    };
    return state.provider === "mutagen" ? new MutagenSession(state, ctx, binary) : new UnisonSession(state, ctx, binary);
  }

  /** SYNC_PROVIDER_NOT_FOUND unless a provider `config` allows is installed. */
  check(config: Pick<SyncConfig, "provider">): void {
    chooseProvider(config, this.#o.env);
  }

  /** Starts keeping the workspace in step; resolves after the first full pass. */
  attach(workspaceId: string, opts: AttachOptions): Promise<SyncStatusView> {
    return this.#serial(workspaceId, async () => {
      const dir = this.#sessionDir(workspaceId);
      const { provider, binary } = chooseProvider(opts.config, this.#o.env);
      const old = this.#entries.get(workspaceId);
      if (old) await this.#stopEntry(workspaceId, old);
      const previous = readState(dir);
      const remotePath = opts.remotePath ?? "/workspace";
      // The same trees again (a restart of the workspace): the archives, pause and conflicts carry over.
      const same = previous && previous.provider === provider && previous.hostPath === opts.hostPath && previous.remotePath === remotePath;
      const fresh = !existsSync(dir);
      const mirror = existsSync(join(dir, MIRROR_MARKER));
      if (previous && !same) rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // A restore's mirror (mirrorNext) outlives a change of session.
      if (mirror && !existsSync(join(dir, MIRROR_MARKER))) this.mirrorNext(workspaceId);
      const state: PersistedSync = {
        version: 1,
        workspaceId,
        provider,
        sessionId: same ? previous.sessionId : `${provider}-${workspaceId}`,
        hostPath: opts.hostPath,
        remotePath,
        endpoint: opts.endpoint,
        config: opts.config,
        paused: same ? previous.paused : false,
        conflicts: same ? previous.conflicts : [],
        lastSyncAt: same ? previous.lastSyncAt : null,
        bytesTransferred: same ? previous.bytesTransferred : 0,
        error: null,
      };
      const session = this.#make(state, binary);
      writeFileAtomic(join(dir, "state.json"), JSON.stringify(state, null, 2) + "\n");
      try {
        await endOrphans(dir);
        await session.start();
      } catch (err) {
        await session.stop().catch(() => undefined);
        // A first attach that failed leaves nothing behind; a re-attach keeps what it had.
        if (fresh) rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      this.#entries.set(workspaceId, { session });
      return this.#view(workspaceId, session);
    });
  }

  /** Daemon start: every persisted, not suspended session again, reconciled with a full pass. */
  async restore(): Promise<void> {
    let ids: string[];
    try {
      ids = readdirSync(this.#o.dir);
    } catch {
      return;
    }
    await Promise.all(
      ids.map(async (id) => {
        const state = readState(join(this.#o.dir, id));
        if (!state || state.suspended) return;
        await this.#serial(id, () => this.#startRestored(id, state));
      }),
    );
  }

  async #startRestored(id: string, state: PersistedSync): Promise<void> {
    let binary: string;
    try {
      binary = chooseProvider({ provider: state.provider }, this.#o.env).binary;
    } catch (err) {
      state.error = (err as Error).message;
      this.#entries.set(id, { session: this.#make(state, state.provider) });
      return;
    }
    const session = this.#make(state, binary);
    const entry: Entry = { session };
    this.#entries.set(id, entry);
    try {
      await endOrphans(this.#sessionDir(id));
      await session.start();
    } catch (err) {
      // Its workspace is not reachable yet (stopped, engine away): try again later, say why meanwhile.
      state.error = (err as Error).message;
      this.#log(`sync ${id}: cannot start yet (${state.error}); retrying in ${RESTART_MS / 1000} s`);
      await session.stop().catch(() => undefined);
      entry.retry = setTimeout(() => {
        if (this.#entries.get(id) !== entry) return;
        void this.#serial(id, () => this.#startRestored(id, state));
      }, RESTART_MS);
    }
  }

  has(workspaceId: string): boolean {
    return this.#entries.has(workspaceId);
  }

  /** A session that is not running (suspended: its workspace is stopped), as last persisted; undefined when none. */
  dormant(workspaceId: string): SyncStatusView | undefined {
    if (this.#entries.has(workspaceId)) return undefined;
    let state;
    try {
      state = readState(this.#sessionDir(workspaceId));
    } catch {
      return undefined;
    }
    if (!state) return undefined;
    return {
      workspaceId,
      provider: state.provider,
      status: "paused",
      sessionId: state.sessionId,
      stats: { filesTotal: 0, filesSynced: 0, conflicts: state.conflicts.length, bytesTransferred: state.bytesTransferred },
      lastSyncAt: state.lastSyncAt,
      error: "not running: the workspace is stopped (sync resumes with a full pass when it starts)",
    };
  }

  /** A dormant session's conflicts, as last persisted. */
  dormantConflicts(workspaceId: string): SyncConflict[] {
    try {
      return readState(this.#sessionDir(workspaceId))?.conflicts ?? [];
    } catch {
      return [];
    }
  }

  #entry(workspaceId: string): Entry {
    const e = this.#entries.get(workspaceId);
    if (!e) throw new NexusError("NOT_FOUND", `Workspace ${workspaceId} has no sync session`, { suggestion: "Its worktree is bind-mounted or it is not running" });
    return e;
  }

  #view(workspaceId: string, session: SyncSession): SyncStatusView {
    return { workspaceId, ...session.status() };
  }

  status(workspaceId: string): SyncStatusView {
    return this.#view(workspaceId, this.#entry(workspaceId).session);
  }

  async pause(workspaceId: string): Promise<SyncStatusView> {
    const { session } = this.#entry(workspaceId);
    await session.pause();
    return this.#view(workspaceId, session);
  }

  async resume(workspaceId: string): Promise<SyncStatusView> {
    const { session } = this.#entry(workspaceId);
    await session.resume();
    return this.#view(workspaceId, session);
  }

  async flush(workspaceId: string, timeoutMs?: number): Promise<{ flushed: true; durationMs: number }> {
    const { session } = this.#entry(workspaceId);
    const t0 = Date.now();
    await session.flush(timeoutMs);
    return { flushed: true, durationMs: Date.now() - t0 };
  }

  conflicts(workspaceId: string): SyncConflict[] {
    return [...this.#entry(workspaceId).session.state.conflicts];
  }

  async resolve(workspaceId: string, path: string, winner: SyncSide): Promise<void> {
    await this.#entry(workspaceId).session.resolve(path, winner);
  }

  async #stopEntry(id: string, e: Entry): Promise<void> {
    if (e.retry) clearTimeout(e.retry);
    this.#entries.delete(id);
    await e.session.stop();
  }

  /**
   * The workspace is stopped and its worktree here was put back (a checkpoint restore): the session's
   * next pass makes the workspace's tree equal to the worktree (this side wins every difference, and
   * both sides' archives are set aside), whatever changed on either side before. A marker file in the
   * session's folder says so until such a pass succeeds, so a daemon killed meanwhile still does it.
   */
  mirrorNext(workspaceId: string): void {
    const dir = this.#sessionDir(workspaceId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(dir, MIRROR_MARKER), `${new Date().toISOString()}\n`);
  }

  /** The workspace stopped: stop watching, keep the state; attach brings it back. */
  suspend(workspaceId: string): Promise<void> {
    return this.#serial(workspaceId, async () => {
      const e = this.#entries.get(workspaceId);
      if (e) await this.#stopEntry(workspaceId, e);
      const dir = this.#sessionDir(workspaceId);
      const state = readState(dir);
      if (state) writeFileAtomic(join(dir, "state.json"), JSON.stringify({ ...state, suspended: true }, null, 2) + "\n");
    });
  }

  /** The workspace is gone: stop and forget its session (mutagen's is terminated). */
  detach(workspaceId: string): Promise<void> {
    return this.#serial(workspaceId, async () => {
      const e = this.#entries.get(workspaceId);
      if (e) {
        await this.#stopEntry(workspaceId, e);
        if (e.session instanceof MutagenSession) await e.session.terminate();
      }
      const dir = this.#sessionDir(workspaceId);
      await endOrphans(dir);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  /** Daemon exit: every session stops watching; their state stays for the next start. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.#entries.entries()].map(([id, e]) => this.#stopEntry(id, e).catch(() => undefined)));
  }
}

/** A session's persisted state, or undefined when there is none (or it is unreadable). */
function readState(dir: string): (PersistedSync & { suspended?: boolean }) | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as PersistedSync & { suspended?: boolean };
    if (s.version !== 1 || typeof s.workspaceId !== "string" || typeof s.hostPath !== "string" || !s.endpoint || !s.config) return undefined;
    return s;
  } catch {
    return undefined;
  }
}
