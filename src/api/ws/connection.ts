// One WebSocket connection of /v1/ws (spec §3.3): auth first, then {id,type,payload} requests
// answered by {id,success,result|error}, exec output streamed, workspace events pushed. Thin: the
// behaviour is the core's (files.ts, workspaces.ts, monitor.ts); errors map through toNexusError.
import { StringDecoder } from "node:string_decoder";
import { withSurface } from "../../core/trace/surface.ts";
import * as v from "valibot";
import { NexusError, toNexusError } from "../../core/errors.ts";
import type { EventBus, WorkspaceEvent } from "../../core/events.ts";
import type { WorkspaceFiles } from "../../core/files.ts";
import { ExecInput, parseInput } from "../../core/inputs.ts";
import type { Logger } from "../../core/log.ts";
import type { WorkspaceMonitor } from "../../core/monitor.ts";
import type { WorkspaceService } from "../../core/workspaces.ts";
import type { SessionService } from "../../core/sessions/service.ts";
import type { TerminalAttach, TerminalSize } from "../../core/sessions/types.ts";
import { WsAttachPayload, WsDetachPayload, WsInputPayload, WsResizePayload } from "../../core/sessions/inputs.ts";

export const WS_LIMITS = {
  /** Largest request accepted; a bigger one gets an error and the connection stays. */
  maxMessageBytes: 1024 * 1024,
  /** Requests (exec included) running at once per connection. */
  maxInFlight: 16,
  /** Largest file fs.readFile returns in one message. */
  maxReadBytes: 4 * 1024 * 1024,
  /** Queued bytes past which events are dropped for this connection. */
  dropEventsAbove: 1024 * 1024,
  /** Queued bytes past which the connection is closed (output from a producer that does not wait). */
  closeAbove: 8 * 1024 * 1024,
  /** Queued bytes past which exec output waits (its SSH channel pauses) until they fall to execResumeBelow. */
  execPauseAbove: 1024 * 1024,
  execResumeBelow: 256 * 1024,
  /** How often a paused exec looks at the queue again: the runtimes' sockets say nothing when it empties. */
  drainPollMs: 2,
  authTimeoutMs: 10_000,
  /** Keystrokes held for an attach still being made (a client types before it is answered). */
  maxEarlyInputBytes: 64 * 1024,
  statsIntervalMs: 5_000,
};

/** What the client sent for a terminal before it was made. */
interface EarlyTerminal {
  sessionId: string;
  input: Array<string | Buffer>;
  inputBytes: number;
  size?: TerminalSize;
  detached: boolean;
}

/** A terminal's write and resize that hold what they are given until it is made (up to maxEarlyInputBytes of keys). */
function heldFor(e: EarlyTerminal): Pick<TerminalAttach, "write" | "resize"> {
  return {
    write(data) {
      const bytes = Buffer.byteLength(data);
      if (e.inputBytes + bytes > WS_LIMITS.maxEarlyInputBytes) {
        throw new NexusError("RESOURCE_EXHAUSTED", `More than ${WS_LIMITS.maxEarlyInputBytes} bytes of input before the attach to session '${e.sessionId}' was made`, {
          suggestion: "Wait for the session's first output before sending more",
          details: { sessionId: e.sessionId, limit: WS_LIMITS.maxEarlyInputBytes },
        });
      }
      e.inputBytes += bytes;
      e.input.push(data);
    },
    resize(size) {
      e.size = size;
    },
  };
}

/** What the connection needs from the socket; the route adapts hono's WSContext to it. */
export interface WsSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  bufferedAmount(): number;
}

export interface WsConnectionDeps {
  workspaces: WorkspaceService;
  /** Sessions: session.attach, session.input, session.resize, session.detach; exec with detach. */
  sessions?: SessionService;
  files: WorkspaceFiles;
  monitor: WorkspaceMonitor;
  events: EventBus;
  log: Logger;
  /** Throws AUTHENTICATION_FAILED for a wrong token; undefined when no auth message is needed. */
  verify?: (token: string | undefined) => Promise<void>;
}

const Request = v.object({ id: v.pipe(v.string("id must be a string"), v.minLength(1), v.maxLength(200)), type: v.string("type must be a string"), payload: v.optional(v.unknown()) });
const Encoding = v.optional(v.picklist(["utf8", "base64"], "encoding must be utf8 or base64"), "utf8");
const WorkspaceRef = v.optional(v.pipe(v.string(), v.minLength(1)));
const ReadFile = v.strictObject({ path: v.string("path must be a string"), encoding: Encoding, workspaceId: WorkspaceRef });
const WriteFile = v.strictObject({
  path: v.string("path must be a string"),
  content: v.string("content must be a string"),
  encoding: Encoding,
  mode: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o7777))),
  workspaceId: WorkspaceRef,
});
const ReadDir = v.strictObject({ path: v.optional(v.string("path must be a string"), "."), recursive: v.optional(v.boolean("recursive must be a boolean"), false), workspaceId: WorkspaceRef });
const Subscribe = v.strictObject({ workspaceId: WorkspaceRef, stats: v.optional(v.boolean(), true) });
const Cancel = v.strictObject({ requestId: v.string() });

export class WsConnection {
  readonly #d: WsConnectionDeps;
  readonly #sock: WsSocket;
  readonly #defaultWorkspace: string | undefined;
  #authed: boolean;
  #closed = false;
  readonly #inFlight = new Map<string, AbortController>();
  /** Workspace id → whether it wants stats. */
  readonly #subscriptions = new Map<string, boolean>();
  /**
   * Events of every workspace reach the client, as the spec's client expects without asking; a
   * `subscribe` (or `?workspace=`) narrows them to the workspaces named. Stats only for those named.
   */
  #narrowed = false;
  #unsubscribe: (() => void) | undefined;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  #dropped = 0;
  /** Terminal clients of sessions this connection attached, by the attach request's id. */
  readonly #attaches = new Map<string, TerminalAttach>();
  /**
   * Attaches still being made, by request id: what the client sent for them meanwhile (a client
   * writes keys at once, as `nexus console` with the keys a pipe or a fast typist gives), handed to
   * the terminal once it is made, rather than refused and lost.
   */
  readonly #early = new Map<string, EarlyTerminal>();
  /** The auth check under way: later messages wait for it rather than being taken for auth messages. */
  #authing: Promise<void> | undefined;

  constructor(deps: WsConnectionDeps, sock: WsSocket, opts: { workspace?: string }) {
    this.#d = deps;
    this.#sock = sock;
    this.#defaultWorkspace = opts.workspace || undefined;
    this.#authed = deps.verify === undefined;
  }

  open(): void {
    if (!this.#authed) {
      this.#authTimer = setTimeout(() => this.#refuse(null, new NexusError("AUTHENTICATION_FAILED", "No auth message within 10 s", { suggestion: "Send {type:'auth', token} first" })), WS_LIMITS.authTimeoutMs);
    } else this.#afterAuth();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#authTimer);
    clearInterval(this.#statsTimer);
    this.#unsubscribe?.();
    for (const a of this.#inFlight.values()) a.abort();
    this.#inFlight.clear();
    for (const t of this.#attaches.values()) t.detach();
    this.#attaches.clear();
  }

  async message(data: string | ArrayBuffer | Blob | ArrayBufferLike): Promise<void> {
    if (this.#closed) return;
    const size = typeof data === "string" ? Buffer.byteLength(data) : data instanceof Blob ? data.size : (data as ArrayBuffer).byteLength;
    if (size > WS_LIMITS.maxMessageBytes) {
      return this.#reply(leadingId(data), toNexusError(new NexusError("RESOURCE_EXHAUSTED", `Message of ${size} bytes is over the limit of ${WS_LIMITS.maxMessageBytes}`, { suggestion: "Send large files in parts, or over SSH (scp/rsync)", retryable: false, details: { size, limit: WS_LIMITS.maxMessageBytes } })));
    }
    const text = typeof data === "string" ? data : data instanceof Blob ? await data.text() : Buffer.from(data as ArrayBuffer).toString("utf8");
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      const err = new NexusError("INVALID_ARGUMENT", "The message is not valid JSON", { suggestion: "Send {id, type, payload} as JSON" });
      return this.#authed ? this.#reply(null, err) : this.#refuse(null, err);
    }
    if (this.#authing) await this.#authing;
    if (this.#closed) return;
    if (!this.#authed) return (this.#authing = this.#auth(msg));
    // Keystrokes and window sizes of an attached terminal may come without an id: then no answer is sent (errors still are).
    const m = msg as { id?: unknown; type?: unknown; payload?: unknown };
    if ((m?.type === "session.input" || m?.type === "session.resize") && m.id === undefined) {
      try {
        this.#terminalMessage(m.type, m.payload);
      } catch (err) {
        this.#reply(null, toNexusError(err));
      }
      return;
    }
    let req: v.InferOutput<typeof Request>;
    try {
      req = parseInput(Request, msg, "message");
    } catch (err) {
      const id = typeof (msg as { id?: unknown })?.id === "string" ? (msg as { id: string }).id : null;
      return this.#reply(id, toNexusError(err));
    }
    if (this.#inFlight.has(req.id)) return this.#reply(req.id, new NexusError("INVALID_ARGUMENT", `Request id '${req.id}' is in use`, { suggestion: "Give every request its own id" }));
    if (this.#inFlight.size >= WS_LIMITS.maxInFlight) {
      return this.#reply(req.id, new NexusError("RESOURCE_EXHAUSTED", `More than ${WS_LIMITS.maxInFlight} requests in flight on this connection`, { suggestion: "Wait for answers before sending more", details: { limit: WS_LIMITS.maxInFlight } }));
    }
    const abort = new AbortController();
    this.#inFlight.set(req.id, abort);
    try {
      const result = await withSurface("ws", () => this.#dispatch(req.id, req.type, req.payload ?? {}, abort.signal));
      this.#reply(req.id, undefined, result);
    } catch (err) {
      // Stopped by `cancel` or by the connection closing: what the client asked for, not an internal error.
      const cancelled = abort.signal.aborted && !(err instanceof NexusError);
      this.#reply(req.id, cancelled ? new NexusError("CANCELLED", `Request '${req.id}' was cancelled`, { details: { requestId: req.id } }) : toNexusError(err));
    } finally {
      this.#inFlight.delete(req.id);
    }
  }

  async #auth(msg: unknown): Promise<void> {
    const m = msg as { type?: unknown; token?: unknown; id?: unknown };
    const id = typeof m?.id === "string" ? m.id : null;
    if (m?.type !== "auth") return this.#refuse(id, new NexusError("AUTHENTICATION_FAILED", "The first message must be {type:'auth', token}", { suggestion: "Authenticate first" }));
    try {
      await this.#d.verify!(typeof m.token === "string" ? m.token : undefined);
    } catch (err) {
      return this.#refuse(id, toNexusError(err));
    }
    clearTimeout(this.#authTimer);
    this.#authed = true;
    this.#send({ id, type: "auth", success: true, result: { authenticated: true } });
    this.#afterAuth();
  }

  #afterAuth(): void {
    if (this.#defaultWorkspace) {
      try {
        this.#subscriptions.set(this.#d.workspaces.resolve(this.#defaultWorkspace).id, true);
        this.#narrowed = true;
      } catch (err) {
        this.#reply(null, toNexusError(err));
      }
    }
    this.#unsubscribe = this.#d.events.subscribe((e) => this.#event(e));
    this.#statsTimer = setInterval(() => void this.#pushStats(), WS_LIMITS.statsIntervalMs);
  }

  #refuse(id: string | null, err: NexusError): void {
    this.#reply(id, err);
    this.#sock.close(4401, "authentication failed");
    this.close();
  }

  #workspace(payloadRef: string | undefined): string {
    const ref = payloadRef ?? this.#defaultWorkspace;
    if (!ref) throw new NexusError("INVALID_ARGUMENT", "No workspace given", { suggestion: "Connect with ?workspace=<name> or put workspaceId in the payload" });
    return ref;
  }

  async #dispatch(id: string, type: string, payload: unknown, signal: AbortSignal): Promise<unknown> {
    switch (type) {
      case "fs.readFile": {
        const p = parseInput(ReadFile, payload, "fs.readFile payload");
        const parts: Buffer[] = [];
        let size = 0;
        const tooBig = new AbortController();
        await this.#d.files
          .readFile(this.#workspace(p.workspaceId), p.path, (b) => {
            size += b.length;
            if (size > WS_LIMITS.maxReadBytes) tooBig.abort();
            else parts.push(b);
          }, AbortSignal.any([signal, tooBig.signal]))
          .catch((err) => {
            if (tooBig.signal.aborted) throw new NexusError("RESOURCE_EXHAUSTED", `The file is over ${WS_LIMITS.maxReadBytes} bytes`, { suggestion: "Read it over gRPC StreamFile, or scp", retryable: false });
            throw err;
          });
        const data = Buffer.concat(parts);
        return { path: p.path, encoding: p.encoding, size: data.length, content: data.toString(p.encoding === "base64" ? "base64" : "utf8") };
      }
      case "fs.writeFile": {
        const p = parseInput(WriteFile, payload, "fs.writeFile payload");
        const data = Buffer.from(p.content, p.encoding === "base64" ? "base64" : "utf8");
        return await this.#d.files.writeFile(this.#workspace(p.workspaceId), p.path, data, p.mode ?? 0o644);
      }
      case "fs.readdir": {
        const p = parseInput(ReadDir, payload, "fs.readdir payload");
        return { path: p.path, entries: await this.#d.files.readdir(this.#workspace(p.workspaceId), p.path, p.recursive) };
      }
      case "exec": {
        const { workspaceId, ...rest } = (payload ?? {}) as Record<string, unknown>;
        const input = parseInput(ExecInput, rest, "exec payload");
        delete input.agentSocket; // a path on the daemon's host: not for remote callers
        if (input.detach) {
          const view = await this.#sessions().create({ workspace: this.#workspace(typeof workspaceId === "string" ? workspaceId : undefined), kind: "command", argv: [input.command, ...input.args], ...(input.cwd ? { cwd: input.cwd } : {}), ...(input.env ? { env: input.env } : {}) });
          return { sessionId: view.id, session: view };
        }
        let resumed: { durationMs: number } | undefined;
        const out = new StringDecoder("utf8");
        const err = new StringDecoder("utf8");
        const exit = await this.#d.workspaces.exec(this.#workspace(typeof workspaceId === "string" ? workspaceId : undefined), input, {
          // A reader that is behind pauses the command's output (the promise #stream answers with).
          onStdout: (b) => this.#stream(id, "exec.stdout", out.write(b), signal),
          onStderr: (b) => this.#stream(id, "exec.stderr", err.write(b), signal),
          // A paused workspace is resumed first; the answer says so.
          onResumed: (r) => (resumed = r),
          signal,
        });
        this.#stream(id, "exec.stdout", out.end());
        this.#stream(id, "exec.stderr", err.end());
        this.#send({ id, type: "exec.exit", payload: { exitCode: exit.exitCode, ...(exit.signal ? { signal: exit.signal } : {}) } });
        return { ...exit, ...(resumed ? { resumed } : {}) };
      }
      case "session.attach":
        return this.#attach(id, payload, signal);
      case "session.input":
      case "session.resize":
        return this.#terminalMessage(type, payload);
      case "session.detach": {
        const p = parseInput(WsDetachPayload, payload, "session.detach payload");
        const mine = [...this.#attaches.values()].filter((t) => t.sessionId === p.sessionId);
        for (const t of mine) t.detach();
        const pending = [...this.#early.values()].filter((e) => e.sessionId === p.sessionId);
        for (const e of pending) e.detached = true;
        return { sessionId: p.sessionId, detached: mine.length + pending.length };
      }
      case "cancel": {
        const p = parseInput(Cancel, payload, "cancel payload");
        const target = this.#inFlight.get(p.requestId);
        target?.abort();
        return { cancelled: target !== undefined };
      }
      case "subscribe": {
        const p = parseInput(Subscribe, payload, "subscribe payload");
        const r = this.#d.workspaces.resolve(this.#workspace(p.workspaceId));
        this.#subscriptions.set(r.id, p.stats);
        this.#narrowed = true;
        return { workspaceId: r.id, status: r.status };
      }
      case "unsubscribe": {
        const p = parseInput(Subscribe, payload, "unsubscribe payload");
        const r = this.#d.workspaces.resolve(this.#workspace(p.workspaceId));
        return { workspaceId: r.id, unsubscribed: this.#subscriptions.delete(r.id) };
      }
      default:
        throw new NexusError("INVALID_ARGUMENT", `Unknown message type '${type}'`, {
          suggestion: "Use fs.readFile, fs.writeFile, fs.readdir, exec, session.attach, session.input, session.resize, session.detach, cancel, subscribe or unsubscribe",
          details: { type },
        });
    }
  }

  #sessions(): SessionService {
    if (!this.#d.sessions) throw new NexusError("UNIMPLEMENTED", "Sessions are not served on this connection", { suggestion: "Connect to the daemon's /v1/ws" });
    return this.#d.sessions;
  }

  /**
   * session.attach: a terminal client of the session until it detaches (session.detach, cancel, the
   * connection closing), the command finishes or the session is killed. Output streams as
   * session.output; session.exit says how it ended, then the request is answered with the same.
   */
  async #attach(id: string, payload: unknown, signal: AbortSignal): Promise<unknown> {
    const p = parseInput(WsAttachPayload, payload, "session.attach payload");
    const early: EarlyTerminal = { sessionId: p.sessionId, input: [], inputBytes: 0, detached: false };
    this.#early.set(id, early);
    let t: TerminalAttach;
    try {
      t = await this.#sessions().attach(
        p.sessionId,
        { cols: p.cols, rows: p.rows, readOnly: p.readOnly, ...(p.scrollback !== undefined ? { scrollback: p.scrollback } : {}), ...(p.term ? { term: p.term } : {}) },
        (data) => this.#output(id, p.sessionId, data, signal),
      );
    } finally {
      this.#early.delete(id);
    }
    this.#attaches.set(id, t);
    for (const data of early.input) t.write(data);
    if (early.size) t.resize(early.size);
    if (early.detached) t.detach();
    const onAbort = () => t.detach();
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) t.detach();
    try {
      const end = await t.done;
      this.#send({ id, type: "session.exit", payload: end });
      return end;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#attaches.delete(id);
    }
  }

  #terminalMessage(type: "session.input" | "session.resize", payload: unknown): unknown {
    if (type === "session.input") {
      const p = parseInput(WsInputPayload, payload, "session.input payload");
      const t = this.#attachOf(p.sessionId);
      t.write(p.encoding === "base64" ? Buffer.from(p.data, "base64") : p.data);
      return { sessionId: p.sessionId };
    }
    const p = parseInput(WsResizePayload, payload, "session.resize payload");
    this.#attachOf(p.sessionId).resize({ cols: p.cols, rows: p.rows });
    return { sessionId: p.sessionId, cols: p.cols, rows: p.rows };
  }

  #attachOf(sessionId: string): Pick<TerminalAttach, "write" | "resize"> {
    for (const t of this.#attaches.values()) if (t.sessionId === sessionId) return t;
    for (const e of this.#early.values()) if (e.sessionId === sessionId) return heldFor(e);
    throw new NexusError("INVALID_STATE", `This connection is not attached to session '${sessionId}'`, {
      suggestion: "Send session.attach first",
      details: { sessionId },
    });
  }

  /** Sends a terminal's output; past execPauseAbove queued, answers a promise that pauses the terminal until the queue drains. */
  #output(id: string, sessionId: string, data: string, signal: AbortSignal): Promise<void> | undefined {
    if (data === "") return undefined;
    if (this.#sock.bufferedAmount() > WS_LIMITS.closeAbove) {
      this.#d.log.warn(`ws: closing a connection ${WS_LIMITS.closeAbove} bytes behind`);
      this.#sock.close(1013, "client too slow");
      this.close();
      return undefined;
    }
    this.#send({ id, type: "session.output", payload: { sessionId, data } });
    if (this.#sock.bufferedAmount() <= WS_LIMITS.execPauseAbove) return undefined;
    return this.#drained(signal);
  }

  #event(e: WorkspaceEvent): void {
    if (e.type === "workspace.progress") return;
    if (this.#narrowed && !this.#subscriptions.has(e.payload.workspaceId)) return;
    if (this.#sock.bufferedAmount() > WS_LIMITS.dropEventsAbove) {
      this.#dropped++;
      return;
    }
    this.#send({ type: e.type, payload: e.payload });
  }

  async #pushStats(): Promise<void> {
    for (const [id, wants] of this.#subscriptions) {
      if (!wants || this.#closed) continue;
      try {
        const r = this.#d.workspaces.resolve(id);
        if (r.status !== "running") continue;
        this.#event({ type: "workspace.stats", payload: { ...(await this.#d.monitor.stats(id)) } });
      } catch {
        // A workspace that went away or stopped between the check and the sample: no event this round.
      }
    }
  }

  /** Sends exec output; when the socket's queue is past execPauseAbove, answers with a promise that settles once it has drained. */
  #stream(id: string, type: "exec.stdout" | "exec.stderr", data: string, signal?: AbortSignal): Promise<void> | undefined {
    if (data === "") return undefined;
    if (this.#sock.bufferedAmount() > WS_LIMITS.closeAbove) {
      // Only output that did not wait gets here: holding more would grow memory without bound.
      this.#d.log.warn(`ws: closing a connection ${WS_LIMITS.closeAbove} bytes behind`);
      this.#sock.close(1013, "client too slow");
      this.close();
      return undefined;
    }
    this.#send({ id, type, payload: { data } });
    if (this.#sock.bufferedAmount() <= WS_LIMITS.execPauseAbove) return undefined;
    return this.#drained(signal);
  }

  /** Settles when the socket's queue is below execResumeBelow, the request is cancelled, or the connection closes. */
  #drained(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#closed || signal?.aborted || this.#sock.bufferedAmount() <= WS_LIMITS.execResumeBelow) resolve();
        else setTimeout(check, WS_LIMITS.drainPollMs);
      };
      setTimeout(check, WS_LIMITS.drainPollMs);
    });
  }

  #reply(id: string | null, err?: NexusError, result?: unknown): void {
    if (err) {
      if (err.code === "INTERNAL_ERROR") this.#d.log.error(`ws: ${(err.cause as Error)?.stack ?? err.message}`);
      this.#send({ id, success: false, error: err.toJSON() });
    } else this.#send({ id, success: true, result: result ?? null });
  }

  #send(msg: unknown): void {
    if (this.#closed) return;
    try {
      this.#sock.send(JSON.stringify(msg));
    } catch {
      // The peer went away; close() follows from the runtime.
    }
  }
}

/** The id of a message too big to parse, when it comes first (`{"id":"…",`), so its answer can name it. */
export function leadingId(data: string | ArrayBuffer | Blob | ArrayBufferLike | ArrayBufferView): string | null {
  if (data instanceof Blob) return null;
  const bytes = (b: Uint8Array) => Buffer.from(b.subarray(0, 256)).toString("utf8");
  const head = typeof data === "string" ? data.slice(0, 256) : ArrayBuffer.isView(data) ? bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) : bytes(new Uint8Array(data as ArrayBuffer));
  return /^\s*\{\s*"id"\s*:\s*"([^"\\]{1,200})"/.exec(head)?.[1] ?? null;
}
