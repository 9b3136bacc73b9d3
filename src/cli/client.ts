import { NexusError, type ErrorBody } from "../core/errors.ts";
import { currentRuntime } from "../runtime/index.ts";

export interface ClientTarget {
  /** Unix socket of a local daemon. */
  socketPath?: string;
  /** Base URL of a daemon reached over TCP (-u/--url). */
  url?: string;
  token?: string;
  /** The daemon build (version+commit) this client expects; another build answers VERSION_MISMATCH. */
  expectVersion?: string;
  /**
   * Called once when a request fails before the daemon did anything (unreachable, other version):
   * returns true when it fixed that (started or replaced the daemon), and the request is sent again.
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
    return this.#recovering(async () => {
      const signal = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
      const res = await this.#send(method, path, body, "application/json", signal);
      const text = await res.text();
      const parsed = text ? safeParse(text) : undefined;
      if (res.status >= 400) throw errorFrom(res.status, parsed, text);
      return parsed as T;
    });
  }

  async #recovering<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      // Only when the request surely never reached a daemon (no socket, refused) or was turned away
      // before any work (other version): a connection dropped after sending might have done the work.
      const recoverable = err instanceof NexusError && (err.code === "VERSION_MISMATCH" || (err.code === "DAEMON_UNREACHABLE" && neverSent(err)));
      if (!recoverable || !this.target.recover || !(await this.target.recover(err))) throw err;
      return send();
    }
  }

  /** A streamed request (NDJSON): each event goes to `onEvent`; resolves with the final result event. */
  async stream(method: string, path: string, body: unknown, onEvent: (e: StreamEvent) => void, signal?: AbortSignal): Promise<StreamEvent> {
    const res = await this.#recovering(async () => {
      const r = await this.#send(method, path, body, "application/x-ndjson", signal);
      if (r.status >= 400 || !r.body) {
        const text = await r.text();
        throw errorFrom(r.status, safeParse(text), text);
      }
      return r;
    });
    const decoder = new TextDecoder();
    let buffered = "";
    let final: StreamEvent | undefined;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const event = line.trim() ? (safeParse(line) as StreamEvent | undefined) : undefined;
          if (!event) continue;
          if (event.type === "result") final = event;
          else if (event.type === "error") throw NexusError.fromBody(event.error as ErrorBody);
          else onEvent(event);
        }
      }
    } catch (err) {
      if (err instanceof NexusError || signal?.aborted) throw err;
      throw lost(err);
    }
    if (!final) throw lost();
    return final;
  }

  async #send(method: string, path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    if (this.target.expectVersion) headers["x-nexus-expect-version"] = this.target.expectVersion;
    const init: RequestInit = { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal ? { signal } : {}) };
    try {
      if (this.target.url) return await fetch(new URL(path, this.target.url), init);
      const runtime = await currentRuntime();
      return await runtime.fetchUnix(this.target.socketPath!, `http://nexus${path}`, init);
    } catch (err) {
      if (signal?.aborted && (signal.reason as Error)?.name !== "TimeoutError") throw signal.reason;
      throw unreachable(this.where, err);
    }
  }
}

function neverSent(err: NexusError): boolean {
  return /ENOENT|ECONNREFUSED|No such file|Connection refused/i.test(String(err.details?.cause ?? ""));
}

function unreachable(where: string, err: unknown): NexusError {
  const cause = (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err);
  return new NexusError("DAEMON_UNREACHABLE", `The Nexus daemon at ${where} is not answering (${cause})`, {
    suggestion: "Start it with 'nexus daemon start' (commands start it by themselves), or check --url; 'nexus doctor' explains more",
    details: { where, cause },
  });
}

function lost(err?: unknown): NexusError {
  return new NexusError("CONNECTION_LOST", "The daemon closed the stream before the operation finished", {
    suggestion: "See ~/.nexus/daemon.log; the daemon may have stopped",
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
