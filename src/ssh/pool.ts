import ssh2 from "ssh2";
import type { ClientChannel } from "ssh2";
import { NexusError } from "../core/errors.ts";
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
}

export interface ExecExit {
  exitCode: number;
  signal?: string;
}

type Client = InstanceType<typeof ssh2.Client>;

/**
 * One SSH connection per workspace, shared by every exec: each command is a channel on it, so an
 * exec costs a channel open (about a round trip), not a handshake.
 */
export class SshPool {
  readonly #privateKey: string;
  readonly #connections = new Map<string, Promise<Client>>();

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
        await this.connection(key, target);
        return;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 250);
      }
    }
    throw new NexusError("WORKSPACE_START_FAILED", `SSH in the workspace did not answer within ${Math.round(timeoutMs / 1000)} s`, {
      suggestion: "Check the container's log with 'docker logs' and run 'nexus doctor'",
      details: { lastError: lastError instanceof Error ? lastError.message : String(lastError) },
    });
  }

  /** The pooled connection for `key`, opened when there is none. */
  connection(key: string, target: SshTarget): Promise<Client> {
    const existing = this.#connections.get(key);
    if (existing) return existing;
    const pending = this.#open(target).then(
      (client) => {
        const forget = () => {
          if (this.#connections.get(key) === pending) this.#connections.delete(key);
        };
        client.on("close", forget);
        client.on("end", forget);
        return client;
      },
      (err: unknown) => {
        this.#connections.delete(key);
        throw err;
      },
    );
    this.#connections.set(key, pending);
    return pending;
  }

  #open(target: SshTarget): Promise<Client> {
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
      });
    });
  }

  /** Runs one command line on a channel of the pooled connection; stdout and stderr stream out separately. */
  async exec(key: string, target: SshTarget, commandLine: string, streams: ExecStreams = {}): Promise<ExecExit> {
    let client: Client;
    try {
      client = await this.connection(key, target);
    } catch (err) {
      throw connectionLost(`Could not connect to the workspace over SSH: ${(err as Error).message}`, err);
    }
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(commandLine, (err, stream) => (err ? reject(err) : resolve(stream)));
    }).catch((err: unknown) => {
      // A channel that cannot open on a live connection means the connection is unusable: drop it.
      this.drop(key);
      throw connectionLost(`Could not open an SSH channel: ${(err as Error).message}`, err);
    });
    return new Promise<ExecExit>((resolve, reject) => {
      let exit: ExecExit | undefined;
      const onAbort = () => {
        channel.signal("KILL");
        channel.close();
      };
      streams.signal?.addEventListener("abort", onAbort, { once: true });
      channel.on("data", (chunk: Buffer) => streams.onStdout?.(chunk));
      channel.stderr.on("data", (chunk: Buffer) => streams.onStderr?.(chunk));
      channel.on("exit", (code: number | null, signalName?: string) => {
        exit = code === null ? { exitCode: 128 + signalNumber(signalName), ...(signalName ? { signal: signalName } : {}) } : { exitCode: code };
      });
      channel.on("close", () => {
        streams.signal?.removeEventListener("abort", onAbort);
        if (exit) resolve(exit);
        else if (streams.signal?.aborted) reject(streams.signal.reason);
        else reject(connectionLost("The SSH connection closed before the command finished"));
      });
    });
  }

  drop(key: string): void {
    const pending = this.#connections.get(key);
    this.#connections.delete(key);
    pending?.then((c) => c.end(), () => {});
  }

  has(key: string): boolean {
    return this.#connections.has(key);
  }

  closeAll(): void {
    for (const key of [...this.#connections.keys()]) this.drop(key);
  }
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
