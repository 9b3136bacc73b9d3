import type { ClientChannel } from "ssh2";
import { randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import { NexusError } from "../kernel/errors.ts";
import { ConnectionGroup, DEFAULT_LIMITS, type GroupLimits, type Pooled } from "./connection-group.ts";
import { openConnection, type ConnectLog } from "./connect.ts";
import { pollUntil, retry } from "../kernel/poll.ts";
import { pausedWhileBehind } from "./output-pause.ts";
import { isThenable } from "../kernel/ack.ts";
import { ExecAgents } from "./exec-agent.ts";
import type { PlainCommand } from "./quote.ts";
import { drained } from "../kernel/drained.ts";

/** Tries of a command that sshd refused to start (its process could not be made), before RESOURCE_EXHAUSTED. */
const EXEC_ATTEMPTS = 4;

/** sshd would not start the command (it could not make a process): it did not run, so it may be tried again. */
class ExecRefused extends Error {
  constructor(readonly refused: Error) {
    super(refused.message);
  }
}

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** The workspace's pinned host key (public key line); any other key is refused. */
  hostPublicKey: string;
}

/**
 * What an output callback returns: a promise (any thenable) when its reader is behind; anything else
 * means the chunk was taken. Until every such promise settles the transport reads no more output (the
 * SSH channel is paused, so its window closes and the command blocks in write): the daemon's memory
 * follows the reader's speed, not the command's. Any exec transport honours it the same way.
 */
export type OutputAck = unknown;

export interface ExecStreams {
  onStdout?: (chunk: Buffer) => OutputAck;
  onStderr?: (chunk: Buffer) => OutputAck;
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
  /** A promise from `fn` (its reader is behind) pauses the terminal's output until it settles, as exec's OutputAck. */
  onData(fn: (chunk: Buffer) => OutputAck): void;
  write(data: string | Buffer): void;
  resize(size: PtySize): void;
  close(): void;
  /** Settles when the channel closes: the command's exit, or CONNECTION_LOST. */
  done: Promise<ExecExit>;
}

/**
 * The daemon's SSH connections to workspaces, shared by every exec: each command is a channel on a
 * pooled connection, so an exec costs a channel open (about a round trip), not a handshake. Under a
 * burst, more connections are opened and the rest wait their turn (connection-group.ts).
 */
export class SshPool {
  readonly #privateKey: string;
  readonly #log: ConnectLog | undefined;
  readonly #limits: GroupLimits;
  readonly #groups = new Map<string, ConnectionGroup>();
  /** Every connection that is open now (in use or retired with channels left), with its pool key. */
  readonly #live = new Map<Pooled, string>();

  /** Each workspace's exec agent (exec-agent.ts): users' commands without an SSH session each. */
  readonly agents: ExecAgents;

  /**
   * `execAgent: false`: every command gets its own SSH session (NEXUS_EXEC_AGENT=0). `limits`: other
   * bounds than connection-group.ts's (tests only: not configuration).
   */
  constructor(opts: { privateKey: string; execAgent?: boolean; log?: ConnectLog; limits?: Partial<GroupLimits> }) {
    this.#privateKey = opts.privateKey;
    this.#log = opts.log;
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.agents = new ExecAgents({ exec: (k, t, l, s) => this.exec(k, t, l, s), openSocket: (k, t, p) => this.#openSocket(k, t, p) }, signalNumber, opts.execAgent ?? true);
  }

  /**
   * A user's command: over the workspace's exec agent when it answers (no SSH session per command),
   * else, and for a pseudo-terminal or a forwarded agent, on an SSH session of its own (exec).
   */
  async execCommand(workspaceKey: string, target: SshTarget, commandLine: string, streams: ExecStreams = {}, plain?: PlainCommand): Promise<ExecExit> {
    const viaAgent = await this.agents.exec(workspaceKey, target, commandLine, streams, plain);
    if ("exit" in viaAgent) return viaAgent.exit;
    return this.exec(workspaceKey, target, commandLine, streams);
  }

  /** A stream to a unix socket in the workspace (direct-streamlocal, as `ssh -L port:/path`), on a pooled connection. */
  async #openSocket(key: string, target: SshTarget, path: string): Promise<Duplex> {
    const { group, pooled } = await this.#claimChannel(key, target);
    return new Promise<Duplex>((resolve, reject) => {
      const failed = (err: Error & { reason?: unknown }) => {
        group.release(pooled);
        // sshd answered (nothing listens there, or it is not allowed): the connection itself is fine.
        if (err.reason === undefined) group.retire(pooled);
        reject(err);
      };
      try {
        pooled.client.openssh_forwardOutStreamLocal(path, (err, channel) => {
          if (err) return failed(err);
          channel.once("close", () => group.release(pooled));
          resolve(channel);
        });
      } catch (err) {
        failed(err as Error); // "Not connected": the connection went away under us
      }
    });
  }

  /** Waits until a full SSH handshake with the pinned host key succeeds: the published port accepts TCP before sshd listens. */
  async waitReady(key: string, target: SshTarget, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    let lastError: unknown;
    const ready = await pollUntil(
      () => this.#group(key, target).ready().then(() => true, (err: unknown) => void (lastError = err)),
      // sshd is usually up within a few hundred ms: poll often
      { deadline: Date.now() + timeoutMs, intervalMs: (n) => (n === 1 ? 25 : 50), signal },
    );
    if (ready) return;
    signal?.throwIfAborted();
    const last = lastError instanceof Error ? lastError.message : String(lastError);
    throw new NexusError("WORKSPACE_START_FAILED", `SSH in the workspace did not answer within ${Math.round(timeoutMs / 1000)} s (last error: ${last})`, {
      suggestion: "Check the container's log with 'docker logs' and run 'nexus doctor'",
      details: { lastError: last, port: target.port },
    });
  }

  /** The connections for `key`, made when there are none; new connections go to the newest target. */
  #group(key: string, target: SshTarget, agentSocket?: string): ConnectionGroup {
    const connect = () => openConnection(target, { privateKey: this.#privateKey, agentSocket, log: this.#log });
    let group = this.#groups.get(key);
    if (!group) {
      group = new ConnectionGroup(
        connect,
        {
          opened: (p) => void this.#live.set(p, key),
          closed: (p) => void this.#live.delete(p),
        },
        this.#limits,
      );
      this.#groups.set(key, group);
    } else {
      group.connect = connect;
    }
    return group;
  }

  /** A connection of `key` with one more channel counted on it (the caller opens that channel); waits while all are full. */
  async #claimChannel(key: string, target: SshTarget, agentSocket?: string, signal?: AbortSignal): Promise<{ group: ConnectionGroup; pooled: Pooled }> {
    const group = this.#group(key, target, agentSocket);
    try {
      return { group, pooled: await group.claim(signal) };
    } catch (err) {
      if (err instanceof NexusError || (signal?.aborted && err === signal.reason)) throw err;
      throw connectionLost(`Could not connect to the workspace over SSH: ${(err as Error).message}`, err);
    }
  }

  /** Runs one command line on a channel of a pooled connection; stdout and stderr stream out separately. */
  async exec(workspaceKey: string, target: SshTarget, commandLine: string, streams: ExecStreams = {}): Promise<ExecExit> {
    // A connection forwarding one user's agent is pooled apart from the plain one (one agent socket per login, so few).
    const key = streams.agentSocket ? `${workspaceKey}\u0000agent:${streams.agentSocket}` : workspaceKey;
    // Every command carries a tag in its environment, so an abort can kill it (and what it started) by
    // the tag too: sshd refuses signal requests on a uid-0 login (no privilege separation after auth).
    const tag = randomUUID();
    const line = `export NEXUS_EXEC_ID=${tag}; ${commandLine}`;
    const options = streams.tty ? { pty: { cols: streams.tty.cols, rows: streams.tty.rows, term: streams.tty.term ?? "xterm-256color" } } : {};
    // A command sshd refused (the workspace at its process limit) did not run: it is tried again, a little later each time.
    const { done } = await retry(
      async () => {
        const { group, pooled } = await this.#claimChannel(key, target, streams.agentSocket, streams.signal);
        const started = await new Promise<{ done: Promise<ExecExit> } | { refused: Error }>((resolve, reject) => {
          const opened = (err: Error & { reason?: unknown }) => {
            // sshd refused this command (it could not start a process: the workspace's limits) while the
            // connection still works. ssh2 leaves such a channel half open: the connection is retired and
            // ends once its other commands are done; the command did not run, so it may be tried again.
            const refused = err.message === "Unable to exec" || err.reason === 1 || err.reason === 4;
            group.release(pooled);
            group.retire(pooled);
            if (refused) resolve({ refused: err });
            // A channel that cannot open otherwise means the connection is unusable: the next exec gets a new one.
            else reject(connectionLost(`Could not open an SSH channel: ${err.message}`, err));
          };
          try {
            // Listeners go on synchronously, in #follow: the exit status can arrive in the same packet
            // batch as the channel's confirmation, and ssh2 emits it at once.
            pooled.client.exec(line, options, (err, channel) => {
              if (err) return opened(err);
              resolve({ done: this.#follow(group, pooled, channel, streams, () => void this.exec(workspaceKey, target, killTagged(tag)).catch(() => {})) });
            });
          } catch (err) {
            opened(err as Error); // "Not connected": gone under us
          }
        });
        if ("refused" in started) throw new ExecRefused(started.refused);
        return started;
      },
      { attempts: EXEC_ATTEMPTS, delayMs: (attempt) => 50 * attempt, retryOn: (err) => err instanceof ExecRefused },
    ).catch((err: unknown) => {
      if (!(err instanceof ExecRefused)) throw err;
      throw new NexusError("RESOURCE_EXHAUSTED", `The workspace refused to start the command ${EXEC_ATTEMPTS} times (${err.refused.message}): it may be at its process limit`, {
        suggestion: "Try again when some of its commands have finished, or give it a larger resources preset",
        retryable: true,
      });
    });
    return done;
  }

  #follow(group: ConnectionGroup, pooled: Pooled, channel: ClientChannel, streams: ExecStreams, killByTag: () => void): Promise<ExecExit> {
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
      const output = pausedWhileBehind(channel, streams);
      channel.on("exit", (code: number | null, signalName?: string) => {
        exit = code === null ? { exitCode: 128 + signalNumber(signalName), ...(signalName ? { signal: signalName } : {}) } : { exitCode: code };
      });
      let closed = false;
      void feedStdin(channel, streams.stdin, () => closed);
      channel.on("close", () => {
        closed = true;
        group.release(pooled);
        streams.signal?.removeEventListener("abort", onAbort);
        // The channel closes once stdout has ended; stderr may still hold chunks a paused reader has not taken.
        void output.ended().then(() => settle());
      });
      const settle = () => {
        if (streams.signal?.aborted) {
          // Aborted (timeout, client gone): whatever status the killed command left, the caller asked it to stop.
          reject(streams.signal.reason);
        } else if (exit) {
          resolve(exit);
        } else {
          // No exit status: the connection failed under the command. Never reuse it.
          group.retire(pooled);
          reject(connectionLost("The SSH connection closed before the command finished"));
        }
      };
    });
  }

  /**
   * Runs `commandLine` on a channel with a pseudo-terminal (as `ssh -t`): the interactive form, for
   * a terminal client (tmux attach). Input, window size and close go through the returned handle.
   */
  async openPty(key: string, target: SshTarget, commandLine: string, pty: PtySize): Promise<PtyChannel> {
    const { group, pooled } = await this.#claimChannel(key, target);
    return new Promise<PtyChannel>((resolve, reject) => {
      const opened = (err: Error | undefined, channel: ClientChannel) => {
        if (err) {
          group.release(pooled);
          group.retire(pooled);
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
            group.release(pooled);
            if (exit) res(exit);
            else rej(connectionLost("The SSH connection closed before the terminal ended"));
          });
        });
        done.catch(() => {}); // the caller may never wait on it (it closed the terminal itself)
        // A terminal client (tmux attach) blocked behind the SSH window: tmux holds what it cannot
        // write in its own memory until the terminal takes it (README, Known limitations).
        let behind = 0;
        const resume = () => {
          if (--behind <= 0) channel.resume();
        };
        resolve({
          onData: (fn) =>
            void channel.on("data", (chunk: Buffer) => {
              const ack = fn(chunk);
              if (!isThenable(ack)) return;
              if (behind++ === 0) channel.pause();
              ack.then(resume, resume);
            }),
          write: (data) => void channel.write(data),
          resize: (size) => void channel.setWindow(size.rows, size.cols, 0, 0),
          close: () => {
            // Whatever is still unread flows out unread, so the channel can close.
            behind = 0;
            channel.resume();
            channel.close();
          },
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
    const { group, pooled } = await this.#claimChannel(key, target);
    return new Promise<Duplex>((resolve, reject) => {
      const failed = (err: Error & { reason?: unknown }) => {
        group.release(pooled);
        // The server answered "connect failed" (reason 2): the connection is fine, nothing listens there.
        if (err.reason === 2 || /connection refused|connect failed/i.test(err.message)) {
          reject(new NexusError("INVALID_STATE", `Nothing listens on port ${port} inside the workspace`, {
            suggestion: `Start the server inside the workspace first (any address works for a forward, 127.0.0.1 included)`,
            details: { containerPort: port, cause: err.message },
          }));
          return;
        }
        group.retire(pooled);
        reject(connectionLost(`Could not open a forwarding channel: ${err.message}`, err));
      };
      try {
        pooled.client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (err, channel) => {
          if (err) return failed(err);
          channel.once("close", () => group.release(pooled));
          resolve(channel);
        });
      } catch (err) {
        failed(err as Error); // "Not connected": the connection went away under us
      }
    });
  }

  /** Closes every connection of a workspace (plain and agent-forwarding ones); commands waiting for a channel fail. */
  drop(workspaceKey: string): void {
    this.agents.forget(workspaceKey);
    for (const [key, group] of [...this.#groups]) {
      if (key !== workspaceKey && !key.startsWith(`${workspaceKey}\u0000`)) continue;
      this.#groups.delete(key);
      group.drop(() => connectionLost("The workspace's SSH connections were closed (it stopped) before the command could start"));
    }
  }

  /**
   * Retires every connection of a workspace: new channels get a fresh login (sshd reads the login
   * environment, e.g. secrets, when a connection logs in), channels open now run to their end.
   */
  renew(workspaceKey: string): void {
    this.agents.forget(workspaceKey);
    for (const [key, group] of this.#groups) {
      if (key !== workspaceKey && !key.startsWith(`${workspaceKey}\u0000`)) continue;
      group.renew();
    }
  }

  /** How many SSH connections the daemon itself has open to a workspace (plain and agent-forwarding ones, spares included). */
  openConnections(workspaceKey: string): number {
    let n = 0;
    for (const key of this.#live.values()) if (key === workspaceKey || key.startsWith(`${workspaceKey}\u0000`)) n++;
    return n;
  }

  has(key: string): boolean {
    return (this.#groups.get(key)?.size ?? 0) > 0;
  }

  closeAll(): void {
    for (const key of [...this.#groups.keys()]) this.drop(key.split("\u0000")[0]!);
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
      if (stdin.length > 0 && !channel.write(stdin)) await drained(channel, { closed });
    } else if (stdin) {
      for await (const chunk of stdin) {
        if (closed()) return;
        if (chunk instanceof Uint8Array) {
          if (chunk.length > 0 && !channel.write(chunk)) await drained(channel, { closed });
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

function connectionLost(message: string, cause?: unknown): NexusError {
  return new NexusError("CONNECTION_LOST", message, {
    suggestion: "Check that the workspace is running ('nexus status <workspace>'), then try again",
    ...(cause !== undefined ? { cause } : {}),
  });
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15 };
export function signalNumber(name: string | undefined): number {
  return (name && SIGNALS[name.replace(/^SIG/, "")]) || 0;
}
