// The SSH connections the daemon keeps to one workspace, and the channels on them. A burst of execs
// (a thousand at once) must neither pile a thousand channels on one connection (sshd then refuses to
// start commands, and each refusal used to end as CONNECTION_LOST) nor open a thousand handshakes
// (sshd's MaxStartups drops them): channels are bounded per connection, more connections are opened
// one at a time up to a bound, and the rest wait their turn in order. Only a full queue is an error,
// RESOURCE_EXHAUSTED (retryable).
import type ssh2 from "ssh2";
import { NexusError } from "../kernel/errors.ts";

export type Client = InstanceType<typeof ssh2.Client>;

/** A pooled connection and the channels open on it. A retired one takes no new channels and ends when its last channel closes. */
export interface Pooled {
  client: Client;
  channels: number;
  retired: boolean;
}

export interface GroupLimits {
  /** Channels at once on one connection: sshd starts each command in a process of its own, per connection. */
  channelsPerConnection: number;
  /** Connections at once to one workspace (per agent socket): each is an sshd process in the container. */
  connections: number;
  /** Channel requests that may wait for a free slot; past it a request is refused (RESOURCE_EXHAUSTED). */
  waiting: number;
  /** An extra connection (not the first) left without channels this long is closed. */
  spareIdleMs: number;
}

// 4 x 32 = 128 commands at once per workspace: far past what a workspace runs in parallel in practice,
// and well inside the smallest preset's pids limit (1024) with a process or two per command.
export const DEFAULT_LIMITS: GroupLimits = { channelsPerConnection: 32, connections: 4, waiting: 10_000, spareIdleMs: 30_000 };

interface Waiter {
  resolve(p: Pooled): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class ConnectionGroup {
  /** Opens one more connection to the workspace (the newest target the pool was given). */
  connect: () => Promise<Client>;
  readonly #hooks: { opened(p: Pooled): void; closed(p: Pooled): void };
  readonly #limits: GroupLimits;
  /** Connections taking new channels. */
  readonly #open: Pooled[] = [];
  #opening: Promise<Pooled> | undefined;
  readonly #waiting: Waiter[] = [];
  #dropped = false;

  constructor(connect: () => Promise<Client>, hooks: { opened(p: Pooled): void; closed(p: Pooled): void }, limits: GroupLimits = DEFAULT_LIMITS) {
    this.connect = connect;
    this.#hooks = hooks;
    this.#limits = limits;
  }

  /** How many connections take new channels now. */
  get size(): number {
    return this.#open.length;
  }

  /** Settles when at least one connection is open (opening one when there is none). */
  ready(): Promise<Pooled> {
    const first = this.#open[0];
    return first ? Promise.resolve(first) : this.#openOne();
  }

  /** A connection with one more channel counted on it (the caller opens that channel, then calls release). */
  claim(signal?: AbortSignal): Promise<Pooled> {
    signal?.throwIfAborted();
    const free = this.#free();
    if (free && this.#waiting.length === 0) {
      free.channels++;
      return Promise.resolve(free);
    }
    if (this.#waiting.length >= this.#limits.waiting) {
      const most = this.#limits.connections * this.#limits.channelsPerConnection;
      return Promise.reject(new NexusError("RESOURCE_EXHAUSTED", `The workspace runs ${most} commands at once and ${this.#waiting.length} more are waiting`, {
        suggestion: "Try again when some commands have finished",
        retryable: true,
        details: { running: most, waiting: this.#waiting.length },
      }));
    }
    return new Promise<Pooled>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.#waiting.indexOf(w);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#waiting.push(w);
      this.#pump();
    });
  }

  /** A channel counted by claim has closed (or never opened). */
  release(p: Pooled): void {
    p.channels--;
    if (p.retired) {
      if (p.channels === 0) p.client.end();
    } else if (p.channels === 0 && p !== this.#open[0]) {
      // A spare connection opened for a burst: closed when it stays unused.
      setTimeout(() => {
        if (p.channels === 0 && !p.retired && p !== this.#open[0] && this.#waiting.length === 0) this.retire(p);
      }, this.#limits.spareIdleMs).unref?.();
    }
    this.#pump();
  }

  /** Takes a connection out of use: new channels go elsewhere; it ends once its last channel closes. */
  retire(p: Pooled): void {
    if (!p.retired) {
      p.retired = true;
      const i = this.#open.indexOf(p);
      if (i >= 0) this.#open.splice(i, 1);
    }
    if (p.channels === 0) p.client.end();
    this.#pump();
  }

  /** Retires every open connection: new channels get a fresh login; channels open now run to their end. */
  renew(): void {
    for (const p of [...this.#open]) this.retire(p);
  }

  /** Closes every connection now; waiting requests fail with `reason`. */
  drop(reason: () => Error): void {
    this.#dropped = true;
    for (const p of this.#open.splice(0)) {
      p.retired = true;
      p.client.end();
    }
    // A connection still opening is ended as it comes (#openOne sees #dropped).
    for (const w of this.#waiting.splice(0)) this.#settle(w).reject(reason());
  }

  /** The first open connection with room for one more channel. */
  #free(): Pooled | undefined {
    return this.#open.find((p) => p.channels < this.#limits.channelsPerConnection);
  }

  #settle(w: Waiter): Waiter {
    if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
    return w;
  }

  /** Hands free slots to waiting requests in order; opens another connection when all are taken. */
  #pump(): void {
    while (this.#waiting.length > 0) {
      const free = this.#free();
      if (!free) {
        if (!this.#opening && this.#open.length < this.#limits.connections && !this.#dropped) void this.#openOne().catch(() => {});
        return;
      }
      free.channels++;
      this.#settle(this.#waiting.shift()!).resolve(free);
    }
  }

  #openOne(): Promise<Pooled> {
    if (this.#opening) return this.#opening;
    const opening = this.connect()
      .then((client) => {
        const pooled: Pooled = { client, channels: 0, retired: false };
        if (this.#dropped) {
          pooled.retired = true;
          client.end();
          return pooled;
        }
        this.#open.push(pooled);
        let gone = false;
        const forget = () => {
          if (gone) return;
          gone = true;
          pooled.retired = true;
          const i = this.#open.indexOf(pooled);
          if (i >= 0) this.#open.splice(i, 1);
          this.#hooks.closed(pooled);
          this.#pump();
        };
        client.on("close", forget);
        client.on("end", forget);
        this.#hooks.opened(pooled);
        return pooled;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    this.#opening = opening;
    opening.then(
      () => this.#pump(),
      (err: unknown) => {
        // No connection at all: the waiting requests cannot be served. With some open, they wait for those.
        if (this.#open.length === 0) for (const w of this.#waiting.splice(0)) this.#settle(w).reject(err);
      },
    );
    return opening;
  }
}
