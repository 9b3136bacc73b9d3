// Sessions (DESIGN §3 "sessions"): a shell or command under tmux inside the workspace's container,
// so it outlives the CLI and the daemon. The daemon drives tmux over the workspace's pooled SSH
// connection (list, capture, send keys, kill; attach on a pseudo-terminal channel). tmux is the
// truth; a small index per workspace (sessions.json) maps ids to workspaces and remembers the last
// view, for workspaces that are paused (frozen: nothing can be asked of them).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { NexusConfig } from "../../config/schema.ts";
import { buildCommandLine } from "../../ssh/quote.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { NexusPaths } from "../../store/paths.ts";
import { errors, NexusError } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { WorkspaceService } from "../workspaces.ts";
import { followOutput } from "./follow.ts";
import { killWithLogLine, newLoggedSessionLine } from "./output-log.ts";
import {
  attachLine,
  contentLines,
  historyLine,
  isMissing,
  listLine,
  newSessionId,
  paneStateLine,
  parseCapture,
  parseList,
  parseState,
  sendKeysLine,
  SESSION_ID,
  type TmuxSession,
  captureLine,
} from "./tmux.ts";
import type { AttachEnd, CreateSessionInput, SessionLogs, SessionView, TerminalAttach, TerminalSize } from "./types.ts";

export interface SessionServiceDeps {
  workspaces: WorkspaceService;
  paths: NexusPaths;
  config: NexusConfig;
  events: EventBus;
  log: Logger;
}

const DEFAULT_SIZE: TerminalSize = { cols: 120, rows: 40 };
/** How often running workspaces with sessions are looked at (last output, for idle detection). */
const REFRESH_INTERVAL_MS = 20_000;
/** History rows an attaching terminal is shown above the screen, unless asked otherwise. */
export const ATTACH_SCROLLBACK = 1000;

export function sessionNotFound(id: string): NexusError {
  return new NexusError("NOT_FOUND", `Session '${id}' doesn't exist`, {
    suggestion: "Run 'nexus sessions list' to see the sessions",
    details: { sessionId: id },
  });
}

export class SessionService {
  readonly #d: SessionServiceDeps;
  /** Terminal clients attached through this daemon, per workspace id. */
  readonly #attached = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #removeAwake: (() => void) | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: SessionServiceDeps) {
    this.#d = deps;
  }

  /** Counts sessions in idle detection and keeps the per-workspace views fresh; the daemon calls it once. */
  start(): void {
    this.#removeAwake = this.#d.workspaces.addAwakeSource((id) => this.#awakeReason(id));
    this.#unsubscribe = this.#d.events.subscribe((e) => {
      // A destroyed workspace took its container, and with it its sessions.
      if (e.type === "workspace.status" && e.payload.status === "destroyed") this.#attached.delete(e.payload.workspaceId);
    });
    this.#timer = setInterval(() => void this.#refreshAll(), REFRESH_INTERVAL_MS);
    this.#timer.unref?.();
  }

  shutdown(): void {
    clearInterval(this.#timer);
    this.#removeAwake?.();
    this.#unsubscribe?.();
  }

  // ---- list --------------------------------------------------------------------------------------

  /** Sessions of every workspace, or of one (id or name). */
  async list(workspaceRef?: string): Promise<SessionView[]> {
    if (workspaceRef) return sortViews(await this.#listOf(this.#d.workspaces.resolve(workspaceRef)));
    // Only workspaces that had sessions are asked (no SSH round trip for the others); one that does
    // not answer shows what it had, marked stale, rather than failing the whole list.
    const records = this.#records().filter((r) => Object.keys(this.#index(r.id)).length > 0);
    const lists = await Promise.all(
      records.map((r) =>
        this.#listOf(r).catch((err: Error) => {
          this.#d.log.warn(`${r.name}: listing sessions: ${err.message}`);
          return Object.values(this.#index(r.id)).map((v) => ({ ...v, stale: true }));
        }),
      ),
    );
    return sortViews(lists.flat());
  }

  /** One session by id. */
  async get(id: string): Promise<SessionView> {
    const { view } = await this.#locate(id);
    return view;
  }


  async #listOf(r: WorkspaceRecord): Promise<SessionView[]> {
    if (r.status === "paused") return Object.values(this.#index(r.id)).map((v) => ({ ...v, attached_clients: 0, stale: true }));
    if (r.status !== "running") {
      // A stopped container ended its tmux server: its sessions are gone.
      if (Object.keys(this.#index(r.id)).length > 0) this.#writeIndex(r.id, {});
      return [];
    }
    const res = await this.#d.workspaces.inspect(r.id, listLine());
    if (res.exitCode !== 0) throw tmuxFailed("list the sessions", res.stderr);
    const views = parseList(res.stdout).map((t) => toView(r, t));
    this.#writeIndex(r.id, Object.fromEntries(views.map((v) => [v.id, v])));
    return views;
  }

  /** The session's workspace and its current view; NOT_FOUND for an id no workspace holds. */
  async #locate(id: string, opts: { resume?: boolean; trustIndex?: boolean } = {}): Promise<{ r: WorkspaceRecord; view: SessionView }> {
    if (!SESSION_ID.test(id)) throw sessionNotFound(id);
    let r = this.#records().find((w) => this.#index(w.id)[id]);
    if (r && r.status === "paused" && opts.resume) {
      // Sessions of a paused workspace resume it: the thaw takes milliseconds.
      await this.#d.workspaces.resume(r.id, { blocking: false });
      r = this.#d.workspaces.resolve(r.id);
    }
    // The attach path saves a round trip: tmux itself says so if the session went away meanwhile.
    if (r && opts.trustIndex && r.status === "running") return { r, view: this.#index(r.id)[id]! };
    if (r) {
      const view = (await this.#listOf(r)).find((v) => v.id === id);
      if (view) return { r, view };
      throw sessionNotFound(id);
    }
    // Not in an index (made by hand with our naming, or an index lost): ask the running workspaces.
    for (const w of this.#records().filter((x) => x.status === "running")) {
      const view = (await this.#listOf(w).catch(() => [])).find((v) => v.id === id);
      if (view) return { r: w, view };
    }
    throw sessionNotFound(id);
  }

  // ---- create ------------------------------------------------------------------------------------

  /** Starts a command (or a login shell) in a new session; returns at once with its id. */
  async create(input: CreateSessionInput): Promise<SessionView> {
    let r = this.#d.workspaces.resolve(input.workspace);
    if (r.status === "paused") {
      await this.#d.workspaces.resume(r.id, { blocking: false });
      r = this.#d.workspaces.resolve(r.id);
    }
    if (r.status !== "running") {
      throw errors.invalidState(r.name, r.status, "running to start a session in it", r.status === "stopped" || r.status === "error" ? `Start it with 'nexus start ${r.name}'` : `See 'nexus status ${r.name}'`);
    }
    const id = newSessionId();
    const argv = input.argv;
    const commandLine = argv.length > 0 ? buildCommandLine(argv, input.env ? { env: input.env } : {}) : "";
    const label = argv.length > 0 ? argv.join(" ") : "login shell";
    const line = newLoggedSessionLine({
      id,
      commandLine,
      label,
      kind: input.kind,
      cwd: input.cwd ?? "/workspace",
      cols: input.cols ?? DEFAULT_SIZE.cols,
      rows: input.rows ?? DEFAULT_SIZE.rows,
      ...(argv.length === 0 && input.env ? { env: input.env } : {}),
    });
    const res = await this.#d.workspaces.inspect(r.id, line);
    if (res.exitCode !== 0) throw tmuxFailed("start the session", res.stderr);
    this.#d.workspaces.touch(r.id);
    const now = new Date().toISOString();
    const view: SessionView = {
      id,
      workspace_id: r.id,
      workspace_name: r.name,
      status: "active",
      created_at: now,
      kind: input.kind,
      command: label,
      exit_code: null,
      attached_clients: 0,
      last_output_at: null,
    };
    // Into the index before answering: a daemon killed right after still finds it.
    this.#writeIndex(r.id, { ...this.#index(r.id), [id]: view });
    this.#d.log.info(`${r.name}: session ${id} started (${label})`);
    return view;
  }

  // ---- logs, send, kill --------------------------------------------------------------------------

  /** The last `tail` lines, as text, without attaching. */
  async logs(id: string, tail: number): Promise<SessionLogs> {
    const { r } = await this.#locate(id, { resume: true });
    const res = await this.#d.workspaces.inspect(r.id, captureLine(id, tail));
    if (res.exitCode !== 0) throw isMissing(res.stderr) ? sessionNotFound(id) : tmuxFailed("read the session", res.stderr);
    const { state, lines } = parseCapture(res.stdout);
    const text = contentLines(lines, state.dead);
    return { sessionId: id, status: state.dead ? "exited" : "active", exitCode: state.exitCode, lines: tail === 0 ? [] : text.slice(-tail) };
  }

  /**
   * The last `tail` lines, then each new line as it is printed, until the command finishes (its exit
   * code), the session is killed, or `signal` aborts (follow.ts). A promise from `onLines` (its reader
   * is behind) holds the next read until it settles: the daemon holds one read at most for a slow reader.
   * A reader more than the kept log behind is told how many bytes it lost (`onDropped`).
   */
  async follow(id: string, opts: { tail: number; signal?: AbortSignal; onDropped?: (bytes: number) => unknown }, onLines: (lines: string[]) => unknown): Promise<AttachEnd> {
    const { r } = await this.#locate(id, { resume: true });
    const onDropped = (bytes: number) => {
      this.#d.log.warn(`${r.name}: session ${id}: a follower was ${bytes} bytes behind the kept output log; they were left out`);
      return opts.onDropped?.(bytes);
    };
    return followOutput((line) => this.#d.workspaces.inspect(r.id, line), id, { ...opts, onDropped, failed: (stderr) => tmuxFailed("read the session", stderr) }, onLines);
  }

  /** Types text into the session (an agent driving a REPL); `enter` presses Enter after it. */
  async send(id: string, text: string, enter: boolean): Promise<{ sessionId: string; bytes: number }> {
    const { r, view } = await this.#locate(id, { resume: true });
    if (view.status === "exited") {
      throw new NexusError("INVALID_STATE", `Session '${id}' has exited (code ${view.exit_code}); nothing reads its input`, {
        suggestion: `See its output with 'nexus sessions logs ${id}', remove it with 'nexus sessions kill ${id}'`,
        details: { sessionId: id, exitCode: view.exit_code },
      });
    }
    if (text === "" && !enter) return { sessionId: id, bytes: 0 };
    const res = await this.#d.workspaces.inspect(r.id, sendKeysLine(id, text, enter));
    if (res.exitCode !== 0) throw isMissing(res.stderr) ? sessionNotFound(id) : tmuxFailed("type into the session", res.stderr);
    this.#d.workspaces.touch(r.id);
    return { sessionId: id, bytes: Buffer.byteLength(text) + (enter ? 1 : 0) };
  }

  /** Ends the session's command (SIGHUP, as a closed terminal) and removes the session with its output. */
  async kill(id: string): Promise<{ sessionId: string; workspaceId: string }> {
    const { r } = await this.#locate(id, { resume: true });
    const res = await this.#d.workspaces.inspect(r.id, killWithLogLine(id));
    if (res.exitCode !== 0 && !isMissing(res.stderr)) throw tmuxFailed("kill the session", res.stderr);
    const index = this.#index(r.id);
    delete index[id];
    this.#writeIndex(r.id, index);
    this.#d.log.info(`${r.name}: session ${id} killed`);
    return { sessionId: id, workspaceId: r.id };
  }

  // ---- attach ------------------------------------------------------------------------------------

  /**
   * A terminal client of the session: the last `scrollback` history rows first (so they land in the
   * user's own scrollback), then tmux draws the screen and everything after it, live. Input and window
   * size go through the returned handle. A finished console session is removed when its attach ends.
   */
  async attach(id: string, opts: TerminalSize & { readOnly?: boolean; scrollback?: number; term?: string }, onOutput: (data: string) => unknown): Promise<TerminalAttach> {
    const { r } = await this.#locate(id, { resume: true, trustIndex: true });
    const scrollback = opts.scrollback ?? ATTACH_SCROLLBACK;
    const size = { cols: clampSize(opts.cols, 20, 1000), rows: clampSize(opts.rows, 5, 500) };
    // History and the terminal channel in parallel: the screen waits until the history is out.
    const [before, pty] = await Promise.all([
      this.#d.workspaces.inspect(r.id, historyLine(id, scrollback)),
      this.#d.workspaces.openTerminal(r.id, attachLine(id, opts.readOnly === true), { ...size, ...(opts.term ? { term: opts.term } : {}) }),
    ]);
    const { state, lines: historyRows } = before.exitCode === 0 ? parseCapture(before.stdout) : { state: undefined, lines: [] };
    const history = historyRows.length > 0 ? historyRows.join("\n") + "\n" : "";
    // A command that has finished draws its last screen and the attach ends, with its code.
    if (state?.dead) setTimeout(() => pty.close(), 300);
    const decoder = new StringDecoder("utf8");
    const held: Buffer[] = [];
    let flowing = false;
    // A promise from onOutput (the client is behind) pauses the terminal channel (back-pressure).
    pty.onData((b) => {
      if (!flowing) return void held.push(b);
      return onOutput(decoder.write(b));
    });
    const lines = history.replace(/\n$/, "");
    // Rows of blank lines push the history up into the terminal's scrollback before tmux clears the screen.
    if (lines !== "") onOutput(lines.replace(/\n/g, "\r\n") + "\r\n".repeat(size.rows));
    flowing = true;
    for (const b of held.splice(0)) onOutput(decoder.write(b));
    this.#attached.set(r.id, (this.#attached.get(r.id) ?? 0) + 1);
    this.#d.workspaces.touch(r.id);
    const done = pty.done
      .catch(() => undefined)
      .then(async (): Promise<AttachEnd> => {
        const rest = decoder.end();
        if (rest) onOutput(rest);
        this.#attached.set(r.id, Math.max(0, (this.#attached.get(r.id) ?? 1) - 1));
        this.#d.workspaces.touch(r.id);
        return this.#ended(r, id);
      });
    return {
      sessionId: id,
      write: (data) => {
        pty.write(data);
        this.#d.workspaces.touch(r.id);
      },
      resize: (s) => pty.resize({ cols: clampSize(s.cols, 20, 1000), rows: clampSize(s.rows, 5, 500) }),
      detach: () => pty.close(),
      done,
    };
  }

  /** After a terminal client went away: was it a detach, did the command finish, or is the session gone? */
  async #ended(r: WorkspaceRecord, id: string): Promise<AttachEnd> {
    const res = await this.#d.workspaces.inspect(r.id, paneStateLine(id)).catch(() => undefined);
    if (!res) return { sessionId: id, reason: "detached", exitCode: null }; // the workspace went away under us
    if (res.exitCode !== 0) return { sessionId: id, reason: "killed", exitCode: null };
    const state = parseState(res.stdout);
    if (!state.dead) return { sessionId: id, reason: "detached", exitCode: null };
    const kind = this.#index(r.id)[id]?.kind;
    // A shell the user left with `exit` is done with; a command's output and code stay until killed.
    if (kind === "console") await this.kill(id).catch(() => {});
    return { sessionId: id, reason: "exited", exitCode: state.exitCode };
  }

  // ---- idle --------------------------------------------------------------------------------------

  /** What keeps a workspace awake: clients attached now, or a detached session that printed within the idle period. */
  #awakeReason(workspaceId: string): string | undefined {
    const attached = this.#attached.get(workspaceId) ?? 0;
    if (attached > 0) return `${attached} attached session client${attached === 1 ? "" : "s"}`;
    const r = this.#d.workspaces.list().find((w) => w.id === workspaceId);
    if (!r) return undefined;
    const idle = (r.idleTimeoutSeconds ?? this.#d.config.defaults.idle_timeout) * 1000;
    const now = Date.now();
    const printing = Object.values(this.#index(workspaceId)).filter((v) => v.status === "active" && v.last_output_at && now - Date.parse(v.last_output_at) < idle);
    if (printing.length === 0) return undefined;
    return `session${printing.length === 1 ? "" : "s"} ${printing.map((v) => v.id).join(", ")} printed output within the idle period`;
  }

  /** Fresh views (last output, clients) of running workspaces that have sessions. */
  async #refreshAll(): Promise<void> {
    for (const r of this.#records()) {
      if (r.status !== "running" || Object.keys(this.#index(r.id)).length === 0) continue;
      await this.#listOf(r).catch((err: Error) => this.#d.log.warn(`${r.name}: sessions: ${err.message}`));
    }
  }

  // ---- index -------------------------------------------------------------------------------------

  #records(): WorkspaceRecord[] {
    return this.#d.workspaces.list().map((w) => this.#d.workspaces.resolve(w.id));
  }

  #indexFile(workspaceId: string): string {
    return join(this.#d.paths.workspaceDir(workspaceId), "sessions.json");
  }

  #index(workspaceId: string): Record<string, SessionView> {
    const file = this.#indexFile(workspaceId);
    if (!existsSync(file)) return {};
    try {
      const parsed = JSON.parse(readFileSync(file, "utf8")) as { sessions?: Record<string, SessionView> };
      return parsed.sessions ?? {};
    } catch {
      return {};
    }
  }

  #writeIndex(workspaceId: string, sessions: Record<string, SessionView>): void {
    if (!existsSync(this.#d.paths.workspaceDir(workspaceId))) return; // destroyed meanwhile
    const stored = Object.fromEntries(Object.entries(sessions).map(([k, { stale: _s, ...v }]) => [k, v]));
    writeFileAtomic(this.#indexFile(workspaceId), JSON.stringify({ sessions: stored }, null, 1) + "\n");
  }
}

function sortViews(views: SessionView[]): SessionView[] {
  return views.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

function toView(r: WorkspaceRecord, t: TmuxSession): SessionView {
  return {
    id: t.id,
    workspace_id: r.id,
    workspace_name: r.name,
    status: t.dead ? "exited" : "active",
    created_at: t.createdAt,
    kind: t.kind,
    command: t.command,
    exit_code: t.exitCode,
    attached_clients: t.attached,
    last_output_at: t.lastOutputAt,
  };
}

function tmuxFailed(doing: string, stderr: string): NexusError {
  const why = stderr.trim().split("\n").slice(-3).join(" ").slice(0, 500);
  if (/tmux: (command )?not found/.test(why)) {
    return new NexusError("CONTAINER_ERROR", "tmux is not installed in the workspace's image", {
      suggestion: "Sessions need tmux in the image: add it to your project's image, or use the default nexus-workspace image",
      details: { stderr: why },
    });
  }
  return new NexusError("CONTAINER_ERROR", `Could not ${doing}: ${why || "tmux failed"}`, {
    suggestion: "See 'nexus status <workspace>'; the workspace must be running",
    details: { stderr: why },
  });
}

function clampSize(n: number, min: number, max: number): number {
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.floor(n))) : min;
}
