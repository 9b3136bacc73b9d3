// The mutagen provider: when the `mutagen` binary is on PATH (the spec's default provider), the
// daemon drives its CLI: one mutagen sync session per workspace, named nexus-<workspace id>,
// reaching the container through this session's ssh wrapper (MUTAGEN_SSH_PATH). Mutagen keeps a
// conflict in place on both sides and lists it; `resolve` copies the winner's version over the
// other's. Only the command lines are tested here (mutagen is not installed on the test machine).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import type { SyncConfig } from "./config.ts";
import { collect, ProcessTracker } from "./processes.ts";
import type { PersistedSync, SessionContext, SessionStatus, SyncSession } from "./provider.ts";
import { SSH_ALIAS, writeSshFiles } from "./ssh-files.ts";
import type { SyncSide } from "./types.ts";
import { checkRelativePath } from "./conflict-paths.ts";

export function mutagenSessionName(workspaceId: string): string {
  return `nexus-${workspaceId}`.replace(/[^A-Za-z0-9-]/g, "-");
}

/** `mutagen sync create` for a workspace (pure: unit-tested). */
export function mutagenCreateArgs(s: Pick<PersistedSync, "workspaceId" | "hostPath" | "remotePath" | "config">): string[] {
  const c: SyncConfig = s.config;
  // Mutagen's two-way-resolved lets alpha overwrite beta without a copy: conflicts stay listed instead (two-way-safe).
  const mode = c.mode.startsWith("two-way") ? "two-way-safe" : c.mode;
  const args = ["sync", "create", "--name", mutagenSessionName(s.workspaceId), "--label", `nexus-workspace=${s.workspaceId}`, "--sync-mode", mode];
  for (const p of c.exclude) args.push("--ignore", p);
  args.push("--watch-mode", c.watchMode === "poll" ? "force-poll" : "portable", "--watch-polling-interval", String(Math.max(1, Math.round(c.pollingIntervalMs / 1000))));
  if (c.maxEntryCount !== undefined) args.push("--max-entry-count", String(c.maxEntryCount));
  // The remote end is the ssh alias of this session's own ssh_config (key, pinned host key).
  args.push(s.hostPath, `${SSH_ALIAS}:${s.remotePath}`);
  return args;
}

export const mutagenArgs = {
  pause: (id: string) => ["sync", "pause", mutagenSessionName(id)],
  resume: (id: string) => ["sync", "resume", mutagenSessionName(id)],
  flush: (id: string) => ["sync", "flush", mutagenSessionName(id)],
  terminate: (id: string) => ["sync", "terminate", mutagenSessionName(id)],
  list: (id: string) => ["sync", "list", "--template", "{{json .}}", mutagenSessionName(id)],
};

interface MutagenListed {
  identifier?: string;
  status?: string;
  paused?: boolean;
  lastError?: string;
  successfulCycles?: number;
  conflicts?: Array<{ root?: string; alphaChanges?: Array<{ path?: string; new?: unknown }>; betaChanges?: Array<{ path?: string; new?: unknown }> }>;
  alpha?: { files?: number; totalFileSize?: number };
}

/** The JSON `mutagen sync list --template '{{json .}}'` prints, as a status and conflict list. */
export function parseMutagenList(text: string): MutagenListed | undefined {
  try {
    const v = JSON.parse(text) as MutagenListed | MutagenListed[];
    return Array.isArray(v) ? v[0] : v;
  } catch {
    return undefined;
  }
}

export class MutagenSession implements SyncSession {
  readonly state: PersistedSync;
  readonly #ctx: SessionContext;
  readonly #binary: string;
  readonly #procs: ProcessTracker;
  #ssh = "";
  #last: MutagenListed | undefined;

  constructor(state: PersistedSync, ctx: SessionContext, binary: string) {
    this.state = state;
    this.#ctx = ctx;
    this.#binary = binary;
    this.#procs = new ProcessTracker(ctx.dir);
  }

  async #run(args: string[], what: string): Promise<string> {
    const r = await collect(this.#procs, this.#binary, args, { env: { ...process.env, MUTAGEN_SSH_PATH: this.#ctx.dir }, timeoutMs: 10 * 60_000 });
    if (r.code !== 0) throw new NexusError("SYNC_SESSION_FAILED", `mutagen ${what} failed: ${r.output.trim().split("\n").pop() ?? ""}`, { suggestion: "Run 'mutagen sync list' for mutagen's own view", details: { args } });
    return r.stdout.toString("utf8");
  }

  async start(): Promise<void> {
    mkdirSync(this.#ctx.dir, { recursive: true, mode: 0o700 });
    this.#ssh = writeSshFiles(this.#ctx.dir, this.state.endpoint).ssh;
    // mutagen looks for `ssh` and `scp` in MUTAGEN_SSH_PATH.
    writeFileSync(join(this.#ctx.dir, "scp"), readFileSync(this.#ssh, "utf8").replace("exec ssh ", "exec scp "), { mode: 0o700 });
    const listed = parseMutagenList(await this.#run(mutagenArgs.list(this.state.workspaceId), "list").catch(() => ""));
    if (!listed) await this.#run(mutagenCreateArgs(this.state), "create");
    if (this.state.paused) await this.#run(mutagenArgs.pause(this.state.workspaceId), "pause");
    else await this.#run(mutagenArgs.flush(this.state.workspaceId), "flush");
    await this.#refresh();
  }
  async stop(): Promise<void> {
    // The mutagen daemon keeps syncing while Nexus is away; detach terminates it (manager).
  }
  async terminate(): Promise<void> {
    await this.#run(mutagenArgs.terminate(this.state.workspaceId), "terminate").catch(() => undefined);
  }
  async pause(): Promise<void> {
    await this.#run(mutagenArgs.pause(this.state.workspaceId), "pause");
    this.state.paused = true;
    this.#ctx.save();
  }
  async resume(): Promise<void> {
    await this.#run(mutagenArgs.resume(this.state.workspaceId), "resume");
    this.state.paused = false;
    this.#ctx.save();
    await this.#run(mutagenArgs.flush(this.state.workspaceId), "flush");
  }
  async flush(): Promise<void> {
    if (this.state.paused) throw new NexusError("SYNC_PAUSED", "File sync is paused", { suggestion: "Resume it with 'nexus sync resume <workspace>'" });
    await this.#run(mutagenArgs.flush(this.state.workspaceId), "flush");
    await this.#refresh();
    if (this.state.conflicts.length > 0) throw new NexusError("SYNC_CONFLICT", `${this.state.conflicts.length} path(s) changed on both sides`, { suggestion: "List them with 'nexus sync conflicts <workspace>', then resolve each", details: { paths: this.state.conflicts.map((c) => c.path) } });
    this.state.lastSyncAt = new Date().toISOString();
    this.#ctx.save();
  }
  async #refresh(): Promise<void> {
    this.#last = parseMutagenList(await this.#run(mutagenArgs.list(this.state.workspaceId), "list"));
    const now = new Date().toISOString();
    this.state.conflicts = (this.#last?.conflicts ?? []).map((c) => ({
      path: c.root ?? "",
      type: "edit-edit",
      alphaState: c.alphaChanges?.some((x) => x.new == null) ? "deleted" : "modified",
      betaState: c.betaChanges?.some((x) => x.new == null) ? "deleted" : "modified",
      detectedAt: this.state.conflicts.find((o) => o.path === c.root)?.detectedAt ?? now,
      winner: null,
      copyPath: null,
    }));
    this.state.error = this.#last?.lastError || null;
    this.#ctx.save();
  }
  status(): SessionStatus {
    const files = this.#last?.alpha?.files ?? 0;
    return {
      provider: "mutagen",
      status: this.state.paused ? "paused" : this.state.error ? "error" : "syncing",
      sessionId: mutagenSessionName(this.state.workspaceId),
      stats: { filesTotal: files, filesSynced: files, conflicts: this.state.conflicts.length, bytesTransferred: this.state.bytesTransferred },
      lastSyncAt: this.state.lastSyncAt,
      error: this.state.error,
    };
  }
  async resolve(rawPath: string, winner: SyncSide): Promise<void> {
    const path = checkRelativePath(rawPath);
    if (!this.state.conflicts.some((c) => c.path === path)) throw new NexusError("NOT_FOUND", `No sync conflict at '${path}'`, { suggestion: "List conflicts with 'nexus sync conflicts <workspace>'" });
    const remote = `${this.state.remotePath}/${path}`.replace(/'/g, `'\\''`);
    const local = join(this.state.hostPath, path);
    // The winner's bytes over the loser's; mutagen then sees both sides equal.
    if (winner === "host") await collect(this.#procs, this.#ssh, [SSH_ALIAS, `cat > '${remote}'`], { input: readFileSync(local) });
    else writeFileSync(local, (await collect(this.#procs, this.#ssh, [SSH_ALIAS, `cat '${remote}'`])).stdout);
    await this.flush().catch(() => undefined);
    await this.#refresh();
  }
}
