// The unison provider, driven by the daemon: the worktree is watched with fs.watch, the container
// with `inotifywait -m -r` over ssh; a burst of events becomes one `unison -batch` pass (debounced
// ~50 ms). Conflicts follow sync.conflict.strategy, and -copyonconflict keeps the losing version
// beside the winner, so a conflict is two visible files, never a silent overwrite. No `-repeat
// watch`: Debian's unison ships no fsmonitor.
import { existsSync, watch, type FSWatcher, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { basename, dirname, extname, isAbsolute, join, normalize, sep } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import { excludeRegex, unisonIgnore, type SyncConfig } from "./config.ts";
import { countFiles } from "./count.ts";
import { debounce, type Debouncer } from "./debounce.ts";
import { collect, ProcessTracker } from "./processes.ts";
import { MIRROR_MARKER, type PersistedSync, type SessionContext, type SessionStatus, type SyncSession } from "./provider.ts";
import { SSH_ALIAS, writeSshFiles } from "./ssh-files.ts";
import type { SyncSide } from "./types.ts";
import { parseUnisonOutput, type UnisonRun } from "./unison-output.ts";

/** Quiet time after the last event before a pass. */
export const DEBOUNCE_MS = 50;
/**
 * A pass limited to the paths the watchers named (unison scans only those, not the whole tree: the
 * lag then no longer grows with the tree). More paths than this, or an event without a name, and
 * the pass is a full one.
 */
const MAX_PATHS = 64;

/** A pass now and then even when no event came (an event lost to a full inotify queue, a watcher that died). */
const SAFETY_PASS_MS = 30_000;
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];
/** Stable names for unison's archives: a container's hostname changes when it is made again. */
const HOST_NAME = "nexus-host";
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

/** Where unison put the copy of a conflicting file: `name (conflict_on_DATE).ext`, the newest one. */
export function findConflictCopy(root: string, path: string): string | null {
  const dir = dirname(path);
  const ext = extname(path);
  const stem = basename(path, ext);
  let best: { name: string; mtime: number } | null = null;
  let names: string[];
  try {
    names = readdirSync(join(root, dir));
  } catch {
    return null;
  }
  for (const name of names) {
    if (!name.startsWith(`${stem} (conflict_on_`) || !name.endsWith(`)${ext}`)) continue;
    const mtime = statSync(join(root, dir, name)).mtimeMs;
    if (!best || mtime > best.mtime) best = { name, mtime };
  }
  return best ? (dir === "." ? best.name : `${dir}/${best.name}`) : null;
}

/** A conflict path from a caller: relative, inside the tree. */
export function checkRelativePath(path: string): string {
  const p = normalize(path).replace(/\/+$/, "");
  if (!p || p === "." || isAbsolute(p) || p === ".." || p.startsWith(`..${sep}`)) {
    throw new NexusError("INVALID_ARGUMENT", `'${path}' is not a path inside the workspace`, { suggestion: "Give the path relative to the worktree, as 'nexus sync conflicts' lists it" });
  }
  return p;
}

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
  /** Paths changed since the last pass began, relative to the roots; "all" when a pass must see everything. */
  #changed: Set<string> | "all" = "all";

  constructor(state: PersistedSync, ctx: SessionContext, binary = "unison") {
    this.state = state;
    this.#ctx = ctx;
    this.#binary = binary;
    this.#procs = new ProcessTracker(ctx.dir);
    this.#exclude = excludeRegex(state.config.exclude);
    this.#debounce = debounce(() => void this.#request(), DEBOUNCE_MS);
  }

  /** A changed path for the next pass (undefined: unknown, the next pass is a full one). */
  #note(path: string | undefined): void {
    if (this.#changed === "all") return;
    if (path === undefined || path === "" || path.startsWith("../") || this.#changed.size >= MAX_PATHS) this.#changed = "all";
    else this.#changed.add(path);
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
    this.#stopped = false;
    if (this.state.paused) return;
    this.#watch();
    // Reconcile: whatever changed on either side while nobody watched (a daemon restart, a crash).
    await this.#requestAll();
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
    this.#changed = new Set();
    const marker = join(this.#ctx.dir, MIRROR_MARKER);
    const mirror = existsSync(marker);
    const paths = mirror || changed === "all" || changed.size === 0 ? undefined : [...changed].sort();
    let run: UnisonRun;
    try {
      run = await this.#unison(unisonArgs({ hostRoot: this.state.hostPath, remoteRoot: remoteRoot(this.state.remotePath), config: this.#config, sshCommand: this.#ssh, ...(paths ? { paths } : {}), ...(mirror ? { mirror } : {}) }));
    } catch (err) {
      run = { items: [], conflicts: [], propagated: [], skipped: [], failed: [], transferred: 0, fatal: (err as Error).message, nothingToDo: false };
    }
    this.#lastRun = run;
    if (run.fatal) {
      this.state.error = run.fatal;
      this.#changed = "all";
      this.#ctx.save();
      this.#scheduleRetry();
      return;
    }
    this.#failures = 0;
    this.#filesCache = null;
    if (mirror) {
      // Done: both sides are the worktree's files. Without archives unison names every difference a
      // conflict that -force settled: none is one, and what conflicted before is settled too.
      rmSync(marker, { force: true });
      run.conflicts = [];
      this.state.conflicts = [];
      this.#ctx.log(`sync ${this.state.workspaceId}: the workspace's tree now mirrors ${this.state.hostPath} (after a checkpoint restore)`);
    }
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
      for (const p of run.propagated) this.#note(p.path);
      this.#requested = true;
    }
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
    this.#note(name ?? undefined);
    this.#debounce.poke();
  }

  #watchRemote(): void {
    if (this.#stopped || this.state.paused) return;
    const root = this.state.remotePath;
    const names = this.state.config.exclude.filter((p) => !p.replace(/^\/+|\/+$/g, "").includes("/"));
    const regex = [...names.map((p) => `(^|/)${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}(/|$)`), "/\\.unison\\."].join("|");
    // The watcher ends with its ssh: when the daemon goes (even by SIGKILL), stdin closes, `cat` returns, inotifywait is killed.
    const script = [
      "command -v inotifywait >/dev/null 2>&1 || exit 127",
      `inotifywait -m -r -q -e modify,close_write,create,delete,move,attrib --format '%w%f' --exclude ${shq(regex)} ${shq(root)} & p=$!`,
      "cat >/dev/null; kill $p 2>/dev/null",
    ].join("; ");
    const child = this.#procs.spawn(this.#ssh, [SSH_ALIAS, "sh", "-c", shq(script)], { stdio: ["pipe", "pipe", "pipe"] });
    this.#remoteWatcher = child;
    let buf = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => {
      buf += b.toString("utf8");
      if (buf.includes("\n")) {
        const lines = buf.slice(0, buf.lastIndexOf("\n")).split("\n");
        buf = buf.slice(buf.lastIndexOf("\n") + 1);
        const prefix = root.replace(/\/+$/, "") + "/";
        for (const l of lines) this.#note(l.startsWith(prefix) ? l.slice(prefix.length).replace(/\/+$/, "") : undefined);
        this.#debounce.poke();
      }
    });
    child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString("utf8")).slice(-2000)));
    child.on("error", () => undefined);
    child.on("close", (code) => {
      if (this.#remoteWatcher !== child) return;
      this.#remoteWatcher = null;
      if (this.#stopped || this.state.paused) return;
      this.#ctx.log(`sync ${this.state.workspaceId}: the workspace's watcher ended (${code === 127 ? "no inotifywait in the image" : `exit ${code}: ${err.trim().slice(-300)}`}); polling until it is back`);
      if (code === 127) this.#pollFallback();
      else this.#scheduleRetry();
    });
  }

  #unwatch(): void {
    this.#debounce.cancel();
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
