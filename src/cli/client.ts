import { NexusError, type ErrorBody } from "../core/errors.ts";
import { fetchUnix } from "../runtime/fetch-unix.ts";
import { requestHeaders } from "./request-headers.ts";
import { nonBlankLines } from "../kernel/lines.ts";
import { untilAborted } from "../kernel/until-aborted.ts";
import { unixStream, unixStreamAvailable, warmAnswer, type UnixAnswer, type UnixStreamError } from "../runtime/unix-stream.ts";

export interface ClientTarget {
  /** Unix socket of a local daemon. */
  socketPath?: string;
  /** Base URL of a daemon reached over TCP (-u/--url). */
  url?: string;
  token?: string;
  /** The daemon build (version+commit) this client expects; another build answers VERSION_MISMATCH. */
  expectVersion?: string;
  /**
   * Called once when a request failed in a way a new daemon can fix (see `mayResend`): returns true
   * when it fixed that (started or replaced the daemon), and the request is sent again.
   */
  recover?: (err: NexusError) => Promise<boolean>;
}

export interface StreamEvent {
  type: string;
  [key: string]: unknown;
}

/** One typed client for the daemon's REST API: over the unix socket, or a URL with a token. */
export class DaemonClient {
  readonly target: ClientTarget;

  constructor(target: ClientTarget) {
    this.target = target;
  }

  get where(): string {
    return this.target.url ?? this.target.socketPath ?? "(nowhere)";
  }

  /** A JSON request; an error body becomes the NexusError it describes. */
  async json<T>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    return this.#recovering(method, path, async () => {
      const signal = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
      const res = await this.#send(method, path, body, "application/json", signal);
      const text = await res.text().catch((err: unknown) => {
        throw this.#unreachable(err, signal);
      });
      const parsed = text ? safeParse(text) : undefined;
      if (res.status >= 400) throw errorFrom(res.status, parsed, text);
      return parsed as T;
    });
  }

  async #recovering<T>(method: string, path: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof NexusError) || !mayResend(err, method, path) || !this.target.recover || !(await this.target.recover(err))) throw err;
      try {
        return await send();
      } catch (again) {
        // A DELETE cut part way and sent again finds nothing when the first one, or the new daemon's
        // reconcile, already removed it: that is the outcome asked for.
        if (reachOf(err) === "cut" && method.toUpperCase() === "DELETE" && again instanceof NexusError && again.httpStatus === 404) return undefined as T;
        throw again;
      }
    }
  }

  /**
   * A streamed request (NDJSON): each event goes to `onEvent`; resolves with the final result event.
   * An idempotent one whose stream is cut is sent again whole, so `onEvent` may see events twice.
   */
  async stream(method: string, path: string, body: unknown, onEvent: (e: StreamEvent) => unknown, signal?: AbortSignal): Promise<StreamEvent> {
    return this.#recovering(method, path, async () => {
      if (this.target.socketPath && !this.target.url && !isResendable(body) && !(body instanceof ReadableStream) && unixStreamAvailable()) {
        const headers = this.#headers("application/x-ndjson", body === undefined ? undefined : "application/json");
        return socketEvents(this.target.socketPath, method, path, headers, body === undefined ? undefined : JSON.stringify(body), onEvent, signal);
      }
      const r = await this.#send(method, path, body, "application/x-ndjson", signal);
      if (r.status >= 400 || !r.body) {
        const text = await r.text();
        throw errorFrom(r.status, safeParse(text), text);
      }
      return this.#events(r, onEvent, signal);
    });
  }

  /**
   * A promise from `onEvent` (its output is behind) holds the next read: the daemon then pauses the
   * work's output. The caller's abort ends the hold too (Ctrl-C while stdout is a full pipe).
   */
  async #events(res: Response, onEvent: (e: StreamEvent) => unknown, signal?: AbortSignal): Promise<StreamEvent> {
    const events = new EventLines(onEvent);
    try {
      for await (const line of nonBlankLines(signal ? chunksUntilAborted(res.body!, signal) : (res.body as unknown as AsyncIterable<Uint8Array>))) {
        const behind = events.take(line);
        if (behind instanceof Promise) await (signal ? untilAborted(behind, signal) : behind);
      }
    } catch (err) {
      if (err instanceof NexusError || signal?.aborted) throw err;
      throw lost(this.where, err);
    }
    return events.final(this.where);
  }

  /** A request whose body or answer is a byte stream (nexus cp's tar); an error answer becomes its NexusError. */
  async bytes(method: string, path: string, body?: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<Response> {
    const res = await this.#send(method, path, body, "application/x-tar, application/json", signal, "application/x-tar");
    if (res.status >= 400) {
      const text = await res.text().catch(() => "");
      throw errorFrom(res.status, text ? safeParse(text) : undefined, text);
    }
    return res;
  }

  async #send(method: string, path: string, body: unknown, accept: string, signal?: AbortSignal, streamType = "application/x-ndjson"): Promise<Response> {
    // A ReadableStream body is a streamed request (exec's NDJSON stdin, cp's tar), sent while the answer comes;
    // a resendable one gives a fresh stream to each attempt (exec-stdin.ts).
    if (isResendable(body)) body = body.fresh();
    const streamed = body instanceof ReadableStream;
    const headers = this.#headers(accept, body === undefined ? undefined : streamed ? streamType : "application/json");
    const payload = body === undefined ? {} : streamed ? { body, duplex: "half" } : { body: JSON.stringify(body) };
    const init = { method, headers, ...payload, ...(signal ? { signal } : {}) } as RequestInit;
    try {
      if (this.target.url) return await fetch(new URL(path, this.target.url), init);
      return await fetchUnix(this.target.socketPath!, `http://nexus${path}`, init);
    } catch (err) {
      throw this.#unreachable(err, signal);
    }
  }

  #headers(accept: string, contentType: string | undefined): Record<string, string> {
    return requestHeaders({
      accept,
      ...(contentType ? { contentType } : {}),
      ...(this.target.token ? { token: this.target.token } : {}),
      ...(this.target.expectVersion ? { expectVersion: this.target.expectVersion } : {}),
    });
  }

  #unreachable(err: unknown, signal: AbortSignal | undefined): unknown {
    return unreachableFrom(this.where, err, signal);
  }
}

/** A request that got no answer from the daemon at `where`: not answering, our own timeout, or the caller's abort. */
function unreachableFrom(where: string, err: unknown, signal: AbortSignal | undefined): unknown {
  if (!signal?.aborted) return unreachable(where, causeOf(err));
  // Our own timeout gave up on a daemon that is there but slow; any other abort is the caller's.
  return (signal.reason as Error)?.name === "TimeoutError" ? unreachable(where, TIMED_OUT) : signal.reason;
}

/**
 * A streamed request (DaemonClient.stream) to the local daemon at `socketPath` with the runtime's own
 * sockets (unix-stream.ts): the same request, headers and events as through fetch, for a fraction of
 * its start cost. Failures map as fetch's do: before the answer began, as a daemon not answering
 * (refused or cut); after, as a stream cut. Also `nexus exec`'s own path (exec-lane.ts), with the
 * headers DaemonClient would send, and its work for the wait (`whileWaiting`, unix-stream.ts).
 */
export async function socketEvents(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  /** The body as JSON text (the caller writes it: the exec lane without JSON.stringify's first use). */
  bodyText: string | undefined,
  onEvent: (e: StreamEvent) => unknown,
  signal?: AbortSignal,
  whileWaiting?: () => void,
): Promise<StreamEvent> {
  const events = new EventLines(onEvent);
  let answer: UnixAnswer;
  try {
    answer = await unixStream({
      socketPath,
      method,
      path,
      headers,
      ...(bodyText !== undefined ? { body: bodyText } : {}),
      onLine: (line) => events.take(line),
      ...(signal ? { signal } : {}),
      ...(whileWaiting ? { whileWaiting } : {}),
    });
  } catch (err) {
    if (err instanceof NexusError || signal?.aborted) throw err;
    // unixStream's own failures say whether the answer had begun; anything else came from onEvent.
    throw (err as Partial<UnixStreamError>).afterHead === false ? unreachableFrom(socketPath, err, signal) : lost(socketPath, err);
  }
  if (answer.status >= 400) throw errorFrom(answer.status, safeParse(answer.text ?? ""), answer.text ?? "");
  return events.final(socketPath);
}

/**
 * socketEvents' own way through an answer (unix-stream.ts's parsing, then each line as an event),
 * run once on a canned answer whose result is dropped: for the wait on the daemon (warmAnswer).
 */
export function warmEvents(): void {
  const events = new EventLines(() => undefined);
  warmAnswer((line) => events.take(line));
}

/**
 * The body's chunks until it ends or the signal aborts; then the read under way ends with the
 * signal's reason and the body is cancelled (its connection closed). Deno's fetch over a unix
 * socket's client did not end a read of the body at the abort: `nexus sessions logs -f` waited
 * on for the session's next line after Ctrl-C.
 */
async function* chunksUntilAborted(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const chunk = await untilAborted(reader.read(), signal);
      if (chunk.done) return;
      yield chunk.value;
    }
  } finally {
    // As a for-await over the body would: a loop left early (an abort, an error event) cancels it.
    void reader.cancel(signal.aborted ? signal.reason : undefined).catch(() => {});
  }
}

/** A stream's lines as events: `result` is kept for the end, `error` is thrown, the rest go to `onEvent`. */
class EventLines {
  #result: StreamEvent | undefined;
  readonly #onEvent: (e: StreamEvent) => unknown;

  constructor(onEvent: (e: StreamEvent) => unknown) {
    this.#onEvent = onEvent;
  }

  /** One line; what `onEvent` answered (a promise holds the next line). */
  take(line: string): unknown {
    const event = safeParse(line) as StreamEvent | undefined;
    if (!event) return undefined;
    if (event.type === "result") this.#result = event;
    else if (event.type === "error") throw NexusError.fromBody(event.error as ErrorBody);
    else return this.#onEvent(event);
    return undefined;
  }

  /** The result event, once the stream has ended; a stream without one was cut. */
  final(where: string): StreamEvent {
    if (!this.#result) throw lost(where);
    return this.#result;
  }
}

const TIMED_OUT = "timed out";

function isResendable(body: unknown): body is { fresh(): ReadableStream<Uint8Array> } {
  return typeof body === "object" && body !== null && typeof (body as { fresh?: unknown }).fresh === "function";
}

/**
 * How far a request that got no (whole) answer went: "refused" never reached a daemon (no socket,
 * nothing listening), "cut" was sent and the connection or the answer's stream broke off (the daemon
 * went away part way, its work done, half done or not begun), "timeout" was given up by our deadline.
 */
export type Reach = "refused" | "cut" | "timeout";

export function reachOf(err: NexusError): Reach | undefined {
  if (err.code === "CONNECTION_LOST") return typeof err.details?.where === "string" ? "cut" : undefined;
  if (err.code !== "DAEMON_UNREACHABLE") return undefined;
  const cause = String(err.details?.cause ?? "");
  if (cause === TIMED_OUT) return "timeout";
  // Bun names the errno; Deno says "client error (Connect): No such file or directory (os error 2)".
  return /ENOENT|ECONNREFUSED|No such file|Connection refused|\(Connect\)/i.test(cause) ? "refused" : "cut";
}

/** POST actions that drive a workspace to a state: a second one finds the state reached and answers it. */
const CONVERGING_ACTION = /^\/api\/v1\/workspaces\/[^/?#]+\/(?:start|stop|restart|pause|resume|switch)(?:[?#]|$)/;

/**
 * Whether sending the request twice leaves things as sending it once does: GET, HEAD, OPTIONS, PUT
 * and DELETE by their HTTP meaning (RFC 9110 §9.2.2), and the converging workspace actions. Create,
 * exec, token, key rotation and shutdown requests are not: a second one does the work again.
 */
export function isIdempotent(method: string, path: string): boolean {
  const m = method.toUpperCase();
  if (["GET", "HEAD", "OPTIONS", "PUT", "DELETE"].includes(m)) return true;
  return m === "POST" && CONVERGING_ACTION.test(path);
}

/**
 * Whether a failed request may be sent again (once) after `recover` started or replaced the daemon:
 * any request that never reached a daemon or was turned away before any work (another version);
 * an idempotent one whose connection was cut, since the new daemon's reconcile plus the request sent
 * again end where the cut one would have. A timeout is not retried: that daemon is alive, only slow.
 */
export function mayResend(err: NexusError, method: string, path: string): boolean {
  if (err.code === "VERSION_MISMATCH") return true;
  const reach = reachOf(err);
  return reach === "refused" || (reach === "cut" && isIdempotent(method, path));
}

/** The most telling name of a fetch failure: the errno (Bun), else the innermost message (Deno wraps it in "fetch failed"). */
function causeOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  if (typeof e?.code === "string" && e.code) return e.code;
  if (e?.cause !== undefined && e.cause !== err) return causeOf(e.cause);
  return typeof e?.message === "string" && e.message ? e.message : String(err);
}

function unreachable(where: string, cause: string): NexusError {
  return new NexusError("DAEMON_UNREACHABLE", `The Nexus daemon at ${where} is not answering (${cause})`, {
    suggestion: "Start it with 'nexus daemon start' (commands start it by themselves), or check --url; 'nexus doctor' explains more",
    details: { where, cause },
  });
}

/** The stream from the daemon at `where` broke off; `details.where` tells it from a CONNECTION_LOST the daemon itself sends. */
function lost(where: string, err?: unknown): NexusError {
  return new NexusError("CONNECTION_LOST", "The daemon closed the stream before the operation finished", {
    suggestion: "See ~/.nexus/daemon.log; the daemon may have stopped",
    details: { where, cause: err === undefined ? "the stream ended without a result" : causeOf(err) },
    ...(err !== undefined ? { cause: err } : {}),
  });
}

function errorFrom(status: number, parsed: unknown, text: string): NexusError {
  const body = (parsed as { error?: ErrorBody } | undefined)?.error;
  if (body?.code) return NexusError.fromBody(body);
  return new NexusError(status === 401 ? "AUTHENTICATION_FAILED" : "INTERNAL_ERROR", `The daemon answered ${status}: ${text.slice(0, 200)}`, {
    suggestion: "See ~/.nexus/daemon.log",
  });
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
