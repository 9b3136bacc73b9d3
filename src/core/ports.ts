import { createServer } from "node:net";
import { NexusError } from "./errors.ts";

export interface PortRange {
  start: number;
  end: number;
}

/**
 * Hands out host ports from the configured range. A port is free when no workspace record holds it,
 * no allocation in flight holds it, no container of the engine publishes it (a stopped one
 * included: it binds its ports again at start, so another daemon's stopped workspace, on a machine
 * shared by several NEXUS_HOMEs, would fail to start), and binding it on 127.0.0.1 succeeds right
 * now. Allocations are serialised, so concurrent creates never receive the same port.
 */
export class PortAllocator {
  readonly #range: PortRange;
  readonly #recorded: () => Iterable<number>;
  readonly #held: () => Promise<Iterable<number>>;
  readonly #reserved = new Set<number>();
  #queue: Promise<unknown> = Promise.resolve();
  #next: number;

  /** `held`: host ports the engine's containers publish, running or not (none when the engine does not answer). */
  constructor(range: PortRange, recorded: () => Iterable<number>, held: () => Promise<Iterable<number>> = async () => []) {
    this.#range = range;
    this.#recorded = recorded;
    this.#held = held;
    this.#next = range.start;
  }

  allocate(count: number): Promise<number[]> {
    const run = this.#queue.then(() => this.#allocate(count));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Gives ports back (after destroy, or a create that failed). */
  release(ports: Iterable<number>): void {
    for (const p of ports) this.#reserved.delete(p);
  }

  /** Marks ports as taken (ports of records loaded at start). */
  claim(ports: Iterable<number>): void {
    for (const p of ports) this.#reserved.add(p);
  }

  async #allocate(count: number): Promise<number[]> {
    // An engine that does not answer fails the create on its own, with its own error.
    const held = await this.#held().catch(() => []);
    const taken = new Set<number>([...this.#recorded(), ...this.#reserved, ...held]);
    const size = this.#range.end - this.#range.start + 1;
    const got: number[] = [];
    // Round-robin from the last port handed out, so a just-released port is not reused at once.
    for (let i = 0; i < size && got.length < count; i++) {
      const port = this.#range.start + ((this.#next - this.#range.start + i) % size);
      if (taken.has(port)) continue;
      if (!(await canBind(port))) continue;
      got.push(port);
      taken.add(port);
    }
    if (got.length < count) {
      throw new NexusError("RESOURCE_EXHAUSTED", `No free port left in ${this.#range.start}-${this.#range.end}`, {
        suggestion: "Destroy unused workspaces or widen ssh.port_range in ~/.nexus/config.yaml",
        details: { range: this.#range },
      });
    }
    for (const p of got) this.#reserved.add(p);
    this.#next = got[got.length - 1]! + 1;
    return got;
  }
}

export function canBind(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
