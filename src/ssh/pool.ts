import ssh2 from "ssh2";
import type { ClientChannel } from "ssh2";
import { randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import { NexusError } from "../kernel/errors.ts";
import { publicKeyBlob } from "./keys.ts";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** The workspace's pinned host key (public key line); any other key is refused. */
  hostPublicKey: string;
}

export interface ExecStreams {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  /** The user's ssh-agent socket: the command sees it through agent forwarding. */
  agentSocket?: string;
  /**
   * The command's standard input: these bytes (or chunks as they come, and terminal sizes when it
   * has a pseudo-terminal), then end of file. Without it, stdin is closed at once, so a command that
   * reads it (`cat`) ends instead of waiting for input nobody will send.
   */
  stdin?: Uint8Array | AsyncIterable<StdinChunk>;
  /** A pseudo-terminal for the command (interactive programs); its output then all comes as stdout. */
  tty?: TerminalSize & { term?: string };
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** Bytes for stdin, or a new size of the command's pseudo-terminal. */
export type StdinChunk = Uint8Array | { resize: TerminalSize };

export interface ExecExit {
  exitCode: number;
  signal?: string;
}

export interface PtySize {
  cols: number;
  rows: number;
  /** TERM on the remote side (default xterm-256color). */
  term?: string;
}

/** A command running on a pseudo-terminal channel. */
export interface PtyChannel {
  onData(fn: (chunk: Buffer) => void): void;
  write(data: string | Buffer): void;
  resize(size: PtySize): void;
  close(): void;
  /** Settles when the channel closes: the command's exit, or CONNECTION_LOST. */
  done: Promise<ExecExit>;
}

type Client = InstanceType<typeof ssh2.Client>;

/** A pooled connection and the channels open on it. A retired one takes no new channels and ends when its last channel closes. */
interface Pooled {
  client: Client;
  channels: number;
  retired: boolean;
}

/**
 * One SSH connection per workspace, shared by every exec: each command is a channel on it, so an
 * exec costs a channel open (about a round trip), not a handshake.
 */
export class SshPool {
  readonly #privateKey: string;
  readonly #connections = new Map<string, Promise<Pooled>>();
  /** Every connection that is open now (pooled or retired with channels left), with its pool key. */
  readonly #live = new Map<Pooled, string>();

  constructor(opts: { privateKey: string }) {
    this.#privateKey = opts.privateKey;
  }

  /** Waits until a full SSH handshake with the pinned host key succeeds: the published port accepts TCP before sshd listens. */
  async waitReady(key: string, target: SshTarget, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    let delay = 25;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      try {
        await this.#connection(key, target);
        return;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 50); // sshd is usually up within a few hundred ms: poll often
      }
    }
    const last = lastError instanceof Error ? lastError.message : String(lastError);
    throw new NexusError("WORKSPACE_START_FAILED", `SSH in the workspace did not answer within ${Math.round(timeoutMs / 1000)} s (last error: ${last})`, {
      suggestion: "Check the container's log with 'docker logs' and run 'nexus doctor'",
      details: { lastError: last, port: target.port },
    });
  }

  /** The pooled connection for `key`, opened when there is none. */
  #connection(key: string, target: SshTarget, agentSocket?: string): Promise<Pooled> {
    const existing = this.#connections.get(key);
    if (existing) return existing;
    const pending: Promise<Pooled> = this.#open(target, agentSocket).then(
      (client) => {
        const pooled: Pooled = { client, channels: 0, retired: false };
        this.#live.set(pooled, key);
        const forget = () => {
          pooled.retired = true;
          this.#live.delete(pooled);
          if (this.#connections.get(key) === pending) this.#connections.delete(key);
        };
        client.on("close", forget);
        client.on("end", forget);
        return pooled;
      },
      (err: unknown) => {
        if (this.#connections.get(key) === pending) this.#connections.delete(key);
        throw err;
      },
    );
    this.#connections.set(key, pending);
    return pending;
  }

  #open(target: SshTarget, agentSocket?: string): Promise<Client> {
    const expected = publicKeyBlob(target.hostPublicKey);
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let settled = false;
      client.once("ready", () => {
        settled = true;
        resolve(client);
      });
      client.on("error", (err: Error) => {
        if (!settled) {
          settled = true;
          client.end();
          reject(err);
        }
      });
      client.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: this.#privateKey,
        hostVerifier: (key: Buffer) => Buffer.compare(key, expected) === 0,
        readyTimeout: 10_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
        // With an agent, every channel of this connection requests agent forwarding.
        ...(agentSocket ? { agent: agentSocket, agentForward: true } : {}),
      });
    });
  }

  /** Takes a connection out of the pool: new execs get a fresh one; it ends once its last channel closes. */
  #retire(key: string, pooled: Pooled, pending: Promise<Pooled>): void {
    pooled.retired = true;
    if (this.#connections.get(key) === pending) this.#connections.delete(key);
    if (pooled.channels === 0) pooled.client.end();
  }

  /** The pooled connection for `key` with one more channel counted on it (the caller opens that channel). */
  async #claimChannel(key: string, target: SshTarget, agentSocket?: string): Promise<{ pending: Promise<Pooled>; pooled: Pooled }> {
    const pending = this.#connection(key, target, agentSocket);
    let pooled: Pooled;
    try {
      pooled = await pending;
    } catch (err) {
      throw connectionLost(`Could not connect to the workspace over SSH: ${(err as Error).message}`, err);
    }
    pooled.channels++;
    return { pending, pooled };
  }

  /** Runs one command line on a channel of the pooled connection; stdout and stderr stream out separately. */
  async exec(workspaceKey: string, target: SshTarget, commandLine: string, streams: ExecStreams = {}): Promise<ExecExit> {
    // A connection forwarding one user's agent is pooled apart from the plain one (one agent socket per login, so few).
    const key = streams.agentSocket ? `${workspaceKey}\u0000agent:${streams.agentSocket}` : workspaceKey;
    const { pending, pooled } = await this.#claimChannel(key, target, streams.agentSocket);
    // Every command carries a tag in its environment, so an abort can kill it (and what it started) by
    // the tag too: sshd refuses signal requests on a uid-0 login (no privilege separation after auth).
    const tag = randomUUID();
    commandLine = `export NEXUS_EXEC_ID=${tag}; ${commandLine}`;
    const options = streams.tty ? { pty: { cols: streams.tty.cols, rows: streams.tty.rows, term: streams.tty.term ?? "xterm-256color" } } : {};
    return new Promise<ExecExit>((resolve, reject) => {
      pooled.client.exec(commandLine, options, (err, channel) => {
        if (err) {
          pooled.channels--;
          // A channel that cannot open means the connection is unusable: the next exec gets a new one.
          this.#retire(key, pooled, pending);
          reject(connectionLost(`Could not open an SSH channel: ${err.message}`, err));
          return;
        }
        // Listeners go on synchronously, here: the exit status can arrive in the same packet batch
        // as the channel's confirmation, and ssh2 emits it at once.
        this.#follow(key, pooled, pending, channel, streams, () => void this.exec(workspaceKey, target, killTagged(tag)).catch(() => {})).then(resolve, reject);
      });
    });
  }

  #follow(key: string, pooled: Pooled, pending: Promise<Pooled>, channel: ClientChannel, streams: ExecStreams, killByTag: () => void): Promise<ExecExit> {
    return new Promise<ExecExit>((resolve, reject) => {
      let exit: ExecExit | undefined;
      const onAbort = () => {
        killChannel(channel);
        if (!exit) killByTag();
        channel.close();
      };
      // Aborted while the channel was opening: stop the command now.
      if (streams.signal?.aborted) queueMicrotask(onAbort);
      else streams.signal?.addEventListener("abort", onAbort, { once: true });
      channel.on("data", (chunk: Buffer) => streams.onStdout?.(chunk));
      channel.stderr.on("data", (chunk: Buffer) => streams.onStderr?.(chunk));
      channel.on("exit", (code: number | null, signalName?: string) => {
        exit = code === null ? { exitCode: 128 + signalNumber(signalName), ...(signalName ? { signal: signalName } : {}) } : { exitCode: code };
      });
      let closed = false;
      void feedStdin(channel, streams.stdin, () => closed);
      channel.on("close", () => {
        closed = true;
        pooled.channels--;
        streams.signal?.removeEventListener("abort", onAbort);
        if (streams.signal?.aborted) {
          // Aborted (timeout, client gone): whatever status the killed command left, the caller asked it to stop.
          if (pooled.retired && pooled.channels === 0) pooled.client.end();
          reject(streams.signal.reason);
        } else if (exit) {
          if (pooled.retired && pooled.channels === 0) pooled.client.end();
          resolve(exit);
        } else {
          // No exit status: the connection failed under the command. Never reuse it.
          this.#retire(key, pooled, pending);
          reject(connectionLost("The SSH connection closed before the command finished"));
        }
      });
    });
  }

  /**
   * Runs `commandLine` on a channel with a pseudo-terminal (as `ssh -t`): the interactive form, for
   * a terminal client (tmux attach). Input, window size and close go through the returned handle.
   */
  async openPty(key: string, target: SshTarget, commandLine: string, pty: PtySize): Promise<PtyChannel> {
    const { pending, pooled } = await this.#claimChannel(key, target);
    return new Promise<PtyChannel>((resolve, reject) => {
      const opened = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          pooled.channels--;
          this.#retire(key, pooled, pending);
          reject(connectionLost(`Could not open an SSH channel: ${err.message}`, err));
          return;
        }
        // The status may arrive with the confirmation: listeners go on before anything awaits.
        let exit: ExecExit | undefined;
        channel.on("exit", (code: number | null, signalName?: string) => {
          exit = code === null ? { exitCode: 128 + signalNumber(signalName), ...(signalName ? { signal: signalName } : {}) } : { exitCode: code };
        });
        const done = new Promise<ExecExit>((res, rej) => {
          channel.on("close", () => {
            pooled.channels--;
            if (pooled.retired && pooled.channels === 0) pooled.client.end();
            if (exit) res(exit);
            else rej(connectionLost("The SSH connection closed before the terminal ended"));
          });
        });
        done.catch(() => {}); // the caller may never wait on it (it closed the terminal itself)
        resolve({
          onData: (fn) => void channel.on("data", fn),
          write: (data) => void channel.write(data),
          resize: (size) => void channel.setWindow(size.rows, size.cols, 0, 0),
          close: () => void channel.close(),
          done,
        });
      };
      try {
        pooled.client.exec(commandLine, { pty: { rows: pty.rows, cols: pty.cols, term: pty.term ?? "xterm-256color" } }, opened);
      } catch (err) {
        opened(err as Error, undefined as unknown as ClientChannel);
      }
    });
  }

  /**
   * A TCP connection to 127.0.0.1:<port> inside the workspace (as `ssh -L` does), on a channel of the
   * pooled connection: no listener in the container, and loopback-bound servers are reachable.
   */
  async forwardOut(key: string, target: SshTarget, port: number): Promise<Duplex> {
    const { pending, pooled } = await this.#claimChannel(key, target);
    return new Promise<Duplex>((resolve, reject) => {
      const failed = (err: Error & { reason?: unknown }) => {
        pooled.channels--;
        // The server answered "connect failed" (reason 2): the connection is fine, nothing listens there.
        if (err.reason === 2 || /connection refused|connect failed/i.test(err.message)) {
          if (pooled.retired && pooled.channels === 0) pooled.client.end();
          reject(new NexusError("INVALID_STATE", `Nothing listens on port ${port} inside the workspace`, {
            suggestion: `Start the server inside the workspace first (any address works for a forward, 127.0.0.1 included)`,
            details: { containerPort: port, cause: err.message },
          }));
          return;
        }
        this.#retire(key, pooled, pending);
        reject(connectionLost(`Could not open a forwarding channel: ${err.message}`, err));
      };
      try {
        pooled.client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (err, channel) => {
          if (err) return failed(err);
          channel.once("close", () => {
            pooled.channels--;
            if (pooled.retired && pooled.channels === 0) pooled.client.end();
          });
          resolve(channel);
        });
      } catch (err) {
        failed(err as Error); // "Not connected": the connection went away under us
      }
    });
  }

  /** Closes every connection of a workspace (plain and agent-forwarding ones). */
  drop(workspaceKey: string): void {
    for (const [key, pending] of [...this.#connections]) {
      if (key !== workspaceKey && !key.startsWith(`${workspaceKey}\u0000`)) continue;
      this.#connections.delete(key);
      pending.then((p) => {
        p.retired = true;
        p.client.end();
      }, () => {});
    }
  }

  /** How many SSH connections the daemon itself has open to a workspace (the plain one and agent-forwarding ones). */
  openConnections(workspaceKey: string): number {
    let n = 0;
    for (const key of this.#live.values()) if (key === workspaceKey || key.startsWith(`${workspaceKey}\u0000`)) n++;
    return n;
  }

  has(key: string): boolean {
    return this.#connections.has(key);
  }

  closeAll(): void {
    for (const key of [...this.#connections.keys()]) this.drop(key.split("\u0000")[0]!);
  }
}

/** A shell line that kills every process whose environment holds NEXUS_EXEC_ID=<tag>. */
function killTagged(tag: string): string {
  return `for p in /proc/[0-9]*; do if grep -qsxz 'NEXUS_EXEC_ID=${tag}' "$p/environ"; then kill -KILL "\${p#/proc/}" 2>/dev/null; fi; done; true`;
}

/**
 * Sends SIGKILL to the command's process group. ssh2's `signal()` sends nothing once our side has
 * sent end of file (stdin is closed), yet the channel is open and sshd still takes the request.
 */
function killChannel(channel: ClientChannel): void {
  const ch = channel as unknown as { outgoing: { id: number; state: string }; _client: { _protocol: { signal(id: number, name: string): void } } };
  if (ch.outgoing?.state !== "open") return;
  try {
    ch._client._protocol.signal(ch.outgoing.id, "KILL");
  } catch {
    // the connection is gone, and the command with it
  }
}

/** Writes stdin to the channel (waiting when its window is full), then end of file. */
async function feedStdin(channel: ClientChannel, stdin: ExecStreams["stdin"], closed: () => boolean): Promise<void> {
  try {
    if (stdin instanceof Uint8Array) {
      if (stdin.length > 0 && !channel.write(stdin)) await drained(channel, closed);
    } else if (stdin) {
      for await (const chunk of stdin) {
        if (closed()) return;
        if (chunk instanceof Uint8Array) {
          if (chunk.length > 0 && !channel.write(chunk)) await drained(channel, closed);
        } else {
          channel.setWindow(chunk.resize.rows, chunk.resize.cols, 0, 0);
        }
      }
    }
  } catch {
    // The caller's input failed (its client went away): the command sees end of file.
  }
  if (!closed()) channel.end();
}

function drained(channel: ClientChannel, closed: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (closed()) return resolve();
    const done = () => {
      channel.off("drain", done);
      channel.off("close", done);
      resolve();
    };
    channel.on("drain", done);
    channel.on("close", done);
  });
}

function connectionLost(message: string, cause?: unknown): NexusError {
  return new NexusError("CONNECTION_LOST", message, {
    suggestion: "Check that the workspace is running ('nexus status <workspace>'), then try again",
    ...(cause !== undefined ? { cause } : {}),
  });
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15 };
function signalNumber(name: string | undefined): number {
  return (name && SIGNALS[name.replace(/^SIG/, "")]) || 0;
}
