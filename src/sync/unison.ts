// The unison provider, driven by the daemon: the worktree is watched with fs.watch, the container
// with `inotifywait -m -r` over ssh (workspace-watch.ts); a burst of events (debounced ~25 ms) first
// goes through the fast route (fast-route.ts: a small file changed on one side only is copied with
// a compare-and-swap through a long-lived shell inside), and what it leaves becomes one `unison
// -batch` pass. Conflicts follow sync.conflict.strategy, and -copyonconflict keeps the losing
// version beside the winner, so a conflict is two visible files, never a silent overwrite. No
// `-repeat watch`: Debian's unison ships no fsmonitor.
import { existsSync, watch, type FSWatcher, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import { excludeRegex, type SyncConfig } from "./config.ts";
import { countFiles } from "./count.ts";
import { debounce, type Debouncer } from "./debounce.ts";
import { FastRoute } from "./fast-route.ts";
import { AutoInside, type InsideFiles } from "./inside-files.ts";
import { collect, ProcessTracker } from "./processes.ts";
import { MIRROR_MARKER, type PersistedSync, type SessionContext, type SessionStatus, type SyncSession } from "./provider.ts";
import { SSH_ALIAS, writeSshFiles } from "./ssh-files.ts";
import type { SyncSide } from "./types.ts";
import { parseUnisonOutput, type UnisonRun } from "./unison-output.ts";
import { watchWorkspace } from "./workspace-watch.ts";
import { checkRelativePath, findConflictCopy } from "./conflict-paths.ts";
import { HOST_NAME, remoteRoot, unisonArgs } from "./unison-args.ts";

export { checkRelativePath, findConflictCopy, remoteRoot, unisonArgs };

/** Quiet time after the last event before a pass. */
export const DEBOUNCE_MS = 25;
/** Quiet time after the fast route copied files before a unison pass over them records them in its archives. */
const CONFIRM_MS = 1000;
/**
 * A pass limited to the paths the watchers named (unison scans only those, not the whole tree: the
 * lag then no longer grows with the tree). More paths than this, or an event without a name, and
 * the pass is a full one.
 */
const MAX_PATHS = 64;

/** A pass now and then even when no event came (an event lost to a full inotify queue, a watcher that died). */
const SAFETY_PASS_MS = 30_000;
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export class UnisonSession implements SyncSession {
  readonly state: PersistedSync;
  readonly #ctx: SessionContext;
  readonly #binary: string;
  readonly #procs: ProcessTracker;
  readonly #exclude: RegExp | undefined;
  #ssh = "";
  #requested = false;
  #loop: Promise<void> | null = null;
  #stopped = true;
  #lastRun: UnisonRun | null = null;
  #debounce: Debouncer;
  #hostWatcher: FSWatcher | null = null;
  #remoteWatcher: ChildProcess | null = null;
  #timers: Array<ReturnType<typeof setInterval>> = [];
  #retry: ReturnType<typeof setTimeout> | null = null;
  #failures = 0;
  #filesCache: { at: number; count: number } | null = null;
  /** Paths changed since the last pass began (relative to the roots, with the watchers that named them); "all": a pass must see everything. */
  #changed: Map<string, Set<SyncSide>> | "all" = "all";
  #agent: InsideFiles | null = null;
  #fast: FastRoute | null = null;
  /** Paths the fast route copied that no unison pass has seen since (its archives do not know them yet). */
  #unconfirmed = new Set<string>();
  #confirmDue = false;
  /** When the first event since the last pass began came (the trace's "waited": debounce and draining). */
  #firstEventAt: number | null = null;
  #confirmTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(state: PersistedSync, ctx: SessionContext, binary = "unison") {
    this.state = state;
    this.#ctx = ctx;
    this.#binary = binary;
    this.#procs = new ProcessTracker(ctx.dir);
    this.#exclude = excludeRegex(state.config.exclude);
    this.#debounce = debounce(() => void this.#request(), DEBOUNCE_MS);
  }

  /** A changed path for the next pass, and who saw it (undefined: unknown, the next pass is a full one). */
  #note(path: string | undefined, side: SyncSide): void {
    this.#firstEventAt ??= performance.now();
    if (this.#changed === "all") return;
    if (path === undefined || path === "" || path.startsWith("../") || (this.#changed.size >= MAX_PATHS && !this.#changed.has(path))) this.#changed = "all";
    else {
      const sides = this.#changed.get(path) ?? new Set<SyncSide>();
      sides.add(side);
      this.#changed.set(path, sides);
    }
  }

  /** Asks for a full pass (flush, reconcile, polling, a retry): nothing can be taken as unchanged. */
  #requestAll(): Promise<void> {
    this.#changed = "all";
    return this.#request();
  }

  get #config(): SyncConfig {
    return this.state.config;
  }

  async start(): Promise<void> {
    mkdirSync(this.#ctx.dir, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.#ctx.dir, "unison"), { recursive: true, mode: 0o700 });
    mkdirSync(this.state.hostPath, { recursive: true });
    this.#ssh = writeSshFiles(this.#ctx.dir, this.state.endpoint).ssh;
    await this.#preflight();
    if (this.#ctx.fastRoute !== false) {
      this.#agent = new AutoInside(this.#procs, this.#ssh, [SSH_ALIAS]);
      this.#fast = new FastRoute(this.#agent, this.state.hostPath, this.state.remotePath);
    }
    this.#stopped = false;
    if (this.state.paused) return;
    this.#watch();
    // Reconcile: whatever changed on either side while nobody watched (a daemon restart, a crash).
    await this.#requestAll();
    // The fast route's process inside is started now, not at the first edit.
    void this.#agent?.states(this.state.remotePath, []).catch(() => undefined);
    if (this.state.error) throw new NexusError("SYNC_SESSION_FAILED", `The first sync of ${this.state.hostPath} failed: ${this.state.error}`, { suggestion: "See 'nexus sync status'; the daemon retries by itself", details: { error: this.state.error } });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch();
    await this.#loop;
  }

  async pause(): Promise<void> {
    if (this.state.paused) return;
    this.state.paused = true;
    this.#ctx.save();
    this.#unwatch();
    await this.#loop;
  }

  async resume(): Promise<void> {
    if (!this.state.paused) return;
    this.state.paused = false;
    this.#ctx.save();
    if (this.#stopped) return;
    this.#watch();
    await this.#requestAll();
  }

  async flush(timeoutMs = 120_000): Promise<void> {
    if (this.state.paused) throw pausedError();
    const deadline = Date.now() + timeoutMs;
    // Passes until one finds nothing left to carry over: then both sides agree.
    for (;;) {
      await this.#requestAll();
      if (this.state.error) throw new NexusError("SYNC_SESSION_FAILED", `Sync failed: ${this.state.error}`, { suggestion: "Check that the workspace is running ('nexus status'); the daemon retries by itself", details: { error: this.state.error } });
      const run = this.#lastRun;
      const undecided = this.state.conflicts.filter((c) => c.winner === null);
      if (undecided.length > 0) {
        throw new NexusError("SYNC_CONFLICT", `${undecided.length} path(s) changed on both sides and neither version was chosen: ${undecided.slice(0, 5).map((c) => c.path).join(", ")}`, {
          suggestion: "List them with 'nexus sync conflicts <workspace>', then 'nexus sync resolve <workspace> PATH --winner host|workspace'",
          details: { paths: undecided.map((c) => c.path) },
        });
      }
      if (!run || run.transferred === 0) return;
      if (Date.now() > deadline) throw new NexusError("SYNC_SESSION_FAILED", "Flush timed out: files kept changing", { suggestion: "Try again when writes have settled" });
    }
  }

  status(): SessionStatus {
    const total = this.#countFiles();
    const pending = this.state.conflicts.filter((c) => c.winner === null).length;
    return {
      provider: "unison",
      status: this.state.paused ? "paused" : this.state.error ? "error" : "syncing",
      sessionId: this.state.sessionId,
      stats: { filesTotal: total, filesSynced: Math.max(0, total - pending), conflicts: this.state.conflicts.length, bytesTransferred: this.state.bytesTransferred },
      lastSyncAt: this.state.lastSyncAt,
      error: this.state.error,
    };
  }

  async resolve(rawPath: string, winner: SyncSide): Promise<void> {
    const path = checkRelativePath(rawPath);
    const conflict = this.state.conflicts.find((c) => c.path === path);
    if (!conflict) throw new NexusError("NOT_FOUND", `No sync conflict at '${path}'`, { suggestion: "List conflicts with 'nexus sync conflicts <workspace>'", details: { path } });
    if (this.state.paused) throw pausedError();
    const host = this.state.hostPath;
    await this.#exclusive(async () => {
      if (conflict.winner === null) {
        // Both sides kept their own version in place: the winner's is forced over the other.
        const run = await this.#unison(unisonArgs({ hostRoot: host, remoteRoot: remoteRoot(this.state.remotePath), config: this.#config, sshCommand: this.#ssh, only: { paths: [path], force: winner } }));
        if (run.fatal || run.failed.length > 0) throw new NexusError("SYNC_SESSION_FAILED", `Could not resolve '${path}': ${run.fatal ?? run.failed[0]!.reason}`, { suggestion: "Check that the workspace is running, then try again" });
      } else if (conflict.copyPath) {
        // The kept copy is on both sides: the wanted version becomes the file, the copy goes.
        const copy = join(host, conflict.copyPath);
        if (conflict.winner === winner) rmSync(copy, { force: true });
        else renameSync(copy, join(host, path));
      } else if (conflict.winner !== winner) {
        const run = await this.#unison(unisonArgs({ hostRoot: host, remoteRoot: remoteRoot(this.state.remotePath), config: this.#config, sshCommand: this.#ssh, only: { paths: [path], force: winner } }));
        if (run.fatal) throw new NexusError("SYNC_SESSION_FAILED", `Could not resolve '${path}': ${run.fatal}`, { suggestion: "Check that the workspace is running, then try again" });
      }
    });
    this.state.conflicts = this.state.conflicts.filter((c) => c !== conflict);
    this.#ctx.save();
    await this.#requestAll();
  }

  // ---- passes -----------------------------------------------------------------------------------

  /** Asks for a pass; settles when a pass that started after the call (and any it asked for) ended. */
  #request(): Promise<void> {
    this.#requested = true;
    if (!this.#loop) this.#loop = this.#drain().finally(() => (this.#loop = null));
    return this.#loop;
  }

  async #drain(): Promise<void> {
    while (this.#requested && !this.#stopped && !this.state.paused) {
      this.#requested = false;
      await this.#pass();
    }
  }

  /** Runs `fn` between passes (no pass runs meanwhile). */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const wasStopped = this.#stopped;
    this.#stopped = true;
    try {
      await this.#loop;
      return await fn();
    } finally {
      this.#stopped = wasStopped;
    }
  }

  async #pass(): Promise<void> {
    // What changed since the last pass began: events during this pass go to the next one.
    const changed = this.#changed;
    this.#changed = new Map();
    const trace = this.#ctx.trace;
    if (this.#firstEventAt !== null) trace?.("waited", performance.now() - this.#firstEventAt);
    this.#firstEventAt = null;
    const confirm = this.#confirmDue;
    this.#confirmDue = false;
    const marker = join(this.#ctx.dir, MIRROR_MARKER);
    const mirror = existsSync(marker);
    let paths = mirror || changed === "all" || (changed.size === 0 && !confirm) ? undefined : [...changed.keys()];
    if (paths && this.#fast && changed !== "all" && changed.size > 0) {
      const t = performance.now();
      const fast = await this.#fastRoute(changed);
      trace?.(fast?.length === 0 ? "fast route (settled all)" : "fast route", performance.now() - t);
      if (fast) paths = fast;
      if (paths.length === 0 && !confirm) return;
    }
    // Every pass that runs unison also confirms the fast route's copies (a few more paths cost little beside unison's start).
    if (paths) {
      paths = [...new Set([...paths, ...this.#unconfirmed])].sort();
      if (paths.length > MAX_PATHS) paths = undefined;
    }
    if (paths?.length === 0) return;
    const confirming = [...this.#unconfirmed];
    let run: UnisonRun;
    const t = performance.now();
    try {
      run = await this.#unison(unisonArgs({ hostRoot: this.state.hostPath, remoteRoot: remoteRoot(this.state.remotePath), config: this.#config, sshCommand: this.#ssh, ...(paths ? { paths } : {}), ...(mirror ? { mirror } : {}) }));
    } catch (err) {
      run = { items: [], conflicts: [], propagated: [], skipped: [], failed: [], transferred: 0, fatal: (err as Error).message, nothingToDo: false };
    }
    this.#lastRun = run;
    trace?.(paths ? "unison pass (limited)" : "unison pass (full)", performance.now() - t);
    if (run.fatal) {
      this.state.error = run.fatal;
      this.#changed = "all";
      this.#ctx.save();
      this.#scheduleRetry();
      return;
    }
    this.#failures = 0;
    this.#filesCache = null;
    for (const p of confirming) this.#unconfirmed.delete(p);
    if (mirror) {
      // Done: both sides are the worktree's files. Without archives unison names every difference a
      // conflict that -force settled: none is one, and what conflicted before is settled too.
      rmSync(marker, { force: true });
      run.conflicts = [];
      this.state.conflicts = [];
      this.#fast?.clear();
      this.#ctx.log(`sync ${this.state.workspaceId}: the workspace's tree now mirrors ${this.state.hostPath} (after a checkpoint restore)`);
    }
    // What unison moved or found in conflict is no longer known to be the same on both sides; what it saw is learnt again.
    this.#fast?.forget([...run.propagated.map((p) => p.path), ...run.conflicts.map((c) => c.path)]);
    if (paths) await this.#fast?.learn(paths);
    const now = new Date().toISOString();
    for (const p of run.propagated) {
      try {
        this.state.bytesTransferred += statSync(join(this.state.hostPath, p.path)).size;
      } catch {
        // Deleted, or a directory.
      }
    }
    this.#recordConflicts(run, now, paths);
    this.state.error = run.failed.length > 0 ? `${run.failed.length} path(s) failed: ${run.failed.slice(0, 3).map((f) => `${f.path} (${f.reason})`).join(", ")}` : null;
    this.state.lastSyncAt = now;
    this.#ctx.save();
    // What this pass carried over may have been edited meanwhile, and a copy made on one side reaches the other next pass.
    // (A conflict neither side won comes back in every pass: it asks for none.)
    if (run.conflicts.some((c) => c.winner !== null)) {
      this.#changed = "all";
      this.#requested = true;
    } else if (run.transferred > 0) {
      // Named by both sides: the fast route copies such a path only when one side still is what both agreed on.
      for (const p of run.propagated) {
        this.#note(p.path, "host");
        this.#note(p.path, "workspace");
      }
      this.#requested = true;
    }
  }

  /** The fast route over the named paths (fast-route.ts); answers what is left for unison, or null when it could not run. */
  async #fastRoute(changed: Map<string, Set<SyncSide>>): Promise<string[] | null> {
    if (!this.#fast) return null;
    const pending = new Set(this.state.conflicts.map((c) => c.path));
    const r = await this.#fast.route(changed, this.#config, (p) => pending.has(p) || (this.#exclude?.test(p) ?? false)).catch(() => null);
    if (!r) return null;
    if (r.copied.length > 0) {
      for (const c of r.copied) {
        this.#unconfirmed.add(c.path);
        this.state.bytesTransferred += c.bytes;
      }
      this.state.lastSyncAt = new Date().toISOString();
      this.#filesCache = null;
      this.#ctx.save();
    }
    if (this.#unconfirmed.size > 0) this.#scheduleConfirm();
    return r.unison;
  }

  /** A unison pass over the fast route's copies once edits have settled for CONFIRM_MS. */
  #scheduleConfirm(): void {
    if (this.#confirmTimer) clearTimeout(this.#confirmTimer);
    this.#confirmTimer = setTimeout(() => {
      this.#confirmTimer = null;
      if (this.#unconfirmed.size === 0 || this.#stopped || this.state.paused) return;
      this.#confirmDue = true;
      void this.#request();
    }, CONFIRM_MS);
  }

  #recordConflicts(run: UnisonRun, now: string, paths?: string[]): void {
    const seen = new Set<string>();
    for (const c of run.conflicts) {
      seen.add(c.path);
      const winner: SyncSide | null = c.winner === "left" ? "host" : c.winner === "right" ? "workspace" : null;
      const old = this.state.conflicts.find((x) => x.path === c.path);
      if (old && old.winner === null && winner === null) continue;
      this.state.conflicts = this.state.conflicts.filter((x) => x.path !== c.path);
      this.state.conflicts.push({ path: c.path, type: c.type, alphaState: c.alphaState, betaState: c.betaState, detectedAt: now, winner, copyPath: null });
    }
    // A conflict neither side won is listed again by every pass until it is settled (by resolve, or by both sides made equal).
    // A pass over some paths says nothing of a conflict elsewhere: it stays listed.
    const outside = (p: string) => paths !== undefined && !paths.some((x) => p === x || p.startsWith(`${x}/`));
    this.state.conflicts = this.state.conflicts.filter((c) => c.winner !== null || seen.has(c.path) || run.skipped.includes(c.path) || outside(c.path));
    for (const c of this.state.conflicts) {
      if (c.winner !== null && c.copyPath === null) c.copyPath = findConflictCopy(this.state.hostPath, c.path);
    }
  }

  async #unison(args: string[]): Promise<UnisonRun> {
    const env = { ...process.env, UNISON: join(this.#ctx.dir, "unison"), UNISONLOCALHOSTNAME: HOST_NAME };
    const r = await collect(this.#procs, this.#binary, args, { env, timeoutMs: 30 * 60_000 });
    const run = parseUnisonOutput(r.output);
    // Exit 3: fatal (nothing done); 2: some paths failed; 1: some skipped; 0: all done.
    if (r.code >= 3 && !run.fatal) run.fatal = lastLine(r.output) || `unison exited with ${r.code}`;
    return run;
  }

  #scheduleRetry(): void {
    if (this.#retry || this.#stopped || this.state.paused) return;
    const wait = RETRY_MS[Math.min(this.#failures, RETRY_MS.length - 1)]!;
    this.#failures++;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (!this.#stopped && !this.state.paused) {
        if (!this.#remoteWatcher) this.#watchRemote();
        void this.#requestAll();
      }
    }, wait);
  }

  // ---- watching ---------------------------------------------------------------------------------

  #watch(): void {
    const c = this.#config;
    if (c.watchMode === "poll") {
      this.#timers.push(setInterval(() => void this.#requestAll(), c.pollingIntervalMs));
      return;
    }
    this.#timers.push(setInterval(() => void this.#requestAll(), SAFETY_PASS_MS));
    try {
      this.#hostWatcher = watch(this.state.hostPath, { recursive: true }, (_event, name) => this.#onHostEvent(name === null ? null : String(name)));
      this.#hostWatcher.on("error", (err) => {
        this.#ctx.log(`sync ${this.state.workspaceId}: watching ${this.state.hostPath} failed (${err.message}); polling every ${c.pollingIntervalMs} ms`);
        this.#hostWatcher?.close();
        this.#hostWatcher = null;
        this.#pollFallback();
      });
    } catch (err) {
      this.#ctx.log(`sync ${this.state.workspaceId}: cannot watch ${this.state.hostPath} (${(err as Error).message}); polling every ${c.pollingIntervalMs} ms`);
      this.#pollFallback();
    }
    this.#watchRemote();
  }

  #pollFallback(): void {
    this.#timers.push(setInterval(() => void this.#requestAll(), this.#config.pollingIntervalMs));
  }

  #onHostEvent(name: string | null): void {
    if (name !== null) {
      // Unison's own temporary files come and go during every pass.
      if (/(^|\/)\.unison\./.test(name) || this.#exclude?.test(name)) return;
    }
    this.#note(name ?? undefined, "host");
    this.#debounce.poke();
  }

  #watchRemote(): void {
    if (this.#stopped || this.state.paused) return;
    const child = watchWorkspace(this.#procs, this.#ssh, this.state.remotePath, this.state.config.exclude, {
      paths: (paths) => {
        for (const p of paths) this.#note(p, "workspace");
        this.#debounce.poke();
      },
      closed: (code, err) => {
        if (this.#remoteWatcher !== child) return;
        this.#remoteWatcher = null;
        if (this.#stopped || this.state.paused) return;
        this.#ctx.log(`sync ${this.state.workspaceId}: the workspace's watcher ended (${code === 127 ? "no inotifywait in the image" : `exit ${code}: ${err.trim().slice(-300)}`}); polling until it is back`);
        if (code === 127) this.#pollFallback();
        else this.#scheduleRetry();
      },
    });
    this.#remoteWatcher = child;
  }

  #unwatch(): void {
    this.#debounce.cancel();
    if (this.#confirmTimer) clearTimeout(this.#confirmTimer);
    this.#confirmTimer = null;
    this.#agent?.close();
    this.#hostWatcher?.close();
    this.#hostWatcher = null;
    const w = this.#remoteWatcher;
    this.#remoteWatcher = null;
    if (w) {
      w.stdin?.end();
      w.kill("SIGTERM");
    }
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
  }

  /** The container answers over ssh, runs the same unison as this machine, and has the tree's folder. */
  async #preflight(): Promise<void> {
    const local = await collect(this.#procs, this.#binary, ["-version"]).catch((e: Error) => ({ code: 127, output: e.message }));
    if (local.code !== 0) throw new NexusError("SYNC_PROVIDER_NOT_FOUND", `unison does not run on this machine: ${local.output.trim()}`, { suggestion: "Install unison 2.52 (Debian/Ubuntu: 'sudo apt-get install unison')" });
    const remote = await collect(this.#procs, this.#ssh, [SSH_ALIAS, `mkdir -p -- ${shq(this.state.remotePath)} && { command -v unison >/dev/null || exit 127; } && unison -version`], { timeoutMs: 60_000 });
    if (remote.code === 127) throw new NexusError("SYNC_PROVIDER_NOT_FOUND", "The workspace image has no unison", { suggestion: "Use the Nexus workspace image (it carries unison 2.52), or install unison 2.52 in your image" });
    if (remote.code !== 0) throw new NexusError("SYNC_SESSION_FAILED", `Cannot reach the workspace over ssh for sync: ${lastLine(remote.output)}`, { suggestion: "Check that the workspace is running ('nexus status')", details: { port: this.state.endpoint.port } });
    const version = (s: string) => /unison version (\d+\.\d+)/i.exec(s)?.[1] ?? s.trim();
    if (version(local.output) !== version(remote.output)) {
      throw new NexusError("SYNC_SESSION_FAILED", `unison differs: ${version(local.output)} here, ${version(remote.output)} in the workspace`, { suggestion: "Install the same unison version on both sides (the image carries Debian bookworm's 2.52)" });
    }
  }

  #countFiles(): number {
    if (this.#filesCache && Date.now() - this.#filesCache.at < 2000) return this.#filesCache.count;
    const count = countFiles(this.state.hostPath, this.#exclude);
    this.#filesCache = { at: Date.now(), count };
    return count;
  }
}

function pausedError(): NexusError {
  return new NexusError("SYNC_PAUSED", "File sync is paused", { suggestion: "Resume it with 'nexus sync resume <workspace>'" });
}

function lastLine(s: string): string {
  return s.trim().split("\n").filter(Boolean).pop()?.trim() ?? "";
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
